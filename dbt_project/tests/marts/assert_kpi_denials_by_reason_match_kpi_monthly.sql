-- kpi_denials_by_reason sums, per month, hospital, payer and department, to kpi_monthly's
-- initially denied claims: the denials tab filtered to a department agrees with the tiles
-- filtered to it. Returns the rows that differ.
with

by_reason as (
    select
        month_start_date,
        source_system,
        payer_name,
        department_key,
        sum(denied_claims) as denied_claims
    from {{ ref('kpi_denials_by_reason') }}
    group by month_start_date, source_system, payer_name, department_key
),

monthly as (
    select
        month_start_date,
        source_system,
        payer_name,
        department_key,
        sum(claims_initially_denied) as denied_claims
    from {{ ref('kpi_monthly') }}
    group by month_start_date, source_system, payer_name, department_key
),

compared as (
    select
        coalesce(by_reason.month_start_date, monthly.month_start_date) as month_start_date,
        coalesce(by_reason.source_system, monthly.source_system) as source_system,
        coalesce(by_reason.payer_name, monthly.payer_name) as payer_name,
        coalesce(by_reason.department_key, monthly.department_key) as department_key,
        coalesce(by_reason.denied_claims, 0) as by_reason_claims,
        coalesce(monthly.denied_claims, 0) as monthly_claims
    from by_reason
    full outer join monthly
        on
            by_reason.month_start_date = monthly.month_start_date
            and by_reason.source_system = monthly.source_system
            and by_reason.payer_name = monthly.payer_name
            and by_reason.department_key = monthly.department_key
)

select *
from compared
where by_reason_claims <> monthly_claims
