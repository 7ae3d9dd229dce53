-- The monthly report adds up to the all-years report, and both to fct_transactions.
with

fact as (
    select sum(charge_amount) as total_charge_amount from {{ ref('fct_transactions') }}
),

all_years as (
    select sum(total_charge_amount) as total_charge_amount
    from {{ ref('rpt_charges_by_provider_department') }}
),

monthly as (
    select sum(total_charge_amount) as total_charge_amount
    from {{ ref('rpt_charges_by_provider_department_month') }}
)

select
    fact.total_charge_amount as fact_charge_amount,
    all_years.total_charge_amount as all_years_charge_amount,
    monthly.total_charge_amount as monthly_charge_amount
from fact
cross join all_years
cross join monthly
where
    coalesce(fact.total_charge_amount, 0) <> coalesce(all_years.total_charge_amount, 0)
    or coalesce(fact.total_charge_amount, 0) <> coalesce(monthly.total_charge_amount, 0)
