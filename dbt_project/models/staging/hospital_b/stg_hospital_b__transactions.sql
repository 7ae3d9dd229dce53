-- Hospital B transactions, one row per transaction: the shared logic is the stage_transactions macro
-- (dbt_project/macros/staging/stage_transactions.sql).
{{ stage_transactions(source('hospital_b', 'transactions')) }}
