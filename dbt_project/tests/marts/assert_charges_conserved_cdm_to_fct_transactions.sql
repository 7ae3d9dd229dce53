-- Charges are conserved from the CDM to the fact: fct_transactions holds exactly the clean
-- transaction lines, with the same total charge and paid amounts. Returns a row on mismatch.
with

cdm as (
    select
        count(*) as line_count,
        sum(charge_amount) as total_charge_amount,
        sum(paid_amount) as total_paid_amount
    from {{ ref('int_transactions_conformed') }}
),

fact as (
    select
        count(*) as line_count,
        sum(charge_amount) as total_charge_amount,
        sum(paid_amount) as total_paid_amount
    from {{ ref('fct_transactions') }}
),

compared as (
    select
        cdm.line_count as cdm_line_count,
        fact.line_count as fact_line_count,
        cdm.total_charge_amount as cdm_charge_amount,
        fact.total_charge_amount as fact_charge_amount,
        cdm.total_paid_amount as cdm_paid_amount,
        fact.total_paid_amount as fact_paid_amount
    from cdm
    cross join fact
)

select
    cdm_line_count,
    fact_line_count,
    cdm_charge_amount,
    fact_charge_amount,
    cdm_paid_amount,
    fact_paid_amount
from compared
where
    cdm_line_count <> fact_line_count
    or coalesce(cdm_charge_amount, 0) <> coalesce(fact_charge_amount, 0)
    or coalesce(cdm_paid_amount, 0) <> coalesce(fact_paid_amount, 0)
