-- Rows of int_providers_unioned that fail at least one quarantine rule, with the rules they fail.
with

providers as (
    select * from {{ ref('int_providers_unioned') }}
),

final as (
    select
        provider_id,
        source_provider_id,
        department_id,
        npi,
        first_name,
        last_name,
        specialty,
        is_valid_npi,
        has_registered_npi,
        source_system,
        source_name,
        load_id,
        ingested_at,
        failed_rules
    from providers
    where failed_rules is not null
)

select * from final
