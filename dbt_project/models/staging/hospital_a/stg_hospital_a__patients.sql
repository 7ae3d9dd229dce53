{{
    config(
        materialized='incremental',
        unique_key='patient_id',
        incremental_strategy=replace_keys_strategy(),
        on_schema_change='fail'
    )
}}

-- Hospital A patients, one row per patient: the shared logic is the stage_patients macro
-- (dbt_project/macros/staging/stage_patients.sql).
{{ stage_patients(
    source('hospital_a', 'patients'),
    patient_id_column='PatientID',
    first_name_column='FirstName',
    last_name_column='LastName',
    middle_name_column='MiddleName',
    modified_column='ModifiedDate',
) }}
