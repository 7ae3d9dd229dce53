-- Payers: transactions carry a payer code, claims the payer's name. The code-to-name crosswalk
-- is learnt from the data: the name most often seen on the claims of a code's transactions.
with

transactions as (
    select * from {{ ref('int_transactions_unioned') }}
),

claim_versions as (
    select * from {{ ref('int_claim_versions_unioned') }}
    where {{ is_true('is_latest_version') }}
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

names_per_code as (
    select
        transactions.payer_id,
        claim_versions.payer_name,
        claim_versions.payer_type,
        count(*) as claim_count
    from claim_versions
    inner join transactions on claim_versions.transaction_id = transactions.transaction_id
    where transactions.payer_id is not null and claim_versions.payer_name is not null
    group by transactions.payer_id, claim_versions.payer_name, claim_versions.payer_type
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
