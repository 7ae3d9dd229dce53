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

dates as (
    select * from {{ ref('dim_date') }}
),

final as (
    select
        transactions.provider_key,
        transactions.department_key,
        dates.month_start_date as service_month,
        dates.calendar_year as service_year,
        dates.calendar_month as service_month_number,
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
    inner join dates on transactions.service_date_key = dates.date_key
    group by
        transactions.provider_key,
        transactions.department_key,
        dates.month_start_date,
        dates.calendar_year,
        dates.calendar_month,
        providers.provider_id,
        providers.provider_first_name,
        providers.provider_last_name,
        departments.department_id,
        departments.department_name
)

select * from final
