{#
    Stage a hospital EMR's claims table, one row per claim version (claim, modified timestamp):
    rename, clean and type the Bronze columns; a version that landed twice (a replayed or
    overlapping file) is kept once, from the latest load; is_latest_version marks each claim's
    newest version. source_relation: the model's source() call.

    Incremental (the model's config: unique_key claim_id, replace_keys_strategy): a run reads
    the Bronze loads it has not read yet, adds the versions already staged of the claims they
    touch, and rewrites every version of those claims, so de-duplication and
    is_latest_version come out as a full build would make them.

    A line without a ClaimID (the CDM quarantines it) has no key to replace: the same line
    landed twice is kept once, from its first landing, and an incremental run adds only the
    keyless lines whose values no staged keyless line has.
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

-- A line without a ClaimID: the same values landed twice (a re-landed month, a line repeated
-- in a file) are one line, kept from its first landing (load, file, line), so that quarantine
-- counts it once. An incremental run ranks the new such lines after the staged ones (the
-- delete by key never reaches a staged keyless line) and keeps the new lines that rank first.
keyless_lines as (
    select
        {{ column_list(stage_claim_columns()) }},
        1 as from_new_load
    from renamed
    where claim_id is null
    {%- if is_incremental() %}
        union all
        select
            {{ column_list(stage_claim_columns()) }},
            0 as from_new_load
        from {{ this }}
        where claim_id is null
    {%- endif %}
),

keyless_first_landing as (
    select
        keyless_lines.*,
        row_number() over (
            partition by
                {%- for column in stage_claim_value_columns() %}
                    keyless_lines.{{ column }}{{ "," if not loop.last }}
                {%- endfor %}
            order by
                keyless_lines.from_new_load, keyless_lines.load_id,
                keyless_lines.source_name, keyless_lines.source_row
        ) as landing_rank
    from keyless_lines
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
    where candidates.claim_id is not null
),

versions as (
    select
        {{ column_list(stage_claim_columns()) }},
        claim_rank
    from ranked
    where
        claim_rank = 1
        -- the version differs from the row before it (a missing modified_at is a version too)
        or modified_at <> newer_modified_at
        or (modified_at is null and newer_modified_at is not null)
        or (modified_at is not null and newer_modified_at is null)
    union all
    select
        {{ column_list(stage_claim_columns()) }},
        1 as claim_rank
    from keyless_first_landing
    where landing_rank = 1 and from_new_load = 1
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
            when claim_rank = 1 then {{ bool_true() }}
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


{#- The staged claim columns that hold the line's values (all but the id, always null where
    they are compared, and the lineage columns): two keyless lines are the same line when these
    are. -#}
{% macro stage_claim_value_columns() -%}
    {{ return(stage_claim_columns()[1:20]) }}
{%- endmacro %}
