{{ config(enabled=target.type == 'duckdb') }}

-- No column of the marts is a 128-bit integer. On DuckDB sum() of integers is a HUGEINT, which a
-- Parquet export (the README's Power BI path) writes as DOUBLE, so counts such as
-- kpi_monthly_summary.visits reached Power BI and pandas as floating-point numbers. Returns the
-- columns that are.
select
    table_name,
    column_name,
    data_type
from information_schema.columns
where
    table_schema = '{{ ref("kpi_monthly_summary").schema }}'
    and upper(data_type) in ('HUGEINT', 'UHUGEINT')
