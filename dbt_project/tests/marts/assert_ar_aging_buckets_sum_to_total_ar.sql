-- The aging buckets of kpi_ar_aging sum, per month end, hospital and department, to the total
-- A/R of fct_ar_snapshots and to the A/R of kpi_monthly (to the cent): the aging tab filtered
-- to a department agrees with the tiles filtered to it. Returns the months that differ.
with

aging as (
    select
        month_end_date,
        source_system,
        department_key,
        sum(open_balance_amount) as bucket_total,
        sum(claims) as bucket_claims
    from {{ ref('kpi_ar_aging') }}
    group by month_end_date, source_system, department_key
),

snapshots as (
    select
        month_end_date,
        source_system,
        department_key,
        sum(open_balance_amount) as ar_total,
        count(*) as ar_claims
    from {{ ref('fct_ar_snapshots') }}
    group by month_end_date, source_system, department_key
),

monthly as (
    select
        month_start_date,
        source_system,
        department_key,
        sum(ar_open_balance_amount) as monthly_ar_total
    from {{ ref('kpi_monthly') }}
    group by month_start_date, source_system, department_key
),

compared as (
    select
        snapshots.month_end_date,
        snapshots.source_system,
        snapshots.department_key,
        snapshots.ar_total,
        snapshots.ar_claims,
        aging.bucket_total,
        aging.bucket_claims,
        monthly.monthly_ar_total
    from snapshots
    left join aging
        on
            snapshots.month_end_date = aging.month_end_date
            and snapshots.source_system = aging.source_system
            and snapshots.department_key = aging.department_key
    left join monthly
        on
            cast({{ dbt.date_trunc('month', 'snapshots.month_end_date') }} as date) = monthly.month_start_date
            and snapshots.source_system = monthly.source_system
            and snapshots.department_key = monthly.department_key
)

select *
from compared
where
    bucket_total is null
    or abs(ar_total - bucket_total) >= 0.01
    or ar_claims <> bucket_claims
    or monthly_ar_total is null
    or abs(ar_total - monthly_ar_total) >= 0.01
