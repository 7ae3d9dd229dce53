-- Payers: transactions carry a payer code, claims the payer's name. The code-to-name crosswalk
-- is learnt from the data: the name most often seen on the claims of a code's transactions
-- (the latest version of each claim with an id, int_claim_payers).
with

transactions as (
    select * from {{ ref('int_transactions_unioned') }}
),

claim_payers as (
    select * from {{ ref('int_claim_payers') }}
),

payer_codes as (
    select
        payer_id,
        min(line_of_business) as line_of_business,
        count(*) as transaction_count
    from transactions
    where payer_id is not null
    group by payer_id
),

-- each claim's payer code comes from its transaction (int_claim_payers)
names_per_code as (
    select
        payer_id,
        payer_name,
        payer_type,
        count(*) as claim_count
    from claim_payers
    where payer_id is not null and payer_name is not null
    group by payer_id, payer_name, payer_type
),

ranked_names as (
    select
        names_per_code.*,
        row_number() over (
            partition by names_per_code.payer_id
            order by names_per_code.claim_count desc, names_per_code.payer_name
        ) as name_rank
    from names_per_code
),

final as (
    select
        payer_codes.payer_id,
        ranked_names.payer_name,
        ranked_names.payer_type,
        payer_codes.line_of_business,
        payer_codes.transaction_count,
        coalesce(ranked_names.claim_count, 0) as claim_count
    from payer_codes
    left join ranked_names
        on
            payer_codes.payer_id = ranked_names.payer_id
            and ranked_names.name_rank = 1
)

select * from final
