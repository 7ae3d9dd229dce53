-- Rows of int_providers_unioned that fail at least one quarantine rule, with the rules they fail.
with

providers as (
    select * from {{ ref('int_providers_unioned') }}
),

final as (
    select
        {{ column_list(cdm_provider_columns()) }},
        failed_rules
    from providers
    where failed_rules is not null
)

select * from final
