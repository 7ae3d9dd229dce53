{#-
    dbt-databricks' own datediff/dateadd ask the cluster for its runtime version
    (adapter.has_dbr_capability), which needs a connection even in `dbt compile`. These root
    project variants win over the adapter's for dbt.datediff / dbt.dateadd and use functions
    every current Databricks runtime (and Spark 3.3+) has, so compiling stays offline.
    datediff counts boundaries crossed (as dbt's other adapters do): both ends are truncated
    to the date part first.
-#}
{% macro databricks__datediff(first_date, second_date, datepart) -%}
    timestampdiff({{ datepart }}, {{ dbt.date_trunc(datepart, first_date) }}, {{ dbt.date_trunc(datepart, second_date) }})
{%- endmacro %}

{% macro databricks__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}
