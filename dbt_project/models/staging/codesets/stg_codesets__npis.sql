with

source as (
    select * from {{ source('codesets', 'npi') }}
),

-- Full load of the NPPES extract: only the latest load is current.
latest_load as (
    select max(_load_id) as load_id from source
),

renamed as (
    select
        -- ids
        {{ normalise_npi('source.npi') }} as npi,
        -- attributes
        {{ clean_upper('source.enumeration_type') }} as enumeration_type,
        {{ clean_string('source.first_name') }} as first_name,
        {{ clean_string('source.last_name') }} as last_name,
        {{ clean_string('source.middle_name') }} as middle_name,
        {{ clean_string('source.credential') }} as credential,
        {{ clean_string('source.organization_name') }} as organization_name,
        {{ clean_upper('source.gender') }} as gender,
        {{ clean_upper('source.status') }} as npi_status,
        {{ clean_upper('source.primary_taxonomy_code') }} as primary_taxonomy_code,
        {{ clean_string('source.primary_taxonomy_desc') }} as primary_taxonomy_description,
        {{ clean_upper('source.primary_taxonomy_state') }} as primary_taxonomy_state,
        {{ clean_string('source.practice_city') }} as practice_city,
        {{ clean_upper('source.practice_state') }} as practice_state,
        {{ clean_string('source.practice_postal_code') }} as practice_postal_code,
        -- dates
        {{ to_date('source.enumeration_date') }} as enumeration_date,
        {{ to_date('source.last_updated') }} as last_updated_date,
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
            partition by renamed.npi
            order by renamed.last_updated_date desc
        ) as version_rank
    from renamed
),

final as (
    select
        npi,
        enumeration_type,
        first_name,
        last_name,
        middle_name,
        credential,
        organization_name,
        gender,
        npi_status,
        primary_taxonomy_code,
        primary_taxonomy_description,
        primary_taxonomy_state,
        practice_city,
        practice_state,
        practice_postal_code,
        enumeration_date,
        last_updated_date,
        source_system,
        source_name,
        load_id,
        ingested_at
    from deduplicated
    where version_rank = 1 and npi is not null
)

select * from final
