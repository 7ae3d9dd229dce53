-- Rows of int_departments_unioned that pass every quarantine rule.
with

departments as (
    select * from {{ ref('int_departments_unioned') }}
),

final as (
    select
        {{ column_list(cdm_department_columns()) }}
    from departments
    where failed_rules is null
)

select * from final
