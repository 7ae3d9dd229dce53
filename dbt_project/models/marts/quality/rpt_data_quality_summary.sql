-- One row per entity and data-quality check: rows checked and rows failing. Quarantine rules
-- (rows routed to the quarantine schema), flags (invalid NPI, unknown code, negative amount)
-- and foreign keys that point at an unknown member (a service date outside dim_date's days
-- among them). A claims line without a claim id that
-- landed more than once (a re-landed month) is one line, checked and failing once.
--
-- One aggregate counts every check of a model, and the counts are then turned into rows (one
-- aggregate per model, not one query per check). A quarantine rule is counted on the
-- model's quarantine table, which holds the rows that fail at least one rule (a row that
-- passes them all adds nothing to any count); only the number of rows checked is
-- counted on the model itself. Evaluating the rules over every row read 10 M transactions and
-- 27 M claim versions at scale 10 on every build. The counts are as exact as the quarantine
-- tables: after a full refresh of staging or a unioned model, refresh its quarantine model in
-- the same build (`rcm build --full-refresh` refreshes every model).
{%- set unknown_member_checks = [] %}
{%- for key in ['patient_key', 'provider_key', 'department_key', 'payer_key', 'cpt_code_key', 'icd_code_key'] %}
    {%- do unknown_member_checks.append((key ~ '_unknown', key ~ ' = ' ~ unknown_key())) %}
{%- endfor %}
{#- a service date is never null in the facts (a quarantine rule): its key is the unknown member
    when the date is outside dim_date's days (vars dim_date_start, dim_date_end) -#}
{%- set service_date_check = ('service_date_key_unknown', 'service_date_key = ' ~ unknown_key()) %}
{%- do unknown_member_checks.append(service_date_check) %}
{#- a negative amount (a payer's take-back, a reversal, a sign error) is kept, and counted for
    review: the A/R and collection KPIs use it as sent -#}
{%- set claim_amounts = [
    'claim_amount', 'allowed_amount', 'paid_amount', 'deductible_amount', 'coinsurance_amount',
    'copay_amount',
] %}
{#- (entity, check_kind, model, [(check_name, condition), ...]) -#}
{%- set checked_models = [
    ('patients', 'quarantine', 'int_patients_unioned', patient_quarantine_rules()),
    ('transactions', 'quarantine', 'int_transactions_unioned', transaction_quarantine_rules()),
    ('claim_versions', 'quarantine', 'int_claim_versions_unioned', claim_quarantine_rules()),
    ('providers', 'flag', 'int_providers_conformed', [
        ('invalid_npi_check_digit', 'not ' ~ is_true('is_valid_npi')),
        ('npi_not_in_registry', 'not ' ~ is_true('has_registered_npi')),
    ]),
    ('encounters', 'flag', 'int_encounters_conformed', [
        ('unknown_cpt_code', 'not ' ~ is_true('has_known_cpt_code')),
    ]),
    ('transactions', 'flag', 'int_transactions_conformed', [
        ('unknown_cpt_code', 'not ' ~ is_true('has_known_cpt_code')),
        ('unknown_icd_code', 'not ' ~ is_true('has_known_icd_code')),
        ('negative_amount', 'charge_amount < 0 or paid_amount < 0'),
    ]),
    ('claims', 'flag', 'int_claims_conformed', [
        ('negative_amount', claim_amounts | join(' < 0 or ') ~ ' < 0'),
    ]),
    ('transactions', 'unknown_member', 'fct_transactions', unknown_member_checks),
    ('claims', 'unknown_member', 'fct_claims', [service_date_check]),
] %}
{#- the quarantine table of each model whose rules route rows to quarantine -#}
{%- set failing_rows = {
    'int_patients_unioned': 'int_patients_quarantined',
    'int_transactions_unioned': 'int_transactions_quarantined',
    'int_claim_versions_unioned': 'int_claim_versions_quarantined',
} %}

with

{% for entity, check_kind, model, checks in checked_models %}
    {%- if check_kind == 'quarantine' %}
        counts_{{ model }} as (
            select
                {%- for check in checks %}
                    failing.failed_{{ loop.index }},
                {%- endfor %}
                {%- if model == 'int_claim_versions_unioned' %}
                    checked.rows_checked - (landed.keyless_landings - kept.keyless_lines)
                        as rows_checked
                {%- else %}
                    checked.rows_checked
                {%- endif %}
            from (
                select
                    {%- for check in checks %}
                        sum(case when {{ check[1] }} then 1 else 0 end) as failed_{{ loop.index }}
                        {%- if not loop.last %},{% endif %}
                    {%- endfor %}
                from {{ ref(failing_rows[model]) }}
            ) as failing
            cross join (
                select count(*) as rows_checked from {{ ref(model) }}
            ) as checked
            {%- if model == 'int_claim_versions_unioned' %}
                -- a line without a claim id that landed again is checked once, as it is
                -- quarantined once (int_claim_versions_quarantined)
                cross join (
                    select count(*) as keyless_landings from {{ ref(model) }}
                    where source_claim_id is null
                ) as landed
                cross join (
                    select count(*) as keyless_lines from {{ ref(failing_rows[model]) }}
                    where claim_id is null
                ) as kept
            {%- endif %}
        ),
    {%- else %}
        counts_{{ model }} as (
            select
                {%- for check in checks %}
                    sum(case when {{ check[1] }} then 1 else 0 end) as failed_{{ loop.index }},
                {%- endfor %}
                count(*) as rows_checked
            from {{ ref(model) }}
        ),
    {%- endif %}
{% endfor %}

checks as (
    {%- for entity, check_kind, model, checks in checked_models %}
        {%- set outer_loop = loop %}
        {%- for check in checks %}
            select
                '{{ entity }}' as entity,
                '{{ check_kind }}' as check_kind,
                '{{ check[0] }}' as check_name,
                rows_checked,
                failed_{{ loop.index }} as rows_failed
            from counts_{{ model }}
            {%- if not (loop.last and outer_loop.last) %}
                union all
            {%- endif %}
        {%- endfor %}
    {%- endfor %}
),

final as (
    select
        entity,
        check_kind,
        check_name,
        rows_checked,
        cast(coalesce(rows_failed, 0) as {{ dbt.type_bigint() }}) as rows_failed,
        case
            when rows_checked = 0 then 0
            else cast(coalesce(rows_failed, 0) as {{ type_double() }}) / rows_checked
        end as failure_rate
    from checks
)

select * from final
