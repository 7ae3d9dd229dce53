with

hospital_a as (
    select * from {{ ref('stg_hospital_a__departments') }}
),

hospital_b as (
    select * from {{ ref('stg_hospital_b__departments') }}
),

unioned as (
    select department_id, department_name, source_system, source_name, load_id, ingested_at
    from hospital_a
    union all
    select department_id, department_name, source_system, source_name, load_id, ingested_at
    from hospital_b
),

final as (
    select
        {{ qualified_id('source_system', 'department_id') }} as department_id,
        department_id as source_department_id,
        department_name,
        source_system,
        source_name,
        load_id,
        ingested_at,
        {{ failed_rules([('missing_department_id', 'department_id is null')]) }} as failed_rules
    from unioned
)

select * from final
