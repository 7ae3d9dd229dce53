{#- The patients whose versions a run of a patient-version mart (dim_patient,
    restricted.dim_patient_phi) rewrites (strategy replace_scope), as a predicate on
    patient_id: those with a snap_patients row that the mart does not hold yet (a new version)
    or holds with another end of validity (a version the snapshot closed since). A timestamp
    snapshot with hard_deletes 'ignore' changes nothing else in a row, so every other patient's
    versions are as the mart holds them.

    The mart is compared with the snapshot itself, not by processed_at: snap_patients keeps the
    processed_at of the CDM row it copied, which is older than the mart's last run when the
    snapshot was taken in a later dbt invocation than the CDM. A snapshot rebuilt from scratch
    (rows gone from it) needs `--full-refresh` of both marts. `relation`: the mart's table,
    whose valid_to is open_validity_end() for a current version. -#}
{% macro changed_patient_versions_scope(relation) -%}
    patient_id in (
        select snapshot.patient_id
        from {{ ref('snap_patients') }} as snapshot
        left join {{ relation }} as present
            on present.patient_key = {{ surrogate_key(['snapshot.patient_id', 'snapshot.dbt_valid_from']) }}
        where
            present.patient_key is null
            or present.valid_to <> coalesce(snapshot.dbt_valid_to, {{ open_validity_end() }})
    )
{%- endmacro %}


{#- A patient version's start of validity in the patient-version marts (dim_patient and
    restricted.dim_patient_phi, which are keyed alike and must agree): the snapshot's
    dbt_valid_from, but the first version is valid from the beginning of time, so a service
    dated before the patient's first recorded change still finds its patient. Over every
    version of the patient (the marts rewrite them all together). -#}
{% macro patient_version_valid_from() -%}
    case
        when row_number() over (partition by patient_id order by dbt_valid_from) = 1
            then cast('1900-01-01' as {{ dbt.type_timestamp() }})
        else dbt_valid_from
    end
{%- endmacro %}


{#- The end of validity of a version still current. -#}
{% macro open_validity_end() -%}
    cast('9999-12-31' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#- The rows of a patient-version mart that a run replaces, for its delete (config
    replace_scope_delete_macro): every version of the patients of the run's new rows
    (`new_rows`). It selects the same rows as changed_patient_versions_scope: the run writes
    every snapshot version of each patient in that scope, and a patient in it has at least one.
    That scope hashes the key of every snapshot version to compare it with the mart: at scale 10
    (1.67 M versions) the delete read it again for 0.6-1.4 s of a daily build. -#}
{% macro changed_patient_versions_replaced_rows(relation, new_rows) -%}
    patient_id in (select new_rows.patient_id from {{ new_rows }} as new_rows)
{%- endmacro %}


{#- The as-of join's condition: the patient version `versions` (valid_from inclusive, valid_to
    exclusive) in force at the end of the service day `service_date`. A change made during the
    day (valid_from at its time of day, as the snapshot records it) applies to that day's
    services: an address or insurance updated at the visit belongs to the visit. Exactly one
    version of a patient holds the end of any day. -#}
{% macro patient_version_on(versions, service_date) -%}
    {%- set day_end = dbt.dateadd('day', 1, 'cast(' ~ service_date ~ ' as ' ~ dbt.type_timestamp() ~ ')') -%}
    {{ versions }}.valid_from < {{ day_end }}
    and {{ versions }}.valid_to >= {{ day_end }}
{%- endmacro %}
