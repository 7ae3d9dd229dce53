-- Every Bronze row of the EMR and claims tables is in staging, or explained: it is a
-- superseded version (an older or replayed version of a key that staging keeps), or a provider
-- of an older full load that the latest one lacks (deleted in the EMR). Returns the
-- Bronze keys (or claim versions) that staging lost.
-- Which rows: all of them, or under `rcm build` on top of a recorded successful build of the
-- same project, the rows of the loads that build did not read (macro reconcile_scope) and,
-- for claims, every version of the claims those loads touch (staging rewrites them all).
{%- set entities = [
    ('patients', {'hospital_a': 'PatientID', 'hospital_b': 'ID'}, 'patient_id'),
    ('providers', {'hospital_a': 'ProviderID', 'hospital_b': 'ProviderID'}, 'provider_id'),
    ('encounters', {'hospital_a': 'EncounterID', 'hospital_b': 'EncounterID'}, 'encounter_id'),
    ('transactions', {'hospital_a': 'TransactionID', 'hospital_b': 'TransactionID'}, 'transaction_id'),
] %}

with

lost as (
    {%- for hospital in ['hospital_a', 'hospital_b'] %}
        {%- for table, source_keys, key in entities %}
            select
                '{{ hospital }}' as source_system,
                '{{ table }}' as table_name,
                bronze.bronze_key as missing_key
            from (
                select {{ clean_string(source_keys[hospital]) }} as bronze_key
                from {{ source(hospital, table) }}
                where
                    {{ reconcile_scope() }}
                    {%- if table == 'providers' %}
                        -- a full load: a provider of an older load that the latest one lacks
                        -- was deleted in the EMR (snap_providers records its deletion)
                        and _load_id = (
                            select max(latest._load_id) from {{ source(hospital, table) }} as latest
                        )
                    {%- endif %}
            ) as bronze
            left join {{ ref('stg_' ~ hospital ~ '__' ~ table) }} as staged
                on bronze.bronze_key = staged.{{ key }}
            where bronze.bronze_key is not null and staged.{{ key }} is null
            union all
        {%- endfor %}
        select
            '{{ hospital }}' as source_system,
            'claims' as table_name,
            bronze.bronze_key as missing_key
        from (
            {%- if reconcile_loads() is none %}
                select
                    {{ clean_string('ClaimID') }} as bronze_key,
                    {{ to_timestamp('ModifiedDate') }} as modified_at
                from {{ source(hospital, 'claims') }}
            {%- else %}
                -- staging rewrites every version of a claim that a new load touches: check
                -- every Bronze version of those claims, from whichever load. A cleaned id is
                -- never blank nor 'null', so on the rows whose trimmed id is one, trim() is
                -- the cleaned id and is not null: it alone is computed over every Bronze
                -- claim row (the full cleaning there, pushed into the scan as a not-null
                -- filter, took half of the test's time at scale 10)
                select
                    trim(ClaimID) as bronze_key,
                    {{ to_timestamp('ModifiedDate') }} as modified_at
                from {{ source(hospital, 'claims') }}
                where trim(ClaimID) in (
                    select {{ clean_string('ClaimID') }}
                    from {{ source(hospital, 'claims') }}
                    where {{ reconcile_scope() }}
                )
            {%- endif %}
        ) as bronze
        left join {{ ref('stg_' ~ hospital ~ '__claims') }} as staged
            on
                bronze.bronze_key = staged.claim_id
                and bronze.modified_at = staged.modified_at
        where
            staged.claim_id is null
            {%- if reconcile_loads() is none %}
                and bronze.bronze_key is not null
            {%- endif %}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
)

-- each lost key once: the Bronze rows are anti-joined to staging as they are (DuckDB makes that
-- one hash join), and only the few rows left are made distinct; de-duplicating every Bronze key
-- first cost a hash aggregate over 27 M claim rows (12-17 s alone at scale 10, against 9 s)
select distinct source_system, table_name, missing_key
from lost
