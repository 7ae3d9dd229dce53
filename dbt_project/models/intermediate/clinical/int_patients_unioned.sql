{{
    config(
        materialized='incremental',
        unique_key='patient_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail'
    )
}}

-- Incremental: a run reads the staged patients processed since its last run (staging rewrites
-- a patient when a new load carries it). The quarantine rules read the row alone.
with

hospital_a as (
    select * from {{ ref('stg_hospital_a__patients') }}
    {%- if is_incremental() %}
        where {{ processed_since_last_run() }}
    {%- endif %}
),

hospital_b as (
    select * from {{ ref('stg_hospital_b__patients') }}
    {%- if is_incremental() %}
        where {{ processed_since_last_run() }}
    {%- endif %}
),

unioned as (
    select
        patient_id, first_name, last_name, middle_name, ssn, phone_number, gender, address,
        birth_date, modified_at, source_system, source_name, load_id, ingested_at
    from hospital_a
    union all
    select
        patient_id, first_name, last_name, middle_name, ssn, phone_number, gender, address,
        birth_date, modified_at, source_system, source_name, load_id, ingested_at
    from hospital_b
),

conformed as (
    select
        -- ids
        {{ qualified_id('source_system', 'patient_id') }} as patient_id,
        patient_id as source_patient_id,
        -- PHI
        first_name,
        last_name,
        middle_name,
        ssn,
        phone_number,
        address,
        birth_date,
        -- attributes
        {{ conform_gender('gender') }} as gender,
        {{ date_part_of('year', 'birth_date') }} as birth_year,
        -- timestamps: a version without one (read by a first or full load: ingest warns of
        -- it) takes its load's time, when it was known; snap_patients starts a version at
        -- modified_at, and one started at NULL never took a later version
        coalesce(modified_at, ingested_at) as modified_at,
        -- lineage
        source_system,
        source_name,
        load_id,
        ingested_at
    from unioned
),

final as (
    select
        {{ column_list(cdm_patient_columns()) }},
        {{ failed_rules(patient_quarantine_rules()) }} as failed_rules,
        {{ processed_at() }} as processed_at
    from conformed
)

select * from final
