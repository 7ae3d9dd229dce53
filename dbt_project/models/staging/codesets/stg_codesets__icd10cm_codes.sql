with

source as (
    select * from {{ source('codesets', 'icd10cm_codes') }}
),

-- Full load of the code list: only the latest load is current.
latest_load as (
    select max(_load_id) as load_id from source
),

renamed as (
    select
        -- ids: upper case without the dot, plus the dotted form
        {{ normalise_icd('source.code') }} as icd_code,
        -- attributes
        {{ clean_string('source.description') }} as icd_description,
        {{ to_boolean('source.is_billable') }} as is_billable,
        {{ clean_string('source.source') }} as code_source,
        -- lineage
        source._source_system as source_system,
        source._source_name as source_name,
        source._load_id as load_id,
        cast(source._ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
    inner join latest_load on source._load_id = latest_load.load_id
),

deduplicated as (
    select
        renamed.*,
        row_number() over (
            partition by renamed.icd_code
            order by renamed.icd_description
        ) as version_rank
    from renamed
),

final as (
    select
        icd_code,
        {{ dotted_icd('icd_code') }} as icd_code_dotted,
        icd_description,
        is_billable,
        code_source,
        source_system,
        source_name,
        load_id,
        ingested_at
    from deduplicated
    where version_rank = 1 and icd_code is not null
)

select * from final
