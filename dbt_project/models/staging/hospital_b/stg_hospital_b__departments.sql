-- Hospital B departments, one row per department: the shared logic is the stage_departments macro
-- (dbt_project/macros/staging/stage_departments.sql).
{{ stage_departments(source('hospital_b', 'departments')) }}
