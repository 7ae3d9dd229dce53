{#
    Custom schemas are used verbatim (staging, cdm, quarantine, snapshots, marts, restricted)
    instead of dbt's default "<target schema>_<custom schema>", so every engine sees the same
    schema names and grants/PHI checks can name them.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
