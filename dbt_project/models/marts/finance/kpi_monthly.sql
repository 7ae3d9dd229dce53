-- One row per month x hospital x payer x department: the additive components of the KPIs
-- (sum them over any filter, then divide: kpi_monthly_summary). Cohorts: money by service
-- month, claim counts by submission month, A/R at month end. Rules: _finance__docs.md.
with

as_of as (
    select * from {{ ref('int_reporting_as_of') }}
),

transactions as (
    select * from {{ ref('fct_transactions') }}
),

payers as (
    select * from {{ ref('dim_payer') }}
),

departments as (
    select * from {{ ref('dim_department') }}
),

claim_outcomes as (
    select * from {{ ref('int_claim_kpi_outcomes') }}
),

ar_balances as (
    select * from {{ ref('int_ar_month_end_balances') }}
),

-- transaction lines in the reporting months (service month up to the as-of month)
charge_lines as (
    select
        cast({{ dbt.date_trunc('month', 'transactions.service_date') }} as date) as month_start_date,
        transactions.source_system,
        coalesce(payers.payer_name, 'Unknown') as payer_name,
        transactions.department_key,
        transactions.charge_amount,
        -- the days in A/R window ends at the as-of date: a service dated later is not in it
        case
            when transactions.service_date <= as_of.as_of_date then transactions.charge_amount else 0
        end as charge_to_as_of_amount
    from transactions
    left join payers on transactions.payer_key = payers.payer_key
    inner join as_of
        on
            transactions.service_date >= as_of.first_month_start_date
            and {{ dbt.date_trunc('month', 'transactions.service_date') }}
            <= {{ dbt.date_trunc('month', 'as_of.as_of_date') }}
),

charges as (
    select
        month_start_date,
        source_system,
        payer_name,
        department_key,
        sum(charge_amount) as gross_charges_amount,
        sum(charge_to_as_of_amount) as charges_to_as_of_amount
    from charge_lines
    group by month_start_date, source_system, payer_name, department_key
),

-- a visit counts once, in the slice of its first line (so visits stay additive):
-- int_encounter_first_lines; the months outside the reporting range drop out in `summed`
visits as (
    select
        first_lines.month_start_date,
        first_lines.source_system,
        coalesce(payers.payer_name, 'Unknown') as payer_name,
        first_lines.department_key,
        count(*) as visits
    from {{ ref('int_encounter_first_lines') }} as first_lines
    left join payers on first_lines.payer_key = payers.payer_key
    group by
        first_lines.month_start_date,
        first_lines.source_system,
        coalesce(payers.payer_name, 'Unknown'),
        first_lines.department_key
),

-- the charges of a month count in the 3-month window of that month and the next two
month_offsets as (
    select 0 as month_offset
    union all
    select 1 as month_offset
    union all
    select 2 as month_offset
),

prior_charges as (
    select
        cast({{ dbt.dateadd('month', 'month_offsets.month_offset', 'charges.month_start_date') }} as date)
            as month_start_date,
        charges.source_system,
        charges.payer_name,
        charges.department_key,
        sum(charges.charges_to_as_of_amount) as charges_prior_3m_amount
    from charges
    cross join month_offsets
    group by
        cast({{ dbt.dateadd('month', 'month_offsets.month_offset', 'charges.month_start_date') }} as date),
        charges.source_system,
        charges.payer_name,
        charges.department_key
),

-- money on claims, by service month: payments and contractual adjustments known by the as-of date
claim_money as (
    select
        service_month_start_date as month_start_date,
        source_system,
        payer_name,
        department_key,
        sum(paid_amount) as payments_amount,
        sum(contractual_adjustment_amount) as contractual_adjustments_amount
    from claim_outcomes
    group by service_month_start_date, source_system, payer_name, department_key
),

-- claim counts, by submission month
claim_counts as (
    select
        submission_month_start_date as month_start_date,
        source_system,
        payer_name,
        department_key,
        count(*) as claims_submitted,
        sum(case when {{ is_true('is_adjudicated') }} then 1 else 0 end) as claims_adjudicated,
        sum(case when {{ is_true('is_initially_denied') }} then 1 else 0 end) as claims_initially_denied,
        sum(case when {{ is_true('is_finally_denied') }} then 1 else 0 end) as claims_finally_denied,
        sum(case when {{ is_true('was_rejected') }} then 1 else 0 end) as claims_rejected,
        sum(case when {{ is_true('is_clean_claim') }} then 1 else 0 end) as clean_claims,
        sum(case when {{ is_true('is_paid') }} then 1 else 0 end) as paid_claims,
        sum(case when {{ is_true('is_paid') }} then days_to_payment else 0 end) as days_to_payment_sum,
        sum(case when current_outcome = 'accepted' then 1 else 0 end) as claims_currently_accepted,
        sum(case when current_outcome = 'pending' then 1 else 0 end) as claims_currently_pending,
        sum(case when current_outcome = 'rejected' then 1 else 0 end) as claims_currently_rejected
    from claim_outcomes
    group by submission_month_start_date, source_system, payer_name, department_key
),

-- A/R at month end: fct_ar_snapshots summed per slice (payer name 'Unknown' when missing)
ar as (
    select
        cast({{ dbt.date_trunc('month', 'month_end_date') }} as date) as month_start_date,
        source_system,
        payer_name,
        department_key,
        sum(open_balance_amount) as ar_open_balance_amount,
        sum(over_90_balance_amount) as ar_over_90_amount
    from ar_balances
    group by
        cast({{ dbt.date_trunc('month', 'month_end_date') }} as date),
        source_system,
        payer_name,
        department_key
),

{%- set components = [
    'gross_charges_amount', 'payments_amount', 'contractual_adjustments_amount', 'visits',
    'claims_submitted', 'claims_adjudicated', 'claims_initially_denied', 'claims_finally_denied',
    'claims_rejected', 'clean_claims', 'paid_claims', 'days_to_payment_sum',
    'claims_currently_accepted', 'claims_currently_pending', 'claims_currently_rejected',
    'ar_open_balance_amount', 'ar_over_90_amount', 'charges_prior_3m_amount',
] %}
{%- set sources = {
    'charges': ['gross_charges_amount'],
    'visits': ['visits'],
    'prior_charges': ['charges_prior_3m_amount'],
    'claim_money': ['payments_amount', 'contractual_adjustments_amount'],
    'claim_counts': [
        'claims_submitted', 'claims_adjudicated', 'claims_initially_denied', 'claims_finally_denied',
        'claims_rejected', 'clean_claims', 'paid_claims', 'days_to_payment_sum',
        'claims_currently_accepted', 'claims_currently_pending', 'claims_currently_rejected',
    ],
    'ar': ['ar_open_balance_amount', 'ar_over_90_amount'],
} %}

components as (
    {%- for relation, columns in sources.items() %}
        select
            month_start_date,
            source_system,
            payer_name,
            department_key,
            {%- for component in components %}
                {% if component in columns %}{{ component }}{% else %}0{% endif %} as {{ component }}
                {%- if not loop.last %},{% endif %}
            {%- endfor %}
        from {{ relation }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

summed as (
    select
        components.month_start_date,
        components.source_system,
        components.payer_name,
        components.department_key,
        {%- for component in components %}
            sum(components.{{ component }}) as {{ component }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from components
    inner join as_of
        on
            components.month_start_date >= as_of.first_month_start_date
            and components.month_start_date <= {{ dbt.date_trunc('month', 'as_of.as_of_date') }}
    group by
        components.month_start_date,
        components.source_system,
        components.payer_name,
        components.department_key
),

-- one payer type per payer name (the claims' own, else the payer dimension's)
payer_types as (
    select
        payer_name,
        max(payer_type) as payer_type
    from (
        select payer_name, payer_type from claim_outcomes
        union all
        select payer_name, payer_type from payers
    ) as named_payers
    where payer_name is not null
    group by payer_name
),

final as (
    select
        -- grain
        {{ surrogate_key([
            'summed.month_start_date', 'summed.source_system', 'summed.payer_name', 'summed.department_key'
        ]) }} as kpi_monthly_key,
        summed.month_start_date,
        summed.source_system,
        summed.payer_name,
        summed.department_key,
        -- attributes
        payer_types.payer_type,
        coalesce(departments.department_name, 'Unknown') as department_name,
        -- money (service-month cohort)
        cast(summed.gross_charges_amount as decimal(18, 2)) as gross_charges_amount,
        cast(summed.payments_amount as decimal(18, 2)) as payments_amount,
        cast(summed.contractual_adjustments_amount as decimal(18, 2)) as contractual_adjustments_amount,
        cast(summed.visits as {{ dbt.type_int() }}) as visits,
        -- claim counts (submission-month cohort)
        cast(summed.claims_submitted as {{ dbt.type_int() }}) as claims_submitted,
        cast(summed.claims_adjudicated as {{ dbt.type_int() }}) as claims_adjudicated,
        cast(summed.claims_initially_denied as {{ dbt.type_int() }}) as claims_initially_denied,
        cast(summed.claims_finally_denied as {{ dbt.type_int() }}) as claims_finally_denied,
        cast(summed.claims_rejected as {{ dbt.type_int() }}) as claims_rejected,
        cast(summed.clean_claims as {{ dbt.type_int() }}) as clean_claims,
        cast(summed.paid_claims as {{ dbt.type_int() }}) as paid_claims,
        cast(summed.days_to_payment_sum as {{ dbt.type_int() }}) as days_to_payment_sum,
        cast(summed.claims_currently_accepted as {{ dbt.type_int() }}) as claims_currently_accepted,
        cast(summed.claims_currently_pending as {{ dbt.type_int() }}) as claims_currently_pending,
        cast(summed.claims_currently_rejected as {{ dbt.type_int() }}) as claims_currently_rejected,
        -- balances at month end
        cast(summed.ar_open_balance_amount as decimal(18, 2)) as ar_open_balance_amount,
        cast(summed.ar_over_90_amount as decimal(18, 2)) as ar_over_90_amount,
        -- days in A/R denominator: charges of the 3 months ending with this one, and their days
        -- (the window starts no earlier than the first month of data, and ends at the as-of date:
        -- in the as-of month, a partial month, the days after it hold no charges yet, and
        -- counting them understated the daily charges and overstated days in A/R)
        cast(summed.charges_prior_3m_amount as decimal(18, 2)) as charges_prior_3m_amount,
        cast(
            {{ dbt.datediff(
                "case when " ~ dbt.dateadd('month', -2, 'summed.month_start_date')
                ~ " < as_of.first_month_start_date then as_of.first_month_start_date else "
                ~ dbt.dateadd('month', -2, 'summed.month_start_date') ~ " end",
                "case when " ~ dbt.dateadd('month', 1, 'summed.month_start_date')
                ~ " > " ~ dbt.dateadd('day', 1, 'as_of.as_of_date') ~ " then "
                ~ dbt.dateadd('day', 1, 'as_of.as_of_date') ~ " else "
                ~ dbt.dateadd('month', 1, 'summed.month_start_date') ~ " end",
                'day',
            ) }} as {{ dbt.type_int() }}
        ) as days_prior_3m
    from summed
    cross join as_of
    left join payer_types on summed.payer_name = payer_types.payer_name
    left join departments on summed.department_key = departments.department_key
)

select * from final
