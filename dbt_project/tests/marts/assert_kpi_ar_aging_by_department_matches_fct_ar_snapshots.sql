-- kpi_ar_aging, per month end x hospital x payer x department x aging bucket, holds the open
-- claims and open balance of fct_ar_snapshots summed straight from the fact (not through
-- int_ar_month_end_balances), by the snapshot's own department: the figures the A/R aging tab
-- shows for a department are that department's. Returns the rows that differ.
with

aging as (
    select
        month_end_date,
        source_system,
        payer_name,
        department_key,
        aging_bucket,
        claims,
        open_balance_amount
    from {{ ref('kpi_ar_aging') }}
),

snapshots as (
    select
        month_end_date,
        source_system,
        coalesce(payer_name, 'Unknown') as payer_name,
        department_key,
        aging_bucket,
        count(*) as claims,
        sum(open_balance_amount) as open_balance_amount
    from {{ ref('fct_ar_snapshots') }}
    group by
        month_end_date,
        source_system,
        coalesce(payer_name, 'Unknown'),
        department_key,
        aging_bucket
),

compared as (
    select
        coalesce(aging.month_end_date, snapshots.month_end_date) as month_end_date,
        coalesce(aging.source_system, snapshots.source_system) as source_system,
        coalesce(aging.payer_name, snapshots.payer_name) as payer_name,
        coalesce(aging.department_key, snapshots.department_key) as department_key,
        coalesce(aging.aging_bucket, snapshots.aging_bucket) as aging_bucket,
        coalesce(aging.claims, 0) as mart_claims,
        coalesce(snapshots.claims, 0) as fact_claims,
        coalesce(aging.open_balance_amount, 0) as mart_open_balance_amount,
        coalesce(snapshots.open_balance_amount, 0) as fact_open_balance_amount
    from aging
    full outer join snapshots
        on
            aging.month_end_date = snapshots.month_end_date
            and aging.source_system = snapshots.source_system
            and aging.payer_name = snapshots.payer_name
            and aging.department_key = snapshots.department_key
            and aging.aging_bucket = snapshots.aging_bucket
)

select *
from compared
where
    mart_claims <> fact_claims
    or abs(mart_open_balance_amount - fact_open_balance_amount) >= 0.01
