{#
    The columns of each CDM entity, in order, written once. Three models select them: the
    *_unioned model (all rows, plus failed_rules), the *_conformed model (rows that pass every
    quarantine rule) and the *_quarantined model (rows that fail one, plus failed_rules), so the
    clean and the quarantined rows always have the same shape.
#}

{#- A select list: the columns, one a line, comma-separated; `excluding` leaves some out. -#}
{% macro column_list(columns, excluding=[]) -%}
    {%- set kept = [] -%}
    {%- for column in columns -%}
        {%- if column not in excluding -%}
            {%- do kept.append(column) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ kept | join(',\n        ') }}
{%- endmacro %}


{#- Claim versions: one row per claim version (int_claim_versions_unioned). -#}
{% macro cdm_claim_version_columns() -%}
    {{ return([
        'claim_id',
        'source_claim_id',
        'transaction_id',
        'source_transaction_id',
        'patient_id',
        'source_patient_id',
        'encounter_id',
        'provider_id',
        'department_id',
        'payer_name',
        'payer_type',
        'claim_status',
        'denial_reason_code',
        'claim_amount',
        'allowed_amount',
        'paid_amount',
        'deductible_amount',
        'coinsurance_amount',
        'copay_amount',
        'patient_responsibility_amount',
        'service_date',
        'claim_date',
        'inserted_at',
        'modified_at',
        'is_latest_version',
        'source_system',
        'source_name',
        'source_row',
        'load_id',
        'ingested_at',
    ]) }}
{%- endmacro %}


{#- The claim version columns that say what a claims line is: all but where and when it landed.
    Two landings of a line without a claim id (a re-landed month) are the same line when these
    are equal; int_claim_versions_quarantined keeps it once. -#}
{% macro claim_line_columns() -%}
    {%- set lineage = ['source_name', 'source_row', 'load_id', 'ingested_at'] -%}
    {%- set columns = [] -%}
    {%- for column in cdm_claim_version_columns() if column not in lineage -%}
        {%- do columns.append(column) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}


{#- Transactions: one row per transaction (int_transactions_unioned). -#}
{% macro cdm_transaction_columns() -%}
    {{ return([
        'transaction_id',
        'source_transaction_id',
        'encounter_id',
        'source_encounter_id',
        'patient_id',
        'source_patient_id',
        'provider_id',
        'source_provider_id',
        'department_id',
        'source_department_id',
        'claim_id',
        'payer_id',
        'medicaid_id',
        'medicare_id',
        'procedure_code',
        'icd_code',
        'visit_type',
        'amount_type',
        'line_of_business',
        'charge_amount',
        'paid_amount',
        'visit_date',
        'service_date',
        'paid_date',
        'inserted_at',
        'modified_at',
        'has_known_cpt_code',
        'has_known_icd_code',
        'source_system',
        'source_name',
        'load_id',
        'ingested_at',
    ]) }}
{%- endmacro %}


{#- Encounters: one row per encounter (int_encounters_unioned). -#}
{% macro cdm_encounter_columns() -%}
    {{ return([
        'encounter_id',
        'source_encounter_id',
        'patient_id',
        'provider_id',
        'department_id',
        'procedure_code',
        'encounter_type',
        'encounter_date',
        'inserted_at',
        'modified_at',
        'has_known_cpt_code',
        'source_system',
        'source_name',
        'load_id',
        'ingested_at',
    ]) }}
{%- endmacro %}


{#- Patients: one row per patient (int_patients_unioned). -#}
{% macro cdm_patient_columns() -%}
    {{ return([
        'patient_id',
        'source_patient_id',
        'first_name',
        'last_name',
        'middle_name',
        'ssn',
        'phone_number',
        'address',
        'birth_date',
        'gender',
        'birth_year',
        'modified_at',
        'source_system',
        'source_name',
        'load_id',
        'ingested_at',
    ]) }}
{%- endmacro %}


{#- Providers: one row per provider (int_providers_unioned). -#}
{% macro cdm_provider_columns() -%}
    {{ return([
        'provider_id',
        'source_provider_id',
        'department_id',
        'npi',
        'first_name',
        'last_name',
        'specialty',
        'is_valid_npi',
        'has_registered_npi',
        'source_system',
        'source_name',
        'load_id',
        'ingested_at',
    ]) }}
{%- endmacro %}


{#- Departments: one row per department (int_departments_unioned). -#}
{% macro cdm_department_columns() -%}
    {{ return([
        'department_id',
        'source_department_id',
        'department_name',
        'source_system',
        'source_name',
        'load_id',
        'ingested_at',
    ]) }}
{%- endmacro %}
