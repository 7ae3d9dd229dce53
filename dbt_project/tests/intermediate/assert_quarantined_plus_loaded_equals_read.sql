-- Quarantine never drops a row: for every CDM entity, rows read from staging = rows loaded
-- into the clean model + rows routed to quarantine (+ for claim versions, the repeated
-- landings of a line without a claim id, which quarantine keeps once: the same line landed
-- again). Returns the entities that do not add up.
{#- the staged claim columns that say what a line is (claim_line_columns, before the CDM's
    renames): a line without a claim id that landed again repeats them all -#}
{%- set line_columns = [] %}
{%- for column in stage_claim_columns()
    if column not in ['source_name', 'source_row', 'load_id', 'ingested_at'] %}
    {%- do line_columns.append(column) %}
{%- endfor %}
{%- set entities = [
    ('patients', 'patients', 'int_patients_conformed', 'int_patients_quarantined'),
    ('providers', 'providers', 'int_providers_conformed', 'int_providers_quarantined'),
    ('departments', 'departments', 'int_departments_conformed', 'int_departments_quarantined'),
    ('encounters', 'encounters', 'int_encounters_conformed', 'int_encounters_quarantined'),
    ('transactions', 'transactions', 'int_transactions_conformed', 'int_transactions_quarantined'),
    ('claim_versions', 'claims', 'int_claim_status_history', 'int_claim_versions_quarantined'),
] %}

with

counts as (
    {%- for entity, staging_table, clean_model, quarantine_model in entities %}
        select
            '{{ entity }}' as entity,
            (
                select count(*) from {{ ref('stg_hospital_a__' ~ staging_table) }}
            ) + (
                select count(*) from {{ ref('stg_hospital_b__' ~ staging_table) }}
            ) as rows_read,
            (select count(*) from {{ ref(clean_model) }}) as rows_loaded,
            (select count(*) from {{ ref(quarantine_model) }}) as rows_quarantined,
            {%- if entity == 'claim_versions' %}
                (
                    {%- for hospital in ['hospital_a', 'hospital_b'] %}
                        (
                            select count(*) from {{ ref('stg_' ~ hospital ~ '__claims') }}
                            where claim_id is null
                        ) - (
                            select count(*) from (
                                select distinct {{ line_columns | join(', ') }}
                                from {{ ref('stg_' ~ hospital ~ '__claims') }}
                                where claim_id is null
                            ) as keyless_lines
                        )
                        {%- if not loop.last %} + {% endif %}
                    {%- endfor %}
                ) as rows_repeated
            {%- else %}
                0 as rows_repeated
            {%- endif %}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
)

select entity, rows_read, rows_loaded, rows_quarantined, rows_repeated
from counts
where rows_read <> rows_loaded + rows_quarantined + rows_repeated
