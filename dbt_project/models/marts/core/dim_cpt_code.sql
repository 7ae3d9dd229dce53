-- One row per CPT code of the latest CPT list, plus the unknown member.
with

cpt_codes as (
    select * from {{ ref('stg_codesets__cpt_codes') }}
),

final as (
    select
        {{ surrogate_key(['cpt_code']) }} as cpt_code_key,
        cpt_code,
        cpt_category,
        cpt_description,
        code_status
    from cpt_codes
    union all
    select
        {{ unknown_key() }} as cpt_code_key,
        'unknown' as cpt_code,
        null as cpt_category,
        null as cpt_description,
        null as code_status
)

select * from final
