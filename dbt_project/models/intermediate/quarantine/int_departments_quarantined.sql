-- Rows of int_departments_unioned that fail at least one quarantine rule, with the rules they fail.
with

departments as (
    select * from {{ ref('int_departments_unioned') }}
),

final as (
    select
        {{ column_list(cdm_department_columns()) }},
        failed_rules
    from departments
    where failed_rules is not null
)

select * from final
