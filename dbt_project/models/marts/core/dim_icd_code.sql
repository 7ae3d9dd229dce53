-- One row per ICD-10-CM code, plus the unknown member.
with

icd_codes as (
    select * from {{ ref('stg_codesets__icd10cm_codes') }}
),

final as (
    select
        {{ surrogate_key(['icd_code']) }} as icd_code_key,
        icd_code,
        icd_code_dotted,
        icd_description,
        is_billable
    from icd_codes
    union all
    select
        {{ unknown_key() }} as icd_code_key,
        'unknown' as icd_code,
        'unknown' as icd_code_dotted,
        null as icd_description,
        cast(null as {{ bool_type() }}) as is_billable
)

select * from final
