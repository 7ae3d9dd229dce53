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

-- One row per patient version (SCD2 from snap_patients), plus the unknown member. No raw PHI:
-- names, SSN, full birth date, address and phone are in restricted.dim_patient_phi.
--
-- Incremental (strategy replace_scope, macro changed_patient_versions_scope): a run rewrites
-- every version of the patients with a version new in snap_patients or closed there since,
-- and nothing else (a daily build rewrote all 1.67 M versions at scale 10 for the few
-- thousand patients that changed). The unknown member is written by the first build.
with

snapshot as (
    select * from {{ ref('snap_patients') }}
    {%- if is_incremental() %}
        where {{ changed_patient_versions_scope(this) }}
    {%- endif %}
),

versions as (
    select
        -- keys
        {{ surrogate_key(['patient_id', 'dbt_valid_from']) }} as patient_key,
        patient_id,
        source_patient_id,
        -- attributes (not PHI)
        gender,
        birth_year,
        -- validity: the first version is valid from the beginning of time
        {{ patient_version_valid_from() }} as valid_from,
        coalesce(dbt_valid_to, {{ open_validity_end() }}) as valid_to,
        case when dbt_valid_to is null then {{ bool_true() }} else {{ bool_false() }} end as is_current,
        modified_at,
        -- lineage
        source_system,
        source_name,
        load_id,
        ingested_at,
        {{ processed_at() }} as processed_at
    from snapshot
),

unknown_member as (
    select
        {{ unknown_key() }} as patient_key,
        'unknown' as patient_id,
        cast(null as {{ dbt.type_string() }}) as source_patient_id,
        cast(null as {{ dbt.type_string() }}) as gender,
        cast(null as {{ dbt.type_int() }}) as birth_year,
        cast('1900-01-01' as {{ dbt.type_timestamp() }}) as valid_from,
        {{ open_validity_end() }} as valid_to,
        {{ bool_true() }} as is_current,
        cast(null as {{ dbt.type_timestamp() }}) as modified_at,
        'unknown' as source_system,
        cast(null as {{ dbt.type_string() }}) as source_name,
        cast(null as {{ dbt.type_string() }}) as load_id,
        cast(null as {{ dbt.type_timestamp() }}) as ingested_at,
        {{ processed_at() }} as processed_at
),

final as (
    select
        patient_key, patient_id, source_patient_id, gender, birth_year, valid_from, valid_to,
        is_current, modified_at, source_system, source_name, load_id, ingested_at,
        processed_at
    from versions
    {%- if not is_incremental() %}
        union all
        select
            patient_key, patient_id, source_patient_id, gender, birth_year, valid_from, valid_to,
            is_current, modified_at, source_system, source_name, load_id, ingested_at,
            processed_at
        from unknown_member
    {%- endif %}
)

select * from final
