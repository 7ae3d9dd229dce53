-- One row per NPI of the NPPES registry extract, plus the unknown member.
with

npis as (
    select * from {{ ref('stg_codesets__npis') }}
),

final as (
    select
        {{ surrogate_key(['npi']) }} as npi_key,
        npi,
        enumeration_type,
        first_name as registered_first_name,
        last_name as registered_last_name,
        credential,
        organization_name,
        npi_status,
        primary_taxonomy_code,
        primary_taxonomy_description,
        practice_city,
        practice_state,
        enumeration_date,
        last_updated_date
    from npis
    union all
    select
        {{ unknown_key() }} as npi_key,
        'unknown' as npi,
        null as enumeration_type,
        null as registered_first_name,
        null as registered_last_name,
        null as credential,
        null as organization_name,
        null as npi_status,
        null as primary_taxonomy_code,
        null as primary_taxonomy_description,
        null as practice_city,
        null as practice_state,
        cast(null as date) as enumeration_date,
        cast(null as date) as last_updated_date
)

select * from final
