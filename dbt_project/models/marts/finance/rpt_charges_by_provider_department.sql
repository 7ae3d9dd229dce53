-- One row per provider and department: total charge amount (all years).
--
-- Summed from the monthly report, which already counts every transaction line once per
-- provider, department and service month (the unknown service date included); sums of its
-- decimal sums are exact. Grouping fct_transactions again took 0.5-0.8 s alone at scale 10
-- for the same 4,051 rows (benchmarks/README.md). The singular test
-- assert_report_charges_match_fct_transactions still ties both reports to fct_transactions.
with

charges_by_month as (
    select * from {{ ref('rpt_charges_by_provider_department_month') }}
),

final as (
    select
        provider_key,
        department_key,
        provider_id,
        provider_name,
        department_id,
        department_name,
        cast(sum(transaction_count) as {{ dbt.type_bigint() }}) as transaction_count,
        sum(total_charge_amount) as total_charge_amount,
        sum(total_paid_amount) as total_paid_amount
    from charges_by_month
    group by
        provider_key,
        department_key,
        provider_id,
        provider_name,
        department_id,
        department_name
)

select * from final
