{{ config(materialized='table') }}

-- One row: the as-of date of the finance marts and the alerts, and the first month they cover.
-- As-of date: var('alerts_as_of_date') when set, else the latest claim modified date in the data
-- (never the wall clock). First month: the first month of service of any claim or transaction.
with

status_history as (
    select * from {{ ref('int_claim_status_history') }}
),

claims as (
    select * from {{ ref('fct_claims') }}
),

transactions as (
    select * from {{ ref('fct_transactions') }}
),

service_dates as (
    select service_date from claims
    union all
    select service_date from transactions
),

final as (
    select
        {%- if var('alerts_as_of_date', none) %}
            cast('{{ var("alerts_as_of_date") }}' as date) as as_of_date,
        {%- else %}
            (select max(cast(status_history.valid_from as date)) from status_history) as as_of_date,
        {%- endif %}
        (
            select cast({{ dbt.date_trunc('month', 'min(service_dates.service_date)') }} as date)
            from service_dates
        ) as first_month_start_date
)

select * from final
