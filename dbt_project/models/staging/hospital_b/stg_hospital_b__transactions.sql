{{
    config(
        materialized='incremental',
        uncompressed_columns=[
            'transaction_id',
            'encounter_id',
            'patient_id',
            'claim_id',
            'medicaid_id',
        ],
        unique_key='transaction_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail'
    )
}}

-- Hospital B transactions, one row per transaction: the shared logic is the stage_transactions macro
-- (dbt_project/macros/staging/stage_transactions.sql).
{{ stage_transactions(source('hospital_b', 'transactions')) }}
