-- One row per provider and department: total charge amount (all years).
with

transactions as (
    select * from {{ ref('fct_transactions') }}
),

providers as (
    select * from {{ ref('dim_provider') }}
),

departments as (
    select * from {{ ref('dim_department') }}
),

final as (
    {{ charges_by_provider_department() }}
)

select * from final
