{#
    Quarantine rules. A rule is a (name, condition-that-fails) pair; the CDM models compute
    `failed_rules` (comma-separated names of the rules a row fails, null when it passes) and
    route rows to the clean or the quarantine model on it (or, over the claim versions view,
    where failed_rules is computed on every read, on rules_filter). Rules are declared once per
    entity here, so the clean model, the quarantine model and the tests agree.
#}

{% macro patient_quarantine_rules() -%}
    {{ return([
        ('missing_patient_id', 'source_patient_id is null'),
        ('missing_birth_date', 'birth_date is null'),
        ('missing_first_name', 'first_name is null'),
    ]) }}
{%- endmacro %}


{% macro transaction_quarantine_rules() -%}
    {{ return([
        ('missing_transaction_id', 'source_transaction_id is null'),
        ('missing_encounter_id', 'source_encounter_id is null'),
        ('missing_patient_id', 'source_patient_id is null'),
        ('missing_provider_id', 'source_provider_id is null'),
        ('missing_department_id', 'source_department_id is null'),
        ('missing_service_date', 'service_date is null'),
        ('missing_charge_amount', 'charge_amount is null'),
    ]) }}
{%- endmacro %}


{#- A claim version whose status is missing or not one of the seed claim_status_outcomes
    (`Appealed`, `paid`) has no KPI outcome: quarantined, it stays out of the status history
    and the facts, and the claim's latest version that passes is used instead. So is one
    without its claim amount, or a Paid one without its paid amount, which A/R and the
    collection rates would read as $0 (a claim of $0 in A/R, a claim paid $0): the claim stays
    as its last clean version says (open, unpaid) until a version with the amount arrives. -#}
{% macro claim_quarantine_rules() -%}
    {%- set statuses = "'" ~ known_claim_statuses() | join("', '") ~ "'" %}
    {{ return([
        ('missing_claim_id', 'source_claim_id is null'),
        ('missing_transaction_id', 'source_transaction_id is null'),
        ('missing_patient_id', 'source_patient_id is null'),
        ('missing_service_date', 'service_date is null'),
        ('unknown_claim_status', "coalesce(claim_status, '') not in (" ~ statuses ~ ")"),
        ('missing_claim_amount', 'claim_amount is null'),
        ('missing_paid_amount', "claim_status = 'Paid' and paid_amount is null"),
    ]) }}
{%- endmacro %}


{#- The statuses of the seed claim_status_outcomes (the singular test
    assert_claim_status_rule_matches_seed keeps the two the same). -#}
{% macro known_claim_statuses() -%}
    {{ return(['Pending', 'Approved', 'Paid', 'Denied', 'Rejected']) }}
{%- endmacro %}


{#- A filter on the same rules as failed_rules, without building its text: true when the row
    fails at least one rule (fails=true) or none (fails=false). A rule whose condition is null
    does not fail, as in failed_rules. Over the claim versions view (27 M rows at scale 10) it
    filters in a third to a half of the time of `failed_rules is [not] null`. -#}
{% macro rules_filter(rules, fails) -%}
    (case
        {%- for rule in rules %}
            when {{ rule[1] }} then 1
        {%- endfor %}
        else 0
    end) = {{ 1 if fails else 0 }}
{%- endmacro %}


{#- Comma-separated names of the failed rules, or null when every rule passes. -#}
{% macro failed_rules(rules) -%}
    {%- set pieces = [] -%}
    {%- for rule in rules -%}
        {%- do pieces.append("case when " ~ rule[1] ~ " then '," ~ rule[0] ~ "' else '' end") -%}
    {%- endfor -%}
    nullif(substring({{ dbt.concat(pieces) }}, 2, 1000), '')
{%- endmacro %}


{#- The rows that a run of a claim-grained incremental model replaces (strategy replace_scope:
    int_claims_conformed, int_claim_versions_quarantined): every row of the claims whose
    versions were processed since its last run. Staging rewrites every version of a claim that
    changed, so a claim whose versions now all fail the rules leaves the clean model, and one
    whose replayed version now passes leaves the quarantine. -#}
{% macro processed_claims_scope(relation) -%}
    {{ processed_keys_scope(relation, ref('int_claim_versions_unioned'), 'claim_id') }}
{%- endmacro %}


{#- The rows of int_claim_versions_quarantined that a run replaces (strategy replace_scope):
    those of the claims processed since its last run (processed_claims_scope), and every kept
    landing of a line without a claim id that landed again since then, so the run keeps the
    line's first landing among all of them, as a full build does, whichever order the loads
    were staged in. -#}
{% macro quarantined_claim_versions_scope(relation) -%}
    ({{ processed_claims_scope(relation) }})
    or (
        claim_id is null
        and {{ claim_line_fingerprint() }} in ({{ processed_claim_lines(relation) }})
    )
{%- endmacro %}


{#- The fingerprints of the claim lines without a claim id (claim_line_columns) that
    int_claim_versions_unioned processed since `relation`'s last run. -#}
{% macro processed_claim_lines(relation) -%}
    select {{ claim_line_fingerprint('processed.') }}
    from {{ ref('int_claim_versions_unioned') }} as processed
    where
        processed.source_claim_id is null
        and {{ processed_since_last_run('processed.processed_at', relation) }}
{%- endmacro %}


{#- A claims line's fingerprint: the md5 of its claim_line_columns as text. `prefix`: the
    columns' table alias and dot. -#}
{% macro claim_line_fingerprint(prefix='') -%}
    {%- set columns = [] -%}
    {%- for column in claim_line_columns() -%}
        {%- do columns.append(prefix ~ column) -%}
    {%- endfor -%}
    {{ hashed_id(columns) }}
{%- endmacro %}


{#- The rows of int_transactions_quarantined that a run replaces (strategy replace_scope): those
    of the transactions int_transactions_unioned processed since the model's last run. -#}
{% macro processed_transactions_scope(relation) -%}
    {{ processed_keys_scope(relation, ref('int_transactions_unioned'), 'transaction_id') }}
{%- endmacro %}


{#- The rows of `relation` whose `key_column` the upstream relation `processed` (a *_unioned
    model) processed since `relation`'s last run. -#}
{% macro processed_keys_scope(relation, processed, key_column) -%}
    {{ key_column }} in (
        select processed.{{ key_column }} from {{ processed }} as processed
        where {{ processed_since_last_run('processed.processed_at', relation) }}
    )
{%- endmacro %}
