{#
    Stage a hospital EMR's claims table, one row per claim version (claim, modified timestamp):
    rename, clean and type the Bronze columns; a version that landed twice (a replayed or
    overlapping file) is kept once, from the latest load; is_latest_version marks each claim's
    newest version. source_relation: the model's source() call.

    Incremental (the model's config: unique_key claim_id, replace_keys_strategy): a run reads
    the Bronze loads it has not read yet, adds the versions already staged of the claims they
    touch, and rewrites every version of those claims, so de-duplication and
    is_latest_version come out as a full build would make them.
#}
{% macro stage_claims(source_relation) -%}

with

source as (
    {{ bronze_rows_to_stage(source_relation) }}
),

renamed as (
    select
        -- ids
        {{ clean_string('ClaimID') }} as claim_id,
        {{ clean_string('TransactionID') }} as transaction_id,
        {{ clean_string('PatientID') }} as patient_id,
        {{ clean_string('EncounterID') }} as encounter_id,
        {{ clean_string('ProviderID') }} as provider_id,
        {{ clean_string('DeptID') }} as department_id,
        -- attributes
        {{ clean_string('PayorID') }} as payer_name,
        {{ clean_string('PayorType') }} as payer_type,
        {{ clean_string('ClaimStatus') }} as claim_status,
        {{ clean_upper('DenialReasonCode') }} as denial_reason_code,
        -- amounts
        {{ to_money('ClaimAmount') }} as claim_amount,
        {{ to_money('AllowedAmount') }} as allowed_amount,
        {{ to_money('PaidAmount') }} as paid_amount,
        {{ to_money('Deductible') }} as deductible_amount,
        {{ to_money('Coinsurance') }} as coinsurance_amount,
        {{ to_money('Copay') }} as copay_amount,
        -- dates
        {{ to_date('ServiceDate') }} as service_date,
        {{ to_date('ClaimDate') }} as claim_date,
        {{ to_timestamp('InsertDate') }} as inserted_at,
        {{ to_timestamp('ModifiedDate') }} as modified_at,
        -- lineage
        _source_system as source_system,
        _source_name as source_name,
        {{ dbt.safe_cast('_source_row', dbt.type_bigint()) }} as source_row,
        _load_id as load_id,
        cast(_ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source
),

-- the new versions, with (incremental runs) the versions already staged of the same claims
candidates as (
    {{ with_staged_rows_of_same_keys('renamed', 'claim_id', stage_claim_columns()) }}
),

-- A claim appears in every monthly file in which it changed: one row per claim version
-- (claim, modified timestamp). The same version landed twice (a replayed or overlapping
-- file) is kept once, from the latest load. One window does both jobs: in a claim's rows,
-- newest version first and the latest load first within a version, a row whose version
-- differs from the row before it is the one kept, and the first row is the latest version.
ranked as (
    select
        candidates.*,
        row_number() over (
            partition by candidates.claim_id
            order by
                candidates.modified_at desc, candidates.load_id desc,
                candidates.source_name desc, candidates.source_row desc
        ) as claim_rank,
        lag(candidates.modified_at) over (
            partition by candidates.claim_id
            order by
                candidates.modified_at desc, candidates.load_id desc,
                candidates.source_name desc, candidates.source_row desc
        ) as newer_modified_at
    from candidates
),

versions as (
    select *
    from ranked
    where
        claim_id is null
        or claim_rank = 1
        -- the version differs from the row before it (a missing modified_at is a version too)
        or modified_at <> newer_modified_at
        or (modified_at is null and newer_modified_at is not null)
        or (modified_at is not null and newer_modified_at is null)
),

final as (
    select
        claim_id,
        transaction_id,
        patient_id,
        encounter_id,
        provider_id,
        department_id,
        payer_name,
        payer_type,
        claim_status,
        denial_reason_code,
        claim_amount,
        allowed_amount,
        paid_amount,
        deductible_amount,
        coinsurance_amount,
        copay_amount,
        service_date,
        claim_date,
        inserted_at,
        modified_at,
        case
            when claim_id is null or claim_rank = 1 then {{ bool_true() }}
            else {{ bool_false() }}
        end as is_latest_version,
        source_system,
        source_name,
        source_row,
        load_id,
        ingested_at,
        {{ processed_at() }} as processed_at
    from versions
)

select * from final
{%- endmacro %}


{#- The staged claim columns that come from Bronze (all but is_latest_version and processed_at),
    in the order of the `renamed` step. -#}
{% macro stage_claim_columns() -%}
    {{ return([
        'claim_id', 'transaction_id', 'patient_id', 'encounter_id', 'provider_id',
        'department_id', 'payer_name', 'payer_type', 'claim_status', 'denial_reason_code',
        'claim_amount', 'allowed_amount', 'paid_amount', 'deductible_amount',
        'coinsurance_amount', 'copay_amount', 'service_date', 'claim_date', 'inserted_at',
        'modified_at', 'source_system', 'source_name', 'source_row', 'load_id', 'ingested_at',
    ]) }}
{%- endmacro %}
