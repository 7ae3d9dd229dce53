-- One row per alert that needs action as of the as-of date (var alerts_as_of_date, else the
-- latest claim modified date). alert_id hashes the alert type, hospital and subject, so an alert
-- keeps its id from one run to the next. Rules: _alerts__models.yml.
with

as_of as (
    select * from {{ ref('int_reporting_as_of') }}
),

-- read by two parts, each with its own filter (cte_materialization)
claim_outcomes as {{ cte_materialization(materialized=false) }} (
    select * from {{ ref('int_claim_kpi_outcomes') }}
),

ar_snapshots as (
    select * from {{ ref('fct_ar_snapshots') }}
),

-- the A/R at the as-of date: the snapshot of the as-of month
current_ar as (
    select ar_snapshots.*
    from ar_snapshots
    inner join as_of on ar_snapshots.as_of_date = as_of.as_of_date
),

-- 1. claims denied within the last alert_denied_within_days days, still denied
denied_recently as (
    select
        'claim_denied_recently' as alert_type,
        case
            when claim_outcomes.claim_amount >= {{ var('alert_high_amount') }} then 'high'
            else 'medium'
        end as severity,
        claim_outcomes.source_system,
        claim_outcomes.claim_id as subject,
        {{ dbt.concat([
            "'Claim '", "claim_outcomes.claim_id", "' (' ", "claim_outcomes.payer_name",
            "') was denied on '", "cast(claim_outcomes.status_date as " ~ dbt.type_string() ~ ")",
            "' for $'", "cast(claim_outcomes.claim_amount as " ~ dbt.type_string() ~ ")",
            "'; reason '", "coalesce(claim_outcomes.initial_denial_reason_code, 'unknown')", "'.'",
        ]) }} as detail,
        claim_outcomes.claim_amount as amount,
        as_of.as_of_date
    from claim_outcomes
    cross join as_of
    where
        claim_outcomes.current_outcome = 'denied'
        and {{ dbt.datediff('claim_outcomes.status_date', 'as_of.as_of_date', 'day') }}
        <= {{ var('alert_denied_within_days') }}
),

-- 2. open claims older than 90 days (from service) not paid at all: no payment and not in status Paid
unpaid_over_90 as (
    select
        'claim_unpaid_over_90_days' as alert_type,
        case
            when current_ar.open_balance_amount >= {{ var('alert_high_amount') }} then 'high'
            when current_ar.age_days > 120 then 'medium'
            else 'low'
        end as severity,
        current_ar.source_system,
        current_ar.claim_id as subject,
        {{ dbt.concat([
            "'Claim '", "current_ar.claim_id", "' (' ", "coalesce(current_ar.payer_name, 'Unknown')",
            "', ' ", "current_ar.claim_status", "') is unpaid '",
            "cast(current_ar.age_days as " ~ dbt.type_string() ~ ")",
            "' days after service; open balance $'",
            "cast(current_ar.open_balance_amount as " ~ dbt.type_string() ~ ")", "'.'",
        ]) }} as detail,
        current_ar.open_balance_amount as amount,
        current_ar.as_of_date
    from current_ar
    where
        current_ar.age_days > 90
        and current_ar.paid_amount = 0
        and current_ar.claim_status <> 'Paid'
),

-- 3. hospitals whose A/R over 90 days is above the threshold share of their A/R
hospital_ar as (
    select
        source_system,
        as_of_date,
        sum(open_balance_amount) as ar_amount,
        sum(case when age_days > 90 then open_balance_amount else 0 end) as ar_over_90_amount
    from current_ar
    group by source_system, as_of_date
),

ar_over_90 as (
    select
        'ar_over_90_above_threshold' as alert_type,
        case
            when
                hospital_ar.ar_over_90_amount
                >= hospital_ar.ar_amount * ({{ var('alert_ar_over_90_pct_threshold') }} + 0.10)
                then 'high'
            else 'medium'
        end as severity,
        hospital_ar.source_system,
        hospital_ar.source_system as subject,
        {{ dbt.concat([
            "'A/R over 90 days is '",
            "cast(cast(100.0 * hospital_ar.ar_over_90_amount / hospital_ar.ar_amount as decimal(9, 1)) as "
            ~ dbt.type_string() ~ ")",
            "'% of A/R at '", "hospital_ar.source_system", "' ($'",
            "cast(hospital_ar.ar_over_90_amount as " ~ dbt.type_string() ~ ")", "' of $'",
            "cast(hospital_ar.ar_amount as " ~ dbt.type_string() ~ ")",
            "'), above the '",
            "cast(cast(100.0 * " ~ var('alert_ar_over_90_pct_threshold') ~ " as decimal(9, 1)) as "
            ~ dbt.type_string() ~ ")",
            "'% threshold.'",
        ]) }} as detail,
        hospital_ar.ar_over_90_amount as amount,
        hospital_ar.as_of_date
    from hospital_ar
    where
        hospital_ar.ar_amount > 0
        and hospital_ar.ar_over_90_amount
        > hospital_ar.ar_amount * {{ var('alert_ar_over_90_pct_threshold') }}
),

-- 4. payers whose initial denial rate this month jumped above their previous 3 months' rate
payer_months as (
    select
        claim_outcomes.source_system,
        claim_outcomes.payer_name,
        case
            when
                claim_outcomes.submission_month_start_date
                = {{ dbt.date_trunc('month', 'as_of.as_of_date') }}
                then 'current'
            else 'previous'
        end as period,
        sum(case when {{ is_true('claim_outcomes.is_adjudicated') }} then 1 else 0 end) as claims_adjudicated,
        sum(case when {{ is_true('claim_outcomes.is_initially_denied') }} then 1 else 0 end) as claims_initially_denied,
        sum(case when {{ is_true('claim_outcomes.is_initially_denied') }} then claim_outcomes.claim_amount else 0 end)
            as denied_amount
    from claim_outcomes
    cross join as_of
    where
        claim_outcomes.submission_month_start_date
        >= {{ dbt.dateadd('month', -3, dbt.date_trunc('month', 'as_of.as_of_date')) }}
        and claim_outcomes.submission_month_start_date
        <= {{ dbt.date_trunc('month', 'as_of.as_of_date') }}
    group by
        claim_outcomes.source_system,
        claim_outcomes.payer_name,
        case
            when
                claim_outcomes.submission_month_start_date
                = {{ dbt.date_trunc('month', 'as_of.as_of_date') }}
                then 'current'
            else 'previous'
        end
),

payer_rates as (
    select
        current_month.source_system,
        current_month.payer_name,
        current_month.claims_adjudicated,
        current_month.denied_amount,
        1.0 * current_month.claims_initially_denied / current_month.claims_adjudicated as current_rate,
        1.0 * previous_months.claims_initially_denied / previous_months.claims_adjudicated as previous_rate
    from payer_months as current_month
    inner join payer_months as previous_months
        on
            current_month.source_system = previous_months.source_system
            and current_month.payer_name = previous_months.payer_name
            and previous_months.period = 'previous'
    where
        current_month.period = 'current'
        and current_month.claims_adjudicated >= {{ var('alert_denial_rate_min_claims') }}
        and previous_months.claims_adjudicated > 0
),

denial_rate_jump as (
    select
        'payer_denial_rate_jump' as alert_type,
        case
            when payer_rates.current_rate - payer_rates.previous_rate > 2 * {{ var('alert_denial_rate_jump') }}
                then 'high'
            else 'medium'
        end as severity,
        payer_rates.source_system,
        payer_rates.payer_name as subject,
        {{ dbt.concat([
            "payer_rates.payer_name", "' initial denial rate at '", "payer_rates.source_system",
            "' is '",
            "cast(cast(100.0 * payer_rates.current_rate as decimal(9, 1)) as " ~ dbt.type_string() ~ ")",
            "'% this month ('", "cast(payer_rates.claims_adjudicated as " ~ dbt.type_string() ~ ")",
            "' claims adjudicated) against '",
            "cast(cast(100.0 * payer_rates.previous_rate as decimal(9, 1)) as " ~ dbt.type_string() ~ ")",
            "'% over the previous 3 months.'",
        ]) }} as detail,
        payer_rates.denied_amount as amount,
        as_of.as_of_date
    from payer_rates
    cross join as_of
    where payer_rates.current_rate - payer_rates.previous_rate > {{ var('alert_denial_rate_jump') }}
),

unioned as (
    select * from denied_recently
    union all
    select * from unpaid_over_90
    union all
    select * from ar_over_90
    union all
    select * from denial_rate_jump
),

final as (
    select
        {{ hashed_id(['alert_type', 'source_system', 'subject']) }} as alert_id,
        alert_type,
        severity,
        source_system,
        subject,
        detail,
        cast(amount as decimal(18, 2)) as amount,
        cast(as_of_date as date) as as_of_date
    from unioned
)

select * from final
