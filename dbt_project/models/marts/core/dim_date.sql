-- One row per calendar day from var('dim_date_start') to var('dim_date_end'), plus the
-- unknown member.
with

spine as (
    {{ day_spine(var('dim_date_start'), var('dim_date_end')) }}
),

days as (
    select cast(date_day as date) as calendar_date
    from spine
),

final as (
    select
        {{ date_key('calendar_date') }} as date_key,
        calendar_date,
        {{ date_part_of('year', 'calendar_date') }} as calendar_year,
        {{ date_part_of('quarter', 'calendar_date') }} as calendar_quarter,
        {{ date_part_of('month', 'calendar_date') }} as calendar_month,
        {{ date_part_of('day', 'calendar_date') }} as day_of_month,
        cast({{ dbt.date_trunc('month', 'calendar_date') }} as date) as month_start_date
    from days
    union all
    select
        {{ unknown_key() }} as date_key,
        cast(null as date) as calendar_date,
        cast(null as {{ dbt.type_int() }}) as calendar_year,
        cast(null as {{ dbt.type_int() }}) as calendar_quarter,
        cast(null as {{ dbt.type_int() }}) as calendar_month,
        cast(null as {{ dbt.type_int() }}) as day_of_month,
        cast(null as date) as month_start_date
)

select * from final
