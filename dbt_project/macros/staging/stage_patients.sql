{#
    Stage a hospital EMR's patients table, one row per patient: rename, clean and type the
    Bronze columns and keep each patient's latest version across replayed and incremental loads.
    source_relation: the model's source() call. The EMRs name some patient columns differently
    (hospital A: PatientID, FirstName, ...; hospital B: ID, F_Name, ...): the *_column
    arguments name the Bronze columns.

    Incremental (the model's config: unique_key patient_id, replace_keys_strategy): a run
    reads the Bronze loads it has not read yet and ranks their rows with the row already
    staged for the same patient, so the latest version wins as in a full build.
#}
{% macro stage_patients(
    source_relation, patient_id_column, first_name_column, last_name_column, middle_name_column,
    modified_column
) -%}

with

source as (
    {{ bronze_rows_to_stage(source_relation) }}
),

renamed as (
    select
        -- ids
        {{ clean_string(patient_id_column) }} as patient_id,
        -- attributes (PHI: names, SSN, phone, address, full birth date)
        {{ clean_string(first_name_column) }} as first_name,
        {{ clean_string(last_name_column) }} as last_name,
        {{ clean_string(middle_name_column) }} as middle_name,
        {{ clean_string('SSN') }} as ssn,
        {{ clean_string('PhoneNumber') }} as phone_number,
        {{ clean_string('Gender') }} as gender,
        {{ clean_string('Address') }} as address,
        -- dates
        {{ to_date('DOB') }} as birth_date,
        {{ to_timestamp(modified_column) }} as modified_at,
        -- lineage
        _source_system as source_system,
        _source_name as source_name,
        _load_id as load_id,
        cast(_ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
),

{{ latest_version_per_key(
    'patient_id', stage_patient_columns(), order_by=['modified_at desc', 'load_id desc']
) }}

select * from final
{%- endmacro %}


{#- The staged patient columns that come from Bronze (all but processed_at), in the order of
    the `renamed` step. -#}
{% macro stage_patient_columns() -%}
    {{ return([
        'patient_id', 'first_name', 'last_name', 'middle_name', 'ssn', 'phone_number', 'gender',
        'address', 'birth_date', 'modified_at', 'source_system', 'source_name', 'load_id',
        'ingested_at',
    ]) }}
{%- endmacro %}
