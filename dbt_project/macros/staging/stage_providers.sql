{#
    Stage a hospital EMR's providers table (a full load), one row per provider: rename, clean
    and type the Bronze columns of the latest load only. A provider deleted in the EMR is not in
    it, so it leaves the CDM, and snap_providers records its deletion (dim_provider.is_active
    false). source_relation: the model's source() call.
#}
{% macro stage_providers(source_relation) -%}

with

source as (
    select * from {{ source_relation }}
),

-- Full load: every load is a complete copy, so only the latest load is current.
latest_load as (
    select max(_load_id) as load_id from source
),

renamed as (
    select
        -- ids
        {{ clean_string('source.ProviderID') }} as provider_id,
        {{ clean_string('source.DeptID') }} as department_id,
        {{ normalise_npi('source.NPI') }} as npi,
        -- attributes
        {{ clean_string('source.FirstName') }} as first_name,
        {{ clean_string('source.LastName') }} as last_name,
        {{ clean_string('source.Specialization') }} as specialty,
        -- lineage
        source._source_system as source_system,
        source._source_name as source_name,
        source._load_id as load_id,
        cast(source._ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
    inner join latest_load on source._load_id = latest_load.load_id
),

-- one load, so one row per provider; should a load hold one twice, the same one is kept on
-- every build (a row picked at random would open a snap_providers version now and then)
{{ latest_version_per_key(
    'provider_id',
    [
        'provider_id', 'department_id', 'npi', 'first_name', 'last_name', 'specialty',
        'source_system', 'source_name', 'load_id', 'ingested_at',
    ],
    order_by=[
        'load_id desc', 'department_id desc', 'npi desc', 'last_name desc', 'first_name desc',
        'specialty desc',
    ],
    with_processed_at=false,
) }}

select * from final
{%- endmacro %}
