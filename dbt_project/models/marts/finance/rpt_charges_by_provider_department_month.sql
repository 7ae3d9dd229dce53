-- One row per provider, department and service month (every year in the data): total charge
-- amount.
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

dates as (
    select * from {{ ref('dim_date') }}
),

final as (
    {{ charges_by_provider_department(by_service_month=true) }}
)

select * from final
