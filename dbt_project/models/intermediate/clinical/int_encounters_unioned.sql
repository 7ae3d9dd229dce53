{{
    config(
        materialized='incremental',
        uncompressed_columns=['encounter_id', 'source_encounter_id', 'patient_id'],
        unique_key='encounter_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail'
    )
}}

-- Incremental: a run reads the staged encounters processed since its last run, and again those
-- it flagged with an unknown CPT code that the code set now holds (the flag clears; macro
-- processed_or_flagged). A code removed from the code set needs `rcm build --full-refresh`.
with

hospital_a as (
    select * from {{ ref('stg_hospital_a__encounters') }}
    {%- if is_incremental() %}
        where {{ rows_where(ref('stg_hospital_a__encounters'),
            processed_or_flagged('encounter_id', 'hospital_a', ['has_known_cpt_code'])) }}
    {%- endif %}
),

hospital_b as (
    select * from {{ ref('stg_hospital_b__encounters') }}
    {%- if is_incremental() %}
        where {{ rows_where(ref('stg_hospital_b__encounters'),
            processed_or_flagged('encounter_id', 'hospital_b', ['has_known_cpt_code'])) }}
    {%- endif %}
),

cpt_codes as (
    select cpt_code from {{ ref('stg_codesets__cpt_codes') }}
),

unioned as (
    select
        encounter_id, patient_id, provider_id, department_id, procedure_code, encounter_type,
        encounter_date, inserted_at, modified_at, source_system, source_name, load_id, ingested_at
    from hospital_a
    union all
    select
        encounter_id, patient_id, provider_id, department_id, procedure_code, encounter_type,
        encounter_date, inserted_at, modified_at, source_system, source_name, load_id, ingested_at
    from hospital_b
),

conformed as (
    select
        -- ids
        {{ qualified_id('unioned.source_system', 'unioned.encounter_id') }} as encounter_id,
        unioned.encounter_id as source_encounter_id,
        {{ qualified_id('unioned.source_system', 'unioned.patient_id') }} as patient_id,
        {{ qualified_id('unioned.source_system', 'unioned.provider_id') }} as provider_id,
        {{ qualified_id('unioned.source_system', 'unioned.department_id') }} as department_id,
        -- codes
        unioned.procedure_code,
        -- attributes
        unioned.encounter_type,
        -- dates
        unioned.encounter_date,
        unioned.inserted_at,
        unioned.modified_at,
        -- quality flags
        case when cpt_codes.cpt_code is null then {{ bool_false() }} else {{ bool_true() }} end as has_known_cpt_code,
        -- lineage
        unioned.source_system,
        unioned.source_name,
        unioned.load_id,
        unioned.ingested_at
    from unioned
    left join cpt_codes on unioned.procedure_code = cpt_codes.cpt_code
),

final as (
    select
        {{ column_list(cdm_encounter_columns()) }},
        {{ failed_rules([('missing_encounter_id', 'source_encounter_id is null')]) }} as failed_rules,
        {{ processed_at() }} as processed_at
    from conformed
)

select * from final
