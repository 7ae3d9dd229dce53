{#
    Stage a hospital EMR's transactions table, one row per transaction: rename, clean and type
    the Bronze columns and keep each transaction's latest version across replayed and
    incremental loads. source_relation: the model's source() call.

    Incremental (the model's config: unique_key transaction_id, replace_keys_strategy): a run
    reads the Bronze loads it has not read yet and ranks their rows with the row already
    staged for the same transaction, so the latest version wins as in a full build.
#}
{% macro stage_transactions(source_relation) -%}

with

source as (
    {{ bronze_rows_to_stage(source_relation) }}
),

renamed as (
    select
        -- ids
        {{ clean_string('TransactionID') }} as transaction_id,
        {{ clean_string('EncounterID') }} as encounter_id,
        {{ clean_string('PatientID') }} as patient_id,
        {{ clean_string('ProviderID') }} as provider_id,
        {{ clean_string('DeptID') }} as department_id,
        {{ clean_string('ClaimID') }} as claim_id,
        {{ clean_string('PayorID') }} as payer_id,
        {{ clean_string('MedicaidID') }} as medicaid_id,
        {{ clean_string('MedicareID') }} as medicare_id,
        -- codes
        {{ clean_upper('ProcedureCode') }} as procedure_code,
        {{ normalise_icd('ICDCode') }} as icd_code,
        -- attributes
        {{ clean_string('VisitType') }} as visit_type,
        {{ clean_string('AmountType') }} as amount_type,
        {{ clean_string('LineOfBusiness') }} as line_of_business,
        -- amounts
        {{ to_money('Amount') }} as charge_amount,
        {{ to_money('PaidAmount') }} as paid_amount,
        -- dates
        {{ to_date('VisitDate') }} as visit_date,
        {{ to_date('ServiceDate') }} as service_date,
        {{ to_date('PaidDate') }} as paid_date,
        {{ to_timestamp('InsertDate') }} as inserted_at,
        {{ to_timestamp('ModifiedDate') }} as modified_at,
        -- lineage
        _source_system as source_system,
        _source_name as source_name,
        _load_id as load_id,
        cast(_ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
),

{{ latest_version_per_key(
    'transaction_id', stage_transaction_columns(), order_by=['modified_at desc', 'load_id desc']
) }}

select * from final
{%- endmacro %}


{#- The staged transaction columns that come from Bronze (all but processed_at), in the order
    of the `renamed` step. -#}
{% macro stage_transaction_columns() -%}
    {{ return([
        'transaction_id', 'encounter_id', 'patient_id', 'provider_id', 'department_id',
        'claim_id', 'payer_id', 'medicaid_id', 'medicare_id', 'procedure_code', 'icd_code',
        'visit_type', 'amount_type', 'line_of_business', 'charge_amount', 'paid_amount',
        'visit_date', 'service_date', 'paid_date', 'inserted_at', 'modified_at',
        'source_system', 'source_name', 'load_id', 'ingested_at',
    ]) }}
{%- endmacro %}
