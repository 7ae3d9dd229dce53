-- One row per department of either hospital, plus the unknown member.
with

departments as (
    select * from {{ ref('int_departments_conformed') }}
),

final as (
    select
        {{ surrogate_key(['department_id']) }} as department_key,
        department_id,
        source_department_id,
        department_name,
        source_system
    from departments
    union all
    select
        {{ unknown_key() }} as department_key,
        'unknown' as department_id,
        null as source_department_id,
        'Unknown' as department_name,
        'unknown' as source_system
)

select * from final
