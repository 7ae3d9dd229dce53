with

source as (
    select * from {{ source('hospital_b', 'patients') }}
),

renamed as (
    select
        -- ids
        {{ clean_string('ID') }} as patient_id,
        -- attributes (PHI: names, SSN, phone, address, full birth date)
        {{ clean_string('F_Name') }} as first_name,
        {{ clean_string('L_Name') }} as last_name,
        {{ clean_string('M_Name') }} as middle_name,
        {{ clean_string('SSN') }} as ssn,
        {{ clean_string('PhoneNumber') }} as phone_number,
        {{ clean_string('Gender') }} as gender,
        {{ clean_string('Address') }} as address,
        -- dates
        {{ to_date('DOB') }} as birth_date,
        {{ to_timestamp('Updated_Date') }} as modified_at,
        -- lineage
        _source_system as source_system,
        _source_name as source_name,
        _load_id as load_id,
        cast(_ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
),

-- Latest version per patient across replayed and incremental loads.
deduplicated as (
    select
        renamed.*,
        row_number() over (
            partition by renamed.patient_id
            order by renamed.modified_at desc, renamed.load_id desc
        ) as version_rank
    from renamed
),

final as (
    select
        patient_id,
        first_name,
        last_name,
        middle_name,
        ssn,
        phone_number,
        gender,
        address,
        birth_date,
        modified_at,
        source_system,
        source_name,
        load_id,
        ingested_at
    from deduplicated
    where version_rank = 1 or patient_id is null
)

select * from final
