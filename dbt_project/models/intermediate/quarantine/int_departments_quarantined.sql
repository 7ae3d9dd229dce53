-- Rows of int_departments_unioned that fail at least one quarantine rule, with the rules they fail.
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
        ingested_at,
        failed_rules
    from departments
    where failed_rules is not null
)

select * from final
