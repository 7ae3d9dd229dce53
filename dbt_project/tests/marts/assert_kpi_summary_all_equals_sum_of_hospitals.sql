-- kpi_monthly_summary: the 'all' row of a month equals the sum of the hospitals' components
-- (and the hospitals' components equal kpi_monthly summed). Returns the months and components
-- that differ.
{%- set components = [
    'gross_charges_amount', 'payments_amount', 'contractual_adjustments_amount', 'visits',
    'claims_submitted', 'claims_adjudicated', 'claims_initially_denied', 'claims_finally_denied',
    'claims_rejected', 'clean_claims', 'paid_claims', 'days_to_payment_sum',
    'ar_open_balance_amount', 'ar_over_90_amount', 'charges_prior_3m_amount',
] %}
with

summary as (
    select * from {{ ref('kpi_monthly_summary') }}
),

monthly as (
    select * from {{ ref('kpi_monthly') }}
),

hospitals as (
    select
        month_start_date,
        {%- for component in components %}
            sum({{ component }}) as {{ component }},
        {%- endfor %}
        count(*) as hospital_rows
    from summary
    where source_system <> 'all'
    group by month_start_date
),

slices as (
    select
        month_start_date,
        {%- for component in components %}
            sum({{ component }}) as {{ component }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from monthly
    group by month_start_date
),

all_rows as (
    select * from summary
    where source_system = 'all'
),

compared as (
    {%- for component in components %}
        select
            all_rows.month_start_date,
            '{{ component }}' as component,
            all_rows.{{ component }} as all_value,
            hospitals.{{ component }} as hospitals_value,
            slices.{{ component }} as slices_value
        from all_rows
        left join hospitals on all_rows.month_start_date = hospitals.month_start_date
        left join slices on all_rows.month_start_date = slices.month_start_date
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
)

select *
from compared
where
    hospitals_value is null
    or abs(all_value - hospitals_value) >= 0.01
    or abs(all_value - slices_value) >= 0.01
