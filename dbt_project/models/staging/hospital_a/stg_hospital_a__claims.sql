{{
    config(
        materialized='incremental',
        uncompressed_columns=['claim_id', 'transaction_id', 'patient_id', 'encounter_id'],
        unique_key='claim_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail'
    )
}}

-- Hospital A claims, one row per claim version: the shared logic is the stage_claims macro
-- (dbt_project/macros/staging/stage_claims.sql).
{{ stage_claims(source('hospital_a', 'claims')) }}
