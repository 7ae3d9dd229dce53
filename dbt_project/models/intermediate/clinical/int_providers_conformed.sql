-- Rows of int_providers_unioned that pass every quarantine rule.
with

providers as (
    select * from {{ ref('int_providers_unioned') }}
),

final as (
    select
        {{ column_list(cdm_provider_columns()) }}
    from providers
    where failed_rules is null
)

select * from final
