-- The days in A/R denominator of kpi_monthly_summary, recomputed from fct_transactions: for each
-- month and hospital, the charges of the services in its 3-month window and the days of that
-- window, which runs from the first month of data at the earliest to the as-of date at the latest
-- (in the as-of month, a partial month, counting its days after the as-of date made days in A/R
-- jump: 111.9 days on a 7 January against 82 in December). Returns the rows that differ.
with

as_of as (
    select * from {{ ref('int_reporting_as_of') }}
),

summary as (
    select * from {{ ref('kpi_monthly_summary') }}
),

windows as (
    select
        summary.month_start_date,
        summary.source_system,
        summary.charges_prior_3m_amount,
        summary.days_prior_3m,
        case
            when {{ dbt.dateadd('month', -2, 'summary.month_start_date') }} < as_of.first_month_start_date
                then as_of.first_month_start_date
            else {{ dbt.dateadd('month', -2, 'summary.month_start_date') }}
        end as from_date,
        case
            when {{ dbt.dateadd('month', 1, 'summary.month_start_date') }} > as_of.as_of_date
                then as_of.as_of_date
            else {{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'summary.month_start_date')) }}
        end as to_date
    from summary
    cross join as_of
),

daily_charges as (
    select
        service_date,
        source_system,
        sum(charge_amount) as charge_amount
    from {{ ref('fct_transactions') }}
    group by service_date, source_system
),

expected as (
    select
        windows.month_start_date,
        windows.source_system,
        windows.charges_prior_3m_amount,
        windows.days_prior_3m,
        windows.from_date,
        windows.to_date,
        coalesce(sum(daily_charges.charge_amount), 0) as expected_charges
    from windows
    left join daily_charges
        on
            daily_charges.service_date >= windows.from_date
            and daily_charges.service_date <= windows.to_date
            and (windows.source_system = 'all' or daily_charges.source_system = windows.source_system)
    group by
        windows.month_start_date,
        windows.source_system,
        windows.charges_prior_3m_amount,
        windows.days_prior_3m,
        windows.from_date,
        windows.to_date
)

select *
from expected
where
    days_prior_3m
    <> {{ dbt.datediff('from_date', 'to_date', 'day') }} + 1
    or abs(coalesce(charges_prior_3m_amount, 0) - expected_charges) >= 0.01
