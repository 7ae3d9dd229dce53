-- Rows of int_departments_unioned that pass every quarantine rule.
with

departments as (
    select * from {{ ref('int_departments_unioned') }}
),

final as (
    select
        department_id,
        source_department_id,
        department_name,
        source_system,
        source_name,
        load_id,
        ingested_at
    from departments
    where failed_rules is null
)

select * from final
