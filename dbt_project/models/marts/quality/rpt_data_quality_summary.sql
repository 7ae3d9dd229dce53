-- One row per entity and data-quality check: rows checked and rows failing. Quarantine rules
-- (rows routed to the quarantine schema), flags (invalid NPI, unknown code) and foreign keys
-- that point at an unknown member.
{%- set quarantine_checks = [
    ('patients', 'int_patients_unioned', patient_quarantine_rules()),
    ('transactions', 'int_transactions_unioned', transaction_quarantine_rules()),
    ('claim_versions', 'int_claim_versions_unioned', claim_quarantine_rules()),
] %}
{%- set flag_checks = [
    ('providers', 'int_providers_conformed', 'invalid_npi_check_digit', 'not ' ~ is_true('is_valid_npi')),
    ('providers', 'int_providers_conformed', 'npi_not_in_registry', 'not ' ~ is_true('has_registered_npi')),
    ('encounters', 'int_encounters_conformed', 'unknown_cpt_code', 'not ' ~ is_true('has_known_cpt_code')),
    ('transactions', 'int_transactions_conformed', 'unknown_cpt_code', 'not ' ~ is_true('has_known_cpt_code')),
    ('transactions', 'int_transactions_conformed', 'unknown_icd_code', 'not ' ~ is_true('has_known_icd_code')),
] %}
{%- set unknown_member_checks = [
    'patient_key', 'provider_key', 'department_key', 'payer_key', 'cpt_code_key', 'icd_code_key',
] %}

with

checks as (
    {%- for entity, model, rules in quarantine_checks %}
        {%- for rule in rules %}
            select
                '{{ entity }}' as entity,
                'quarantine' as check_kind,
                '{{ rule[0] }}' as check_name,
                count(*) as rows_checked,
                sum(case when {{ rule[1] }} then 1 else 0 end) as rows_failed
            from {{ ref(model) }}
            union all
        {%- endfor %}
    {%- endfor %}
    {%- for entity, model, check_name, condition in flag_checks %}
        select
            '{{ entity }}' as entity,
            'flag' as check_kind,
            '{{ check_name }}' as check_name,
            count(*) as rows_checked,
            sum(case when {{ condition }} then 1 else 0 end) as rows_failed
        from {{ ref(model) }}
        union all
    {%- endfor %}
    {%- for key in unknown_member_checks %}
        select
            'transactions' as entity,
            'unknown_member' as check_kind,
            '{{ key }}_unknown' as check_name,
            count(*) as rows_checked,
            sum(case when {{ key }} = {{ unknown_key() }} then 1 else 0 end) as rows_failed
        from {{ ref('fct_transactions') }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

final as (
    select
        entity,
        check_kind,
        check_name,
        rows_checked,
        coalesce(rows_failed, 0) as rows_failed,
        case
            when rows_checked = 0 then 0
            else cast(coalesce(rows_failed, 0) as {{ type_double() }}) / rows_checked
        end as failure_rate
    from checks
)

select * from final
