{{
    config(
        materialized='incremental',
        incremental_strategy=replace_scope_strategy(),
        replace_scope_macro='changed_patient_versions_scope',
        replace_scope_delete_macro='changed_patient_versions_replaced_rows',
        on_schema_change='fail'
    )
}}
{{ require_integer_keys(['patient_key']) }}

-- One row per patient version: the patient's PHI, keyed like dim_patient. Schema `restricted`:
-- grant it only to roles allowed to see PHI.
--
-- Incremental like dim_patient (macro changed_patient_versions_scope): a run rewrites every
-- version of the patients with a version new in snap_patients or closed there since.
with

snapshot as (
    select * from {{ ref('snap_patients') }}
    {%- if is_incremental() %}
        where {{ changed_patient_versions_scope(this) }}
    {%- endif %}
),

final as (
    select
        {{ surrogate_key(['patient_id', 'dbt_valid_from']) }} as patient_key,
        patient_id,
        first_name,
        middle_name,
        last_name,
        birth_date,
        ssn,
        phone_number,
        address,
        -- as dim_patient's: the first version is valid from the beginning of time
        {{ patient_version_valid_from() }} as valid_from,
        coalesce(dbt_valid_to, {{ open_validity_end() }}) as valid_to,
        {{ processed_at() }} as processed_at
    from snapshot
)

select * from final
