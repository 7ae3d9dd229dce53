{{ config(enabled=target.type == 'duckdb') }}

-- DuckDB's clean_string skips trim() for values that need no change (macros/cleaning):
-- on every edge case it must give what the portable expression gives. The cases: the empty
-- string, spaces, 'null' in any case and padded, control characters, every Unicode space
-- separator (which DuckDB's trim removes) at either end, other non-ASCII text, '!' and DEL.
with

characters as (
    select unnest([
        1, 9, 10, 13, 31, 32, 33, 126, 127, 160, 233, 5760, 8192, 8193, 8194, 8195, 8196, 8197,
        8198, 8199, 8200, 8201, 8202, 8239, 8287, 12288, 65279
    ]) as code_point
),

edge_values as (
    select
        unnest([
            '', ' ', '  ', 'a', ' a', 'a ', ' a ', 'a b', 'null', 'NULL', 'Null', ' null', 'null ',
            'nul', 'nulls', 'ñull', 'é', '!', '~'
        ]) as raw_value
    union all
    select chr(code_point) from characters
    union all
    select chr(code_point) || 'a' from characters
    union all
    select 'a' || chr(code_point) from characters
    union all
    select chr(code_point) || 'null' || chr(code_point) from characters
    union all
    select cast(null as varchar)
),

cleaned as (
    select
        raw_value,
        {{ clean_string('raw_value') }} as cleaned_value,
        {{ default__clean_string('raw_value') }} as portable_value
    from edge_values
)

select *
from cleaned
where cleaned_value is distinct from portable_value
