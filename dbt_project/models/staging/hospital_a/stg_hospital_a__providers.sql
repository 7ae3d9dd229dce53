-- Hospital A providers, one row per provider: the shared logic is the stage_providers macro
-- (dbt_project/macros/staging/stage_providers.sql).
{{ stage_providers(source('hospital_a', 'providers')) }}
