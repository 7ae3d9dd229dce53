-- One row per payer (payer code of the transactions, named from the claims), plus the
-- unknown member.
with

payers as (
    select * from {{ ref('int_payers_conformed') }}
),

final as (
    select
        {{ surrogate_key(['payer_id']) }} as payer_key,
        payer_id,
        payer_name,
        payer_type,
        line_of_business
    from payers
    union all
    select
        {{ unknown_key() }} as payer_key,
        'unknown' as payer_id,
        'Unknown' as payer_name,
        null as payer_type,
        null as line_of_business
)

select * from final
