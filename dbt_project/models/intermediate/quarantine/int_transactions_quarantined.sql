-- Rows of int_transactions_unioned that fail at least one quarantine rule, with the rules they fail.
with

transactions as (
    select * from {{ ref('int_transactions_unioned') }}
),

final as (
    select
        {{ column_list(cdm_transaction_columns()) }},
        failed_rules
    from transactions
    where failed_rules is not null
)

select * from final
