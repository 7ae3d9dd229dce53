{% snapshot snap_patients %}
{{
    config(
        unique_key='patient_id',
        strategy='timestamp',
        updated_at='modified_at',
        hard_deletes='ignore'
    )
}}

-- The patients that int_patients_unioned rewrote since this snapshot last took a new version,
-- not every patient (macro snapshot_changed_rows).
    {{ snapshot_changed_rows(ref('int_patients_conformed')) }}

{% endsnapshot %}
