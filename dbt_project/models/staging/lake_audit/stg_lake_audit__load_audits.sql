-- A view, not a table: every ingest appends audit rows (a no-change run too), and a build that
-- is skipped because no Bronze data changed (ingestion/build_state.py) must not leave it stale.
{{ config(materialized='view') }}

-- The audit log is written by the ingestion code (typed Parquet, one row per load: per landing
-- file for file entities, a no_change row when nothing is new, rows recovery writes);
-- cast to the house types without assuming how each column was stored.
with

source as (
    select * from {{ source('lake_audit', 'load_audit') }}
),

final as (
    select
        -- ids
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(load_id as {{ dbt.type_string() }}) as load_id,
        -- attributes
        cast({{ adapter.quote('database') }} as {{ dbt.type_string() }}) as database_name,
        cast(datasource as {{ dbt.type_string() }}) as datasource,
        cast(tablename as {{ dbt.type_string() }}) as table_name,
        cast(loadtype as {{ dbt.type_string() }}) as load_type,
        cast(source_name as {{ dbt.type_string() }}) as source_name,
        cast(watermark_column as {{ dbt.type_string() }}) as watermark_column,
        cast(watermark_before as {{ dbt.type_string() }}) as watermark_before,
        cast(watermark_after as {{ dbt.type_string() }}) as watermark_after,
        cast(content_sha256 as {{ dbt.type_string() }}) as content_sha256,
        cast(status as {{ dbt.type_string() }}) as load_status,
        cast(error as {{ dbt.type_string() }}) as error_message,
        -- counts
        {{ dbt.safe_cast('rows_read', dbt.type_bigint()) }} as rows_read,
        {{ dbt.safe_cast('rows_written', dbt.type_bigint()) }} as rows_written,
        {{ dbt.safe_cast('rows_rejected', dbt.type_bigint()) }} as rows_rejected,
        -- timestamps
        {{ dbt.safe_cast('started_at', dbt.type_timestamp()) }} as started_at,
        {{ dbt.safe_cast('finished_at', dbt.type_timestamp()) }} as finished_at
    from source
)

select * from final
