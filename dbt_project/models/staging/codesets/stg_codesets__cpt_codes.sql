with

source as (
    select * from {{ source('codesets', 'cpt_codes') }}
),

-- Full load: every load is a complete copy of the code list, so only the latest is current.
latest_load as (
    select max(_load_id) as load_id from source
),

renamed as (
    select
        -- ids
        {{ clean_upper('source.' ~ adapter.quote('CPT Codes')) }} as cpt_code,
        -- attributes
        {{ clean_string('source.' ~ adapter.quote('Procedure Code Category')) }} as cpt_category,
        {{ clean_string('source.' ~ adapter.quote('Procedure Code Descriptions')) }}
            as cpt_description,
        -- the export's status casing varies (No Change / No change): lower case
        lower({{ clean_string('source.' ~ adapter.quote('Code Status')) }}) as code_status,
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
            partition by renamed.cpt_code
            order by renamed.cpt_description
        ) as version_rank
    from renamed
),

final as (
    select
        cpt_code,
        cpt_category,
        cpt_description,
        code_status,
        source_system,
        source_name,
        load_id,
        ingested_at
    from deduplicated
    where version_rank = 1 and cpt_code is not null
)

select * from final
