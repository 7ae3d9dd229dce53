{#
    Cleaning helpers for staging. Bronze stores every source value as text; these turn it
    into typed house columns the same way on every engine.
#}

{#- Trimmed text; empty strings and the literal string 'null' (EMR exports write it) are
    missing values. -#}
{% macro clean_string(column) -%}
    {{ return(adapter.dispatch('clean_string', 'rcm')(column)) }}
{%- endmacro %}

{% macro default__clean_string(column) -%}
    case
        when trim({{ column }}) = '' then null
        when lower(trim({{ column }})) = 'null' then null
        else trim({{ column }})
    end
{%- endmacro %}

{#- The same values, faster: trim() makes a new string for every value, and staging cleans
    every text column of every Bronze row (Hospital A's claims at scale 1: 3.9 CPU-seconds to
    clean its 20 text columns with trim() on every value, 2.3 s this way, 1.2 s to read them;
    the reconciliation test, which cleans the key of every Bronze row: 2.2-2.8 s, now
    1.6-1.9 s). Most values need no change, and DuckDB's trim removes only Unicode space
    separators (category Zs), of which the one ASCII character is the space. So a value that
    starts with a printable non-space ASCII character ('!' or above), does not end with a
    space, is all ASCII (as many bytes as characters) and is not 'null' comes out as it went
    in; any other value takes the portable expression. The singular test
    assert_clean_string_matches_portable_form checks both on the edge cases. -#}
{% macro duckdb__clean_string(column) -%}
    case
        when
            {{ column }} >= '!'
            and not ends_with({{ column }}, ' ')
            and strlen({{ column }}) = length({{ column }})
            and not (strlen({{ column }}) = 4 and lower({{ column }}) = 'null')
            then {{ column }}
        else {{ rcm.default__clean_string(column) }}
    end
{%- endmacro %}


{% macro clean_upper(column) -%}
    upper({{ clean_string(column) }})
{%- endmacro %}


{#- Money: the float text of the source (with float noise such as 150.00000000001) rounded to
    cents and stored as decimal(18,2); blank and 'null' text is null (ingest rejects text that
    is not a number, and keeps it with its reason, before it reaches Bronze). The text is cast
    to the decimal directly, which rounds its exact digits half away from zero (0.285 to 0.29,
    as a finance office rounds). Through a double, 0.285 was 0.28499999999999998 and rounded
    to 0.28; through a wider decimal, the cast took five times as long (128-bit arithmetic). -#}
{% macro to_money(column) -%}
    {{ return(adapter.dispatch('to_money', 'rcm')(column)) }}
{%- endmacro %}

{% macro default__to_money(column) -%}
    {{ dbt.safe_cast(clean_string(column), type_money()) }}
{%- endmacro %}

{#- T-SQL casts no text with an exponent to a decimal (a float's text near zero, 5.55e-17, as
    ingest writes an EMR float): such text goes through a float, as before. -#}
{% macro sqlserver__to_money(column) -%}
    {%- set cleaned = clean_string(column) -%}
    case
        when upper({{ cleaned }}) like '%E%'
            then cast(round(try_cast({{ cleaned }} as float), 2) as {{ type_money() }})
        else try_cast({{ cleaned }} as {{ type_money() }})
    end
{%- endmacro %}

{% macro synapse__to_money(column) -%}
    {{ rcm.sqlserver__to_money(column) }}
{%- endmacro %}


{% macro type_money() -%}
    decimal(18, 2)
{%- endmacro %}


{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'rcm')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{% macro sqlserver__type_double() -%}
    float
{%- endmacro %}

{% macro synapse__type_double() -%}
    float
{%- endmacro %}


{#- Timestamps arrive as 'YYYY-MM-DD HH:MM:SS' (naive UTC); dates as 'YYYY-MM-DD' (a
    timestamp text is accepted for a date too). -#}
{% macro to_timestamp(column) -%}
    {{ dbt.safe_cast(clean_string(column), dbt.type_timestamp()) }}
{%- endmacro %}


{% macro to_date(column) -%}
    cast({{ to_timestamp(column) }} as date)
{%- endmacro %}


{% macro to_integer(column) -%}
    cast({{ dbt.safe_cast(clean_string(column), type_double()) }} as {{ dbt.type_bigint() }})
{%- endmacro %}


{#- 'true'/'1'/'y'/'yes' -> true, 'false'/'0'/'n'/'no' -> false, anything else null. -#}
{% macro to_boolean(column) -%}
    case
        when lower({{ clean_string(column) }}) in ('true', 't', '1', 'y', 'yes') then {{ bool_true() }}
        when lower({{ clean_string(column) }}) in ('false', 'f', '0', 'n', 'no') then {{ bool_false() }}
    end
{%- endmacro %}


{#- NPI: a 10-character string. Sources send numbers ("1234567893.0", "234567891" after a
    leading zero was lost): drop the decimal part and left-pad with zeros. -#}
{% macro normalise_npi(column) -%}
    case
        when {{ clean_string(column) }} is null then null
        when {{ dbt.length(text_before(clean_string(column), '.')) }} >= 10
            then {{ text_before(clean_string(column), '.') }}
        else {{ lpad_zeros(text_before(clean_string(column), '.'), 10) }}
    end
{%- endmacro %}


{#- ICD-10-CM: upper case without the dot (E119); the dotted form puts the dot after the
    third character (E11.9). -#}
{% macro normalise_icd(column) -%}
    upper({{ dbt.replace(clean_string(column), "'.'", "''") }})
{%- endmacro %}


{% macro dotted_icd(nodot_column) -%}
    case
        when {{ nodot_column }} is null then null
        when {{ dbt.length(nodot_column) }} <= 3 then {{ nodot_column }}
        else {{ dbt.concat([
            "substring(" ~ nodot_column ~ ", 1, 3)",
            "'.'",
            "substring(" ~ nodot_column ~ ", 4, 10)",
        ]) }}
    end
{%- endmacro %}


{#- The text before the first `delimiter` (all of it when there is none): dbt.split_part(x, d, 1).
    dbt-synapse's split_part uses string_split(..., enable_ordinal), which dedicated SQL pools
    do not have; T-SQL gets left()/charindex(). -#}
{% macro text_before(expression, delimiter) -%}
    {{ return(adapter.dispatch('text_before', 'rcm')(expression, delimiter)) }}
{%- endmacro %}

{% macro default__text_before(expression, delimiter) -%}
    {{ dbt.split_part(expression, "'" ~ delimiter ~ "'", 1) }}
{%- endmacro %}

{% macro sqlserver__text_before(expression, delimiter) -%}
    left({{ expression }}, charindex('{{ delimiter }}', {{ expression }} + '{{ delimiter }}') - 1)
{%- endmacro %}

{% macro synapse__text_before(expression, delimiter) -%}
    {{ rcm.sqlserver__text_before(expression, delimiter) }}
{%- endmacro %}


{% macro lpad_zeros(expression, width) -%}
    {{ return(adapter.dispatch('lpad_zeros', 'rcm')(expression, width)) }}
{%- endmacro %}

{% macro default__lpad_zeros(expression, width) -%}
    lpad({{ expression }}, {{ width }}, '0')
{%- endmacro %}

{% macro sqlserver__lpad_zeros(expression, width) -%}
    right(replicate('0', {{ width }}) + {{ expression }}, {{ width }})
{%- endmacro %}

{% macro synapse__lpad_zeros(expression, width) -%}
    {{ rcm.sqlserver__lpad_zeros(expression, width) }}
{%- endmacro %}


{#- Gender in one vocabulary: Male / Female / Other (null stays null). -#}
{% macro conform_gender(column) -%}
    case
        when {{ column }} is null then null
        when lower({{ column }}) in ('m', 'male') then 'Male'
        when lower({{ column }}) in ('f', 'female') then 'Female'
        else 'Other'
    end
{%- endmacro %}
