{#
    Charges per provider and department: transaction count and total charge and paid amounts;
    by_service_month=true: one row per service month too, the select of
    rpt_charges_by_provider_department_month (rpt_charges_by_provider_department sums that
    report over the months). The calling model defines the CTEs `transactions`
    (fct_transactions), `providers` (dim_provider), `departments` (dim_department) and, by
    month, `dates` (dim_date).
#}
{% macro charges_by_provider_department(by_service_month=false) -%}
    select
        transactions.provider_key,
        transactions.department_key,
        {%- if by_service_month %}
        dates.month_start_date as service_month,
        dates.calendar_year as service_year,
        dates.calendar_month as service_month_number,
        {%- endif %}
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
    {%- if by_service_month %}
    inner join dates on transactions.service_date_key = dates.date_key
    {%- endif %}
    group by
        transactions.provider_key,
        transactions.department_key,
        {%- if by_service_month %}
        dates.month_start_date,
        dates.calendar_year,
        dates.calendar_month,
        {%- endif %}
        providers.provider_id,
        providers.provider_first_name,
        providers.provider_last_name,
        departments.department_id,
        departments.department_name
{%- endmacro %}
