-- kpi_days_to_payment_by_payer, per submission month x hospital x payer x department, holds
-- (1) the paid claims and summed days to payment of fct_claims, computed here from the fact
-- (its claim date, first paid date, payer and department), not from int_claim_kpi_outcomes,
-- except for a claim without a claim date: as in the mart, its month and its days run from
-- its submission date (int_claim_kpi_outcomes: the first date a version of it was known);
-- fct_claims holds the latest state, so this check applies at the default as-of date (the
-- latest claim change) and is left out with var alerts_as_of_date;
-- (2) the same parts as kpi_monthly, the KPI tiles, in its reporting months: a department's
-- days-to-payment chart agrees with its tile. Returns the slices that differ.
with

as_of as (
    select * from {{ ref('int_reporting_as_of') }}
),

mart as (
    select
        month_start_date,
        source_system,
        payer_name,
        department_key,
        paid_claims,
        days_to_payment_sum
    from {{ ref('kpi_days_to_payment_by_payer') }}
),

claims as (
    select * from {{ ref('fct_claims') }}
    where first_paid_date is not null
),

outcomes as (
    select * from {{ ref('int_claim_kpi_outcomes') }}
),

-- the mart's rule: the claim date, else the first date a version of the claim was known
paid_claims as (
    select
        claims.source_system,
        coalesce(claims.payer_name, 'Unknown') as payer_name,
        claims.department_key,
        claims.first_paid_date,
        coalesce(claims.claim_date, outcomes.submission_date) as submission_date
    from claims
    left join outcomes on claims.claim_key = outcomes.claim_key
),

facts as (
    select
        cast({{ dbt.date_trunc('month', 'submission_date') }} as date) as month_start_date,
        source_system,
        payer_name,
        department_key,
        count(*) as paid_claims,
        sum({{ dbt.datediff('submission_date', 'first_paid_date', 'day') }}) as days_to_payment_sum
    from paid_claims
    group by
        cast({{ dbt.date_trunc('month', 'submission_date') }} as date),
        source_system,
        payer_name,
        department_key
),

tiles as (
    select
        month_start_date,
        source_system,
        payer_name,
        department_key,
        paid_claims,
        days_to_payment_sum
    from {{ ref('kpi_monthly') }}
    where paid_claims > 0
),

-- the mart's months that kpi_monthly reports (from the first month of data to the as-of month)
mart_in_reporting_months as (
    select mart.*
    from mart
    inner join as_of
        on
            mart.month_start_date >= as_of.first_month_start_date
            and mart.month_start_date <= {{ dbt.date_trunc('month', 'as_of.as_of_date') }}
),

{%- set comparisons = [('fct_claims', 'mart', 'facts'), ('kpi_monthly', 'mart_in_reporting_months', 'tiles')] %}
{%- if var('alerts_as_of_date', none) %}
    {%- set comparisons = comparisons[1:] %}
{%- endif %}

compared as (
    {%- for checked_against, left, right in comparisons %}
        select
            '{{ checked_against }}' as checked_against,
            coalesce({{ left }}.month_start_date, {{ right }}.month_start_date) as month_start_date,
            coalesce({{ left }}.source_system, {{ right }}.source_system) as source_system,
            coalesce({{ left }}.payer_name, {{ right }}.payer_name) as payer_name,
            coalesce({{ left }}.department_key, {{ right }}.department_key) as department_key,
            coalesce({{ left }}.paid_claims, 0) as mart_paid_claims,
            coalesce({{ right }}.paid_claims, 0) as expected_paid_claims,
            coalesce({{ left }}.days_to_payment_sum, 0) as mart_days_to_payment_sum,
            coalesce({{ right }}.days_to_payment_sum, 0) as expected_days_to_payment_sum
        from {{ left }}
        full outer join {{ right }}
            on
                {{ left }}.month_start_date = {{ right }}.month_start_date
                and {{ left }}.source_system = {{ right }}.source_system
                and {{ left }}.payer_name = {{ right }}.payer_name
                and {{ left }}.department_key = {{ right }}.department_key
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
)

select *
from compared
where
    mart_paid_claims <> expected_paid_claims
    or mart_days_to_payment_sum <> expected_days_to_payment_sum
