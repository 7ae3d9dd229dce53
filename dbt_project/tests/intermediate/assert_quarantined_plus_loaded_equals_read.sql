-- Quarantine never drops a row: for every CDM entity, rows read from staging = rows loaded
-- into the clean model + rows routed to quarantine. Returns the entities that do not add up.
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
            (select count(*) from {{ ref(quarantine_model) }}) as rows_quarantined
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
)

select entity, rows_read, rows_loaded, rows_quarantined
from counts
where rows_read <> rows_loaded + rows_quarantined
