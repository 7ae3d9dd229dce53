{#
    Stage a hospital EMR's departments table (a full load), one row per department: rename and
    clean the Bronze columns of the latest load only. source_relation: the model's source() call.
#}
{% macro stage_departments(source_relation) -%}

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
        {{ clean_string('source.DeptID') }} as department_id,
        -- attributes
        {{ clean_string('source.Name') }} as department_name,
        -- lineage
        source._source_system as source_system,
        source._source_name as source_name,
        source._load_id as load_id,
        cast(source._ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
    inner join latest_load on source._load_id = latest_load.load_id
),

-- one load, so one row per department; should a load hold one twice, one name is kept
{{ latest_version_per_key(
    'department_id',
    ['department_id', 'department_name', 'source_system', 'source_name', 'load_id', 'ingested_at'],
    order_by=['department_name desc'],
    with_processed_at=false,
) }}

select * from final
{%- endmacro %}
