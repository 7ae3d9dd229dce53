-- Rows of int_transactions_unioned that pass every quarantine rule.
with

transactions as (
    select * from {{ ref('int_transactions_unioned') }}
),

final as (
    select
        {{ column_list(cdm_transaction_columns()) }}
    from transactions
    where failed_rules is null
)

select * from final
