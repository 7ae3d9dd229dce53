{#
    Stage a hospital EMR's encounters table, one row per encounter: rename, clean and type the
    Bronze columns and keep each encounter's latest version across replayed and incremental
    loads. source_relation: the model's source() call.

    Incremental (the model's config: unique_key encounter_id, replace_keys_strategy): a run
    reads the Bronze loads it has not read yet and ranks their rows with the row already
    staged for the same encounter, so the latest version wins as in a full build.
#}
{% macro stage_encounters(source_relation) -%}

with

source as (
    select * from {{ source_relation }}
    {%- if is_incremental() %}
        where {{ from_unread_loads(source_relation) }}
    {%- endif %}
),

renamed as (
    select
        -- ids
        {{ clean_string('EncounterID') }} as encounter_id,
        {{ clean_string('PatientID') }} as patient_id,
        {{ clean_string('ProviderID') }} as provider_id,
        {{ clean_string('DepartmentID') }} as department_id,
        -- codes
        {{ clean_upper('ProcedureCode') }} as procedure_code,
        -- attributes
        {{ clean_string('EncounterType') }} as encounter_type,
        -- dates
        {{ to_date('EncounterDate') }} as encounter_date,
        {{ to_timestamp('InsertedDate') }} as inserted_at,
        {{ to_timestamp('ModifiedDate') }} as modified_at,
        -- lineage
        _source_system as source_system,
        _source_name as source_name,
        _load_id as load_id,
        cast(_ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
),

-- the new rows, with (incremental runs) the row already staged for the same encounters
candidates as (
    {{ with_staged_rows_of_same_keys('renamed', 'encounter_id', stage_encounter_columns()) }}
),

-- Latest version per encounter across replayed and incremental loads.
deduplicated as (
    select
        candidates.*,
        row_number() over (
            partition by candidates.encounter_id
            order by candidates.modified_at desc, candidates.load_id desc
        ) as version_rank
    from candidates
),

final as (
    select
        encounter_id,
        patient_id,
        provider_id,
        department_id,
        procedure_code,
        encounter_type,
        encounter_date,
        inserted_at,
        modified_at,
        source_system,
        source_name,
        load_id,
        ingested_at,
        {{ processed_at() }} as processed_at
    from deduplicated
    where version_rank = 1 or encounter_id is null
)

select * from final
{%- endmacro %}


{#- The staged encounter columns that come from Bronze (all but processed_at), in the order
    of the `renamed` step. -#}
{% macro stage_encounter_columns() -%}
    {{ return([
        'encounter_id', 'patient_id', 'provider_id', 'department_id', 'procedure_code',
        'encounter_type', 'encounter_date', 'inserted_at', 'modified_at',
        'source_system', 'source_name', 'load_id', 'ingested_at',
    ]) }}
{%- endmacro %}
