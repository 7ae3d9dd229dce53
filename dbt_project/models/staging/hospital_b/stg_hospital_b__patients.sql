{{
    config(
        materialized='incremental',
        unique_key='patient_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail'
    )
}}

-- Hospital B patients, one row per patient: the shared logic is the stage_patients macro
-- (dbt_project/macros/staging/stage_patients.sql).
{{ stage_patients(
    source('hospital_b', 'patients'),
    patient_id_column='ID',
    first_name_column='F_Name',
    last_name_column='L_Name',
    middle_name_column='M_Name',
    modified_column='Updated_Date',
) }}
