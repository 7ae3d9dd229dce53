{{
    config(
        materialized='incremental',
        incremental_strategy=replace_scope_strategy(),
        replace_scope_macro='processed_transactions_scope',
        on_schema_change='fail'
    )
}}

-- Rows of int_transactions_unioned that fail at least one quarantine rule, with the rules they fail.
--
-- Incremental (strategy replace_scope, macro processed_transactions_scope): a run replaces the
-- rows of the transactions processed upstream since its last run with their failing rows (a
-- transaction whose new version passes leaves). A daily build at scale 10 rewrote all 101,953
-- quarantined rows, reading every column of the 10.2 M transactions to find them. A warehouse
-- built before this model was incremental has no processed_at here: `rcm build --full-refresh`.
with

transactions as (
    select * from {{ ref('int_transactions_unioned') }}
    where
        failed_rules is not null
        and {{ processed_since_last_run() if is_incremental() else '1 = 1' }}
),

final as (
    select
        {{ column_list(cdm_transaction_columns()) }},
        failed_rules,
        {{ processed_at() }} as processed_at
    from transactions
)

select * from final
