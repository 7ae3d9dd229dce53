-- Gross charges of kpi_monthly agree with rpt_charges_by_provider_department_month, per month
-- and department, over the reporting months (first month of data to the as-of month). Returns
-- the months and departments that differ.
with

as_of as (
    select * from {{ ref('int_reporting_as_of') }}
),

kpi as (
    select
        month_start_date,
        department_key,
        sum(gross_charges_amount) as kpi_charges
    from {{ ref('kpi_monthly') }}
    group by month_start_date, department_key
),

report as (
    select
        report_rows.service_month as month_start_date,
        report_rows.department_key,
        sum(report_rows.total_charge_amount) as report_charges
    from {{ ref('rpt_charges_by_provider_department_month') }} as report_rows
    inner join as_of
        on
            report_rows.service_month >= as_of.first_month_start_date
            and report_rows.service_month <= {{ dbt.date_trunc('month', 'as_of.as_of_date') }}
    group by report_rows.service_month, report_rows.department_key
),

compared as (
    select
        coalesce(kpi.month_start_date, report.month_start_date) as month_start_date,
        coalesce(kpi.department_key, report.department_key) as department_key,
        coalesce(kpi.kpi_charges, 0) as kpi_charges,
        coalesce(report.report_charges, 0) as report_charges
    from kpi
    full outer join report
        on
            kpi.month_start_date = report.month_start_date
            and kpi.department_key = report.department_key
)

select *
from compared
where abs(kpi_charges - report_charges) >= 0.01
