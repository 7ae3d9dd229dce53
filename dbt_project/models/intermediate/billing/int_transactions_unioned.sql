{{
    config(
        materialized='incremental',
        uncompressed_columns=[
            'transaction_id',
            'source_transaction_id',
            'encounter_id',
            'source_encounter_id',
            'patient_id',
            'source_patient_id',
            'claim_id',
            'medicaid_id',
        ],
        unique_key='transaction_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail'
    )
}}

-- Incremental: a run reads the staged transactions processed since its last run, and again
-- those it flagged with an unknown CPT or ICD code that the code set now holds (the flag
-- clears; macro processed_or_flagged; DuckDB finds those rows' ids first, macro rows_where).
-- A code removed from a code set needs `rcm build --full-refresh`.
with

hospital_a as (
    select * from {{ ref('stg_hospital_a__transactions') }}
    {%- if is_incremental() %}
        where {{ rows_where(ref('stg_hospital_a__transactions'),
            processed_or_flagged('transaction_id', 'hospital_a', ['has_known_cpt_code', 'has_known_icd_code'])) }}
    {%- endif %}
),

hospital_b as (
    select * from {{ ref('stg_hospital_b__transactions') }}
    {%- if is_incremental() %}
        where {{ rows_where(ref('stg_hospital_b__transactions'),
            processed_or_flagged('transaction_id', 'hospital_b', ['has_known_cpt_code', 'has_known_icd_code'])) }}
    {%- endif %}
),

cpt_codes as (
    select cpt_code from {{ ref('stg_codesets__cpt_codes') }}
),

icd_codes as (
    select icd_code from {{ ref('stg_codesets__icd10cm_codes') }}
),

unioned as (
    {%- for relation in ['hospital_a', 'hospital_b'] %}
        select
            transaction_id, encounter_id, patient_id, provider_id, department_id, claim_id,
            payer_id, medicaid_id, medicare_id, procedure_code, icd_code, visit_type, amount_type,
            line_of_business, charge_amount, paid_amount, visit_date, service_date, paid_date,
            inserted_at, modified_at, source_system, source_name, load_id, ingested_at
        from {{ relation }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

conformed as (
    select
        -- ids (source-qualified)
        {{ qualified_id('unioned.source_system', 'unioned.transaction_id') }} as transaction_id,
        unioned.transaction_id as source_transaction_id,
        {{ qualified_id('unioned.source_system', 'unioned.encounter_id') }} as encounter_id,
        unioned.encounter_id as source_encounter_id,
        {{ qualified_id('unioned.source_system', 'unioned.patient_id') }} as patient_id,
        unioned.patient_id as source_patient_id,
        {{ qualified_id('unioned.source_system', 'unioned.provider_id') }} as provider_id,
        unioned.provider_id as source_provider_id,
        {{ qualified_id('unioned.source_system', 'unioned.department_id') }} as department_id,
        unioned.department_id as source_department_id,
        {{ qualified_id('unioned.source_system', 'unioned.claim_id') }} as claim_id,
        -- payer codes are shared by both hospitals (a payer is the same company)
        unioned.payer_id,
        -- PHI: insurance member ids
        unioned.medicaid_id,
        unioned.medicare_id,
        -- codes
        unioned.procedure_code,
        unioned.icd_code,
        -- attributes
        unioned.visit_type,
        unioned.amount_type,
        unioned.line_of_business,
        -- amounts
        unioned.charge_amount,
        unioned.paid_amount,
        -- dates
        unioned.visit_date,
        unioned.service_date,
        unioned.paid_date,
        unioned.inserted_at,
        unioned.modified_at,
        -- quality flags
        case when cpt_codes.cpt_code is null then {{ bool_false() }} else {{ bool_true() }} end as has_known_cpt_code,
        case when icd_codes.icd_code is null then {{ bool_false() }} else {{ bool_true() }} end as has_known_icd_code,
        -- lineage
        unioned.source_system,
        unioned.source_name,
        unioned.load_id,
        unioned.ingested_at
    from unioned
    left join cpt_codes on unioned.procedure_code = cpt_codes.cpt_code
    left join icd_codes on unioned.icd_code = icd_codes.icd_code
),

final as (
    select
        {{ column_list(cdm_transaction_columns()) }},
        {{ failed_rules(transaction_quarantine_rules()) }} as failed_rules,
        {{ processed_at() }} as processed_at
    from conformed
)

select * from final
