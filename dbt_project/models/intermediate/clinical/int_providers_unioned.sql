with

hospital_a as (
    select * from {{ ref('stg_hospital_a__providers') }}
),

hospital_b as (
    select * from {{ ref('stg_hospital_b__providers') }}
),

npi_registry as (
    select npi from {{ ref('stg_codesets__npis') }}
),

unioned as (
    select
        provider_id, department_id, npi, first_name, last_name, specialty,
        source_system, source_name, load_id, ingested_at
    from hospital_a
    union all
    select
        provider_id, department_id, npi, first_name, last_name, specialty,
        source_system, source_name, load_id, ingested_at
    from hospital_b
),

conformed as (
    select
        -- ids
        {{ qualified_id('unioned.source_system', 'unioned.provider_id') }} as provider_id,
        unioned.provider_id as source_provider_id,
        {{ qualified_id('unioned.source_system', 'unioned.department_id') }} as department_id,
        unioned.npi,
        -- attributes
        unioned.first_name,
        unioned.last_name,
        unioned.specialty,
        -- quality flags
        {{ npi_check_digit_is_valid('unioned.npi') }} as is_valid_npi,
        case when npi_registry.npi is null then {{ bool_false() }} else {{ bool_true() }} end as has_registered_npi,
        -- lineage
        unioned.source_system,
        unioned.source_name,
        unioned.load_id,
        unioned.ingested_at
    from unioned
    left join npi_registry on unioned.npi = npi_registry.npi
),

final as (
    select
        {{ column_list(cdm_provider_columns()) }},
        {{ failed_rules([('missing_provider_id', 'source_provider_id is null')]) }} as failed_rules
    from conformed
)

select * from final
