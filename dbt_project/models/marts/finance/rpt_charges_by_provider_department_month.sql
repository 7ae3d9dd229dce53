-- One row per provider, department and service month (every year in the data): total charge
-- amount. rpt_charges_by_provider_department sums these rows over the months.
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
    select
        transactions.provider_key,
        transactions.department_key,
        -- from the date itself, not dim_date: a service date outside dim_date's days keys its
        -- unknown member, and its charges still have a month
        cast({{ dbt.date_trunc('month', 'transactions.service_date') }} as date) as service_month,
        {{ date_part_of('year', 'transactions.service_date') }} as service_year,
        {{ date_part_of('month', 'transactions.service_date') }} as service_month_number,
        providers.provider_id,
        {{ dbt.concat([
            "coalesce(providers.provider_first_name, '')",
            "' '",
            "coalesce(providers.provider_last_name, '')",
        ]) }}
            as provider_name,
        departments.department_id,
        departments.department_name,
        count(*) as transaction_count,
        sum(transactions.charge_amount) as total_charge_amount,
        sum(transactions.paid_amount) as total_paid_amount
    from transactions
    inner join providers on transactions.provider_key = providers.provider_key
    inner join departments on transactions.department_key = departments.department_key
    group by
        transactions.provider_key,
        transactions.department_key,
        cast({{ dbt.date_trunc('month', 'transactions.service_date') }} as date),
        {{ date_part_of('year', 'transactions.service_date') }},
        {{ date_part_of('month', 'transactions.service_date') }},
        providers.provider_id,
        providers.provider_first_name,
        providers.provider_last_name,
        departments.department_id,
        departments.department_name
)

select * from final
