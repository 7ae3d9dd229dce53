{#
    Stage a hospital EMR's providers table, one row per provider: rename, clean and type the
    Bronze columns and keep each provider's row from the latest load (the list has no modified
    timestamp). source_relation: the model's source() call.
#}
{% macro stage_providers(source_relation) -%}

with

source as (
    select * from {{ source_relation }}
),

renamed as (
    select
        -- ids
        {{ clean_string('ProviderID') }} as provider_id,
        {{ clean_string('DeptID') }} as department_id,
        {{ normalise_npi('NPI') }} as npi,
        -- attributes
        {{ clean_string('FirstName') }} as first_name,
        {{ clean_string('LastName') }} as last_name,
        {{ clean_string('Specialization') }} as specialty,
        -- lineage
        _source_system as source_system,
        _source_name as source_name,
        _load_id as load_id,
        cast(_ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
),

-- the provider list has no modified timestamp: the latest load wins
{{ latest_version_per_key(
    'provider_id',
    [
        'provider_id', 'department_id', 'npi', 'first_name', 'last_name', 'specialty',
        'source_system', 'source_name', 'load_id', 'ingested_at',
    ],
    order_by=['load_id desc'],
    with_processed_at=false,
) }}

select * from final
{%- endmacro %}
