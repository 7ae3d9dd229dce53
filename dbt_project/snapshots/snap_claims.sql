{% snapshot snap_claims %}
{{
    config(
        unique_key='claim_id',
        uncompressed_columns=claim_version_id_columns() + ['dbt_scd_id'],
        strategy='timestamp',
        updated_at='modified_at',
        hard_deletes='ignore'
    )
}}

-- The claims that int_claims_conformed rewrote since this snapshot last took a new version,
-- not every claim (macro snapshot_changed_rows).
    {{ snapshot_changed_rows(ref('int_claims_conformed')) }}

{% endsnapshot %}
