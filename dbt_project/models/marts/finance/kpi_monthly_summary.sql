{%- set components = [
    'gross_charges_amount', 'payments_amount', 'contractual_adjustments_amount', 'visits',
    'claims_submitted', 'claims_adjudicated', 'claims_initially_denied', 'claims_finally_denied',
    'claims_rejected', 'clean_claims', 'paid_claims', 'days_to_payment_sum',
    'claims_currently_accepted', 'claims_currently_pending', 'claims_currently_rejected',
    'ar_open_balance_amount', 'ar_over_90_amount', 'charges_prior_3m_amount',
] -%}

-- One row per month x hospital, plus one row per month with source_system = 'all': the
-- components of kpi_monthly summed, and the KPI rates computed from them (formulas in
-- _finance__models.yml). days_prior_3m is a calendar count, the same on every slice: its max.
with

monthly as (
    select * from {{ ref('kpi_monthly') }}
),

per_hospital as (
    select
        month_start_date,
        source_system,
        {%- for component in components %}
            sum({{ component }}) as {{ component }},
        {%- endfor %}
        max(days_prior_3m) as days_prior_3m
    from monthly
    group by month_start_date, source_system
),

all_hospitals as (
    select
        month_start_date,
        'all' as source_system,
        {%- for component in components %}
            sum({{ component }}) as {{ component }},
        {%- endfor %}
        max(days_prior_3m) as days_prior_3m
    from per_hospital
    group by month_start_date
),

totals as (
    select * from per_hospital
    union all
    select * from all_hospitals
),

final as (
    select
        -- grain
        {{ surrogate_key(['month_start_date', 'source_system']) }} as kpi_monthly_summary_key,
        month_start_date,
        source_system,
        -- components, typed as in kpi_monthly (a sum of integers is a 128-bit HUGEINT on DuckDB,
        -- which a Parquet export writes as DOUBLE and Power BI reads as a decimal number)
        {%- for component in components %}
            {%- if component.endswith('_amount') %}
                cast({{ component }} as decimal(18, 2)) as {{ component }},
            {%- else %}
                cast({{ component }} as {{ dbt.type_int() }}) as {{ component }},
            {%- endif %}
        {%- endfor %}
        days_prior_3m,
        -- rates and averages
        cast(
            ar_open_balance_amount * days_prior_3m / nullif(charges_prior_3m_amount, 0) as decimal(18, 2)
        ) as days_in_ar,
        cast(ar_over_90_amount / nullif(ar_open_balance_amount, 0) as decimal(18, 6)) as ar_over_90_pct,
        cast(
            1.0 * claims_initially_denied / nullif(claims_adjudicated, 0) as decimal(18, 6)
        ) as initial_denial_rate,
        cast(
            1.0 * claims_finally_denied / nullif(claims_adjudicated, 0) as decimal(18, 6)
        ) as final_denial_rate,
        cast(1.0 * clean_claims / nullif(claims_submitted, 0) as decimal(18, 6)) as clean_claim_rate,
        cast(1.0 * claims_rejected / nullif(claims_submitted, 0) as decimal(18, 6)) as rejection_rate,
        cast(
            payments_amount / nullif(gross_charges_amount - contractual_adjustments_amount, 0)
            as decimal(18, 6)
        ) as net_collection_rate,
        cast(payments_amount / nullif(gross_charges_amount, 0) as decimal(18, 6)) as gross_collection_rate,
        cast(1.0 * days_to_payment_sum / nullif(paid_claims, 0) as decimal(18, 2)) as avg_days_to_payment,
        cast(gross_charges_amount / nullif(visits, 0) as decimal(18, 2)) as charges_per_visit,
        cast(payments_amount / nullif(visits, 0) as decimal(18, 2)) as payments_per_visit
    from totals
)

select * from final
