{{
    config(
        materialized='incremental',
        uncompressed_columns=['claim_id'],
        incremental_strategy=replace_scope_strategy(),
        replace_scope_macro='ar_snapshot_replaced_scope',
        on_schema_change='fail'
    )
}}
{{ require_integer_keys(['claim_key']) }}

-- One row per open claim per month-end as-of date: the claim's balance as known at the end of
-- that day (its status-history version current then), split into payer and patient balances,
-- aged from the service date. Rules: _finance__docs.md (ar_as_of_rules).
--
-- Incremental (strategy replace_scope, macro ar_snapshot_replaced_scope): a run rewrites the
-- month ends from the latest one it holds (the as-of month moves with the data; once that month
-- end is complete, as of its own date, from the next one) and every month end of the claims
-- re-derived in fct_claims since its last run. Earlier month ends of the other claims cannot
-- change: their versions and attributes are what they were. A claim that left fct_claims
-- (every version now quarantined) loses its rows.
-- In a daily run the re-derived claims are computed from the status history at every month
-- end, and every other claim's rows in the rewritten month ends are its row at the latest month
-- end held, carried forward (macro ar_snapshot_carries_forward): it has no version known since
-- (a new version is processed upstream, and fct_claims re-derives its claim), so its balance,
-- status and attributes stay; only the as-of date, the age and the write-off window move.
-- Computing them all again read the 27 M status-history versions and joined 3.2 M open claims
-- to fct_claims every day at scale 10. When the held rows may predate a version processed
-- earlier (see the macro), every claim is computed in the rewritten month ends and the
-- re-derived claims in the earlier ones.
-- depends_on: {{ ref('int_claim_versions_unioned') }}
{%- set carry_forward = is_incremental() and ar_snapshot_carries_forward() %}
with

as_of as (
    select * from {{ ref('int_reporting_as_of') }}
),

dates as (
    select * from {{ ref('dim_date') }}
),

claims as (
    select * from {{ ref('fct_claims') }}
    {%- if carry_forward %}
        -- the claims computed from their versions: those re-derived since the last run
        where {{ processed_since_last_run('processed_at') }}
    {%- endif %}
),

-- Every month end from the first month of service to the as-of month; the as-of month's
-- balances are taken at the as-of date (the data knows nothing later).
month_ends as (
    select distinct
        cast({{ dbt.last_day('dates.month_start_date', 'month') }} as date) as month_end_date,
        as_of.as_of_date as data_as_of_date
    from dates
    inner join as_of
        on
            dates.month_start_date >= as_of.first_month_start_date
            and dates.calendar_date <= as_of.as_of_date
),

snapshot_dates as (
    select
        month_end_date,
        case
            when month_end_date < data_as_of_date then month_end_date
            else data_as_of_date
        end as as_of_date
    from month_ends
),

{%- if is_incremental() %}

-- the first month end this run rewrites: the latest one held (after it, when complete)
replaced_months as (
    select {{ ar_snapshot_replaced_from() }} as first_month_end_date
),
{%- if not carry_forward %}

-- the earliest as-of date of those month ends: a version superseded by then is in none of them
replaced_as_of as (
    select min(snapshot_dates.as_of_date) as first_as_of_date
    from snapshot_dates
    where snapshot_dates.month_end_date >= (select first_month_end_date from replaced_months)
),

changed_claims as (
    select changed.claim_id from {{ ref('fct_claims') }} as changed
    where {{ processed_since_last_run('changed.processed_at') }}
),
{%- endif %}
{%- endif %}

-- The version current at the end of each as-of date: known by then and not yet superseded.
-- Each part reads the status history with its own filter, applied before the range join: a
-- shared CTE of all versions would be materialized first (27 M rows at scale 10), and the
-- changed claims would be picked out only after the join (a day took 23 s instead of 4.5 s).
versions_as_of as (
    {%- if not is_incremental() %}
        {%- set parts = ['all'] %}
    {%- elif carry_forward %}
        {%- set parts = ['rederived_claims'] %}
    {%- else %}
        {%- set parts = ['latest_months', 'changed_claims'] %}
    {%- endif %}
    {%- for part in parts %}
        select
            snapshot_dates.month_end_date,
            snapshot_dates.as_of_date,
            versions.claim_id,
            versions.claim_status,
            versions.kpi_outcome,
            versions.claim_amount,
            versions.allowed_amount,
            versions.paid_amount,
            versions.patient_responsibility_amount,
            versions.known_date
        from snapshot_dates
        inner join (
            select
                claim_id,
                claim_status,
                kpi_outcome,
                claim_amount,
                allowed_amount,
                paid_amount,
                patient_responsibility_amount,
                cast(valid_from as date) as known_date,
                cast(valid_to as date) as superseded_date
            from {{ ref('int_claim_status_history') }}
            {%- if part == 'rederived_claims' %}
                where claim_id in (select claims.claim_id from claims)
            {%- elif part == 'latest_months' %}
                where
                    valid_to is null
                    or cast(valid_to as date) > (select first_as_of_date from replaced_as_of)
            {%- elif part == 'changed_claims' %}
                where claim_id in (select changed_claims.claim_id from changed_claims)
            {%- endif %}
        ) as versions
            on
                versions.known_date <= snapshot_dates.as_of_date
                and (
                    versions.superseded_date is null
                    or versions.superseded_date > snapshot_dates.as_of_date
                )
                -- written off after the window (filtered again below): bounding the join here
                -- keeps it to a few month ends per version instead of every later one
                and snapshot_dates.as_of_date <= {{ dbt.dateadd(
                    'day', var('ar_write_off_days'), 'versions.known_date') }}
        {%- if part == 'latest_months' %}
            where snapshot_dates.month_end_date >= (select first_month_end_date from replaced_months)
        {%- elif part == 'changed_claims' %}
            where snapshot_dates.month_end_date < (select first_month_end_date from replaced_months)
        {%- endif %}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

amounts as (
    select
        versions_as_of.month_end_date,
        versions_as_of.as_of_date,
        versions_as_of.claim_id,
        versions_as_of.claim_status,
        versions_as_of.kpi_outcome,
        versions_as_of.known_date as last_activity_date,
        claims.claim_key,
        claims.source_system,
        claims.payer_key,
        claims.payer_name,
        claims.payer_type,
        claims.department_key,
        claims.provider_key,
        claims.service_date,
        claims.claim_date,
        coalesce(versions_as_of.claim_amount, claims.claim_amount, 0) as charge_amount,
        coalesce(versions_as_of.paid_amount, 0) as paid_amount,
        -- contractual adjustment: claim amount - allowed amount, once the payer accepted it
        case
            when
                versions_as_of.kpi_outcome = 'accepted'
                and versions_as_of.allowed_amount < versions_as_of.claim_amount
                then versions_as_of.claim_amount - versions_as_of.allowed_amount
            else 0
        end as contractual_adjustment_amount,
        -- patient responsibility is owed by the patient once the payer accepted the claim
        case
            when versions_as_of.kpi_outcome = 'accepted'
                then coalesce(versions_as_of.patient_responsibility_amount, 0)
            else 0
        end as patient_responsibility_amount,
        {{ dbt.datediff('claims.service_date', 'versions_as_of.as_of_date', 'day') }}
            as age_days,
        {{ dbt.datediff('versions_as_of.known_date', 'versions_as_of.as_of_date', 'day') }}
            as days_since_activity
    from versions_as_of
    inner join claims on versions_as_of.claim_id = claims.claim_id
),

balances as (
    select
        amounts.*,
        case
            when amounts.charge_amount - amounts.paid_amount - amounts.contractual_adjustment_amount > 0
                then amounts.charge_amount - amounts.paid_amount - amounts.contractual_adjustment_amount
            else 0
        end as open_amount
    from amounts
),

split as (
    select
        balances.*,
        case
            when balances.payer_type = 'Self-pay' then balances.open_amount
            when balances.patient_responsibility_amount < balances.open_amount
                then balances.patient_responsibility_amount
            else balances.open_amount
        end as patient_amount
    from balances
),

-- the rows of the claims computed from their versions: open, and not written off
computed as (
    select
        month_end_date,
        claim_key,
        claim_id,
        source_system,
        payer_key,
        payer_name,
        payer_type,
        department_key,
        provider_key,
        as_of_date,
        service_date,
        claim_date,
        last_activity_date,
        claim_status,
        kpi_outcome,
        age_days,
        cast(charge_amount as decimal(18, 2)) as charge_amount,
        cast(paid_amount as decimal(18, 2)) as paid_amount,
        cast(contractual_adjustment_amount as decimal(18, 2)) as contractual_adjustment_amount,
        cast(open_amount - patient_amount as decimal(18, 2)) as payer_balance_amount,
        cast(patient_amount as decimal(18, 2)) as patient_balance_amount,
        cast(open_amount as decimal(18, 2)) as open_balance_amount
    from split
    where
        open_amount > 0
        -- a balance with no claim activity for longer than the write-off window leaves A/R
        and days_since_activity <= {{ var('ar_write_off_days') }}
),

{%- if carry_forward %}

-- The other claims' rows in the month ends this run rewrites: each open claim's row at the
-- latest month end held (neither re-derived nor gone from fct_claims: rederived_claims_scope),
-- at each of those month ends until its write-off window closes.
held_rows as (
    select * from {{ this }} as held
    where
        held.month_end_date = (select max(previous.month_end_date) from {{ this }} as previous)
        and not {{ rederived_claims_scope(this) | indent(8) }}
),

carried_forward as (
    select
        snapshot_dates.month_end_date,
        held_rows.claim_key,
        held_rows.claim_id,
        held_rows.source_system,
        held_rows.payer_key,
        held_rows.payer_name,
        held_rows.payer_type,
        held_rows.department_key,
        held_rows.provider_key,
        snapshot_dates.as_of_date,
        held_rows.service_date,
        held_rows.claim_date,
        held_rows.last_activity_date,
        held_rows.claim_status,
        held_rows.kpi_outcome,
        {{ dbt.datediff('held_rows.service_date', 'snapshot_dates.as_of_date', 'day') }}
            as age_days,
        held_rows.charge_amount,
        held_rows.paid_amount,
        held_rows.contractual_adjustment_amount,
        held_rows.payer_balance_amount,
        held_rows.patient_balance_amount,
        held_rows.open_balance_amount
    from held_rows
    inner join snapshot_dates
        on
            snapshot_dates.month_end_date >= (select first_month_end_date from replaced_months)
            and snapshot_dates.as_of_date <= {{ dbt.dateadd(
                'day', var('ar_write_off_days'), 'held_rows.last_activity_date') }}
),
{%- endif %}

snapshot_rows as (
    select * from computed
    {%- if carry_forward %}
        union all
        select * from carried_forward
    {%- endif %}
),

final as (
    select
        -- grain
        month_end_date,
        claim_key,
        -- ids and dimensions
        claim_id,
        source_system,
        payer_key,
        payer_name,
        payer_type,
        department_key,
        provider_key,
        -- dates
        as_of_date,
        service_date,
        claim_date,
        last_activity_date,
        -- status as of the date
        claim_status,
        kpi_outcome,
        -- aging
        age_days,
        case
            when age_days <= 30 then '0-30'
            when age_days <= 60 then '31-60'
            when age_days <= 90 then '61-90'
            when age_days <= 120 then '91-120'
            else '120+'
        end as aging_bucket,
        -- amounts
        charge_amount,
        paid_amount,
        contractual_adjustment_amount,
        payer_balance_amount,
        patient_balance_amount,
        open_balance_amount,
        {{ processed_at() }} as processed_at
    from snapshot_rows
)

select * from final
