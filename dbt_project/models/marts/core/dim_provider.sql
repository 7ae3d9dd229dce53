-- One row per provider (current attributes, type 1; the history is in snap_providers), with
-- the NPI's registry data, plus the unknown member.
with

snapshot as (
    select * from {{ ref('snap_providers') }}
),

npis as (
    select * from {{ ref('dim_npi') }}
),

departments as (
    select * from {{ ref('dim_department') }}
),

current_versions as (
    select * from snapshot
    where dbt_valid_to is null
),

final as (
    select
        -- keys
        {{ surrogate_key(['current_versions.provider_id']) }} as provider_key,
        current_versions.provider_id,
        current_versions.source_provider_id,
        coalesce(departments.department_key, {{ unknown_key() }}) as department_key,
        coalesce(npis.npi_key, {{ unknown_key() }}) as npi_key,
        -- attributes
        current_versions.first_name as provider_first_name,
        current_versions.last_name as provider_last_name,
        current_versions.specialty,
        current_versions.npi,
        current_versions.is_valid_npi,
        -- from the registry as it is now: the snapshot opens no version when only the
        -- registry changed (its check_cols are the provider's own columns)
        case
            when npis.npi_key is null or npis.npi_key = {{ unknown_key() }} then {{ bool_false() }}
            else {{ bool_true() }}
        end as has_registered_npi,
        npis.credential as npi_credential,
        npis.primary_taxonomy_code as npi_taxonomy_code,
        npis.primary_taxonomy_description as npi_taxonomy_description,
        npis.npi_status,
        case
            when current_versions.dbt_is_deleted = 'True' then {{ bool_false() }}
            else {{ bool_true() }}
        end as is_active,
        current_versions.source_system
    from current_versions
    left join npis on current_versions.npi = npis.npi
    left join departments on current_versions.department_id = departments.department_id
    union all
    select
        {{ unknown_key() }} as provider_key,
        'unknown' as provider_id,
        null as source_provider_id,
        {{ unknown_key() }} as department_key,
        {{ unknown_key() }} as npi_key,
        null as provider_first_name,
        null as provider_last_name,
        null as specialty,
        null as npi,
        cast(null as {{ bool_type() }}) as is_valid_npi,
        cast(null as {{ bool_type() }}) as has_registered_npi,
        null as npi_credential,
        null as npi_taxonomy_code,
        null as npi_taxonomy_description,
        null as npi_status,
        {{ bool_true() }} as is_active,
        'unknown' as source_system
)

select * from final
