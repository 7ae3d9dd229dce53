{{
    config(
        materialized='incremental',
        uncompressed_columns=['encounter_id', 'patient_id'],
        unique_key='encounter_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail'
    )
}}

-- Hospital A encounters, one row per encounter: the shared logic is the stage_encounters macro
-- (dbt_project/macros/staging/stage_encounters.sql).
{{ stage_encounters(source('hospital_a', 'encounters')) }}
