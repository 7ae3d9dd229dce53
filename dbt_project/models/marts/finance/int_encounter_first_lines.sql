{{
    config(
        materialized='incremental',
        uncompressed_columns=['encounter_id', 'transaction_id'],
        incremental_strategy=replace_scope_strategy(),
        replace_scope_macro='encounter_first_lines_replaced_scope',
        on_schema_change='fail'
    )
}}
{{ require_integer_keys(['department_key']) }}

-- One row per encounter with a dated transaction line: its first line (by service date, then
-- transaction id), the one that counts the visit in kpi_monthly, with that line's slice
-- (service month, hospital, payer, department). Ranking every line of every encounter cost
-- kpi_monthly, a table rebuilt on every build, 10 of its 11 s at scale 10.
--
-- Incremental (strategy replace_scope, macro encounter_first_lines_replaced_scope): a run
-- re-ranks the lines of the encounters that changed since its last run and replaces their
-- rows. kpi_monthly counts the visits of the months up to the as-of month: an encounter whose
-- first line is later has every line later, as a full ranking of the months in range finds.
--
-- Runs after int_claim_kpi_outcomes (not a data dependency), where kpi_monthly ranked the
-- lines before: beside fct_ar_snapshots at scale 10 a full ranking would compete for memory.
-- depends_on: {{ ref('int_claim_kpi_outcomes') }}
-- depends_on: {{ ref('int_transactions_unioned') }} (read by the incremental runs' scope)
{%- set changed_encounters -%}
    {%- if is_incremental() -%}
        encounter_id in ({{ encounter_first_lines_changed(this) }})
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endset %}
with

lines as (
    select
        encounter_id,
        transaction_id,
        service_date,
        source_system,
        payer_key,
        department_key
    from {{ ref('fct_transactions') }}
    where
        encounter_id is not null
        and service_date is not null
        and {{ changed_encounters }}
),

ranked as (
    select
        lines.*,
        row_number() over (
            partition by lines.encounter_id
            order by lines.service_date, lines.transaction_id
        ) as line_rank
    from lines
),

final as (
    select
        -- grain
        encounter_id,
        -- the first line and its slice
        transaction_id,
        service_date,
        cast({{ dbt.date_trunc('month', 'service_date') }} as date) as month_start_date,
        source_system,
        payer_key,
        department_key,
        {{ processed_at() }} as processed_at
    from ranked
    where line_rank = 1
)

select * from final
