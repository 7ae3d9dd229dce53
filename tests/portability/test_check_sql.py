"""check_sql(): each rule fires on the construct it names and stays quiet on portable SQL."""

from __future__ import annotations

import pytest

from ingestion.portability import Dialect, check_sql


def rules(sql: str, dialect: Dialect) -> set[str]:
    return {f"{issue.kind}:{issue.rule}" for issue in check_sql(sql, dialect)}


PORTABLE = """
with

payments as (
    select * from warehouse.payments
),

final as (
    select
        payment_id,
        cast(amount as decimal(18, 2)) as amount,
        coalesce(claim_id, 'unknown') as claim_id,
        case when amount > 0 then 1 else 0 end as is_paid,
        row_number() over (partition by claim_id order by paid_date) as payment_seq
    from payments
    where paid_date >= cast('2024-01-01' as date)
)

select payment_id, amount, claim_id, is_paid, payment_seq from final
"""


@pytest.mark.parametrize("dialect", ["databricks", "spark", "tsql", "duckdb"])
def test_portable_sql_passes_in_every_dialect(dialect: Dialect) -> None:
    assert check_sql(PORTABLE, dialect) == []


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        # rejected by sqlglot's own parsers
        ("select top 10 a from t", "spark", "parse:syntax"),
        ("select top 10 a from t", "duckdb", "parse:syntax"),
        ("select [claim id] from [dbo].[t]", "databricks", "parse:syntax"),
        ("select `claim id` from t", "tsql", "parse:syntax"),
        ("select {'a': 1} as s", "spark", "parse:syntax"),
        # parsed by sqlglot, rejected by the engine: the construct rules
        ("select a from t limit 10", "tsql", "construct:limit"),
        ("select a::int as a from t", "tsql", "construct:double_colon_cast"),
        ("select a::int as a from t", "spark", "construct:double_colon_cast"),
        ("select a from t qualify row_number() over () = 1", "spark", "construct:qualify"),
        ("select a from t where a ilike 'x%'", "tsql", "construct:ilike"),
        ("select a || b as c from t", "tsql", "construct:pipe_concat"),
        ("select true as is_x from t", "tsql", "construct:boolean_literal"),
        ("select * exclude (a) from t", "databricks", "construct:star_modifier"),
        ("select * except (a) from t", "spark", "construct:star_modifier"),
        ("select a, count(*) as n from t group by all", "tsql", "construct:group_by_all"),
        ("select a from t order by a nulls last", "tsql", "construct:nulls_ordering"),
        # engine-specific functions
        ("select strftime(d, '%Y-%m') as m from t", "databricks", "function:strftime"),
        ("select list_aggregate(xs, 'sum') as s from t", "spark", "function:list_aggregate"),
        ("select date_format(d, 'yyyy-MM') as m from t", "tsql", "function:date_format"),
        ("select date_format(d, 'yyyy-MM') as m from t", "duckdb", "function:date_format"),
        ("select getdate() as now_at", "databricks", "function:getdate"),
        ("select iif(a > 1, 1, 0) as x from t", "spark", "function:iif"),
        ("select date_trunc('month', d) as m from t", "tsql", "function:date_trunc"),
        ("select md5(a) as h from t", "tsql", "function:md5"),
        # cast targets
        ("select cast(a as boolean) as b from t", "tsql", "type:boolean"),
        ("select cast(a as string) as b from t", "tsql", "type:string"),
        ("select cast(a as varchar) as b from t", "spark", "type:varchar"),
        ("select cast(a as datetime2) as b from t", "databricks", "type:datetime2"),
    ],
)
def test_rule_fires(sql: str, dialect: Dialect, expected: str) -> None:
    assert expected in rules(sql, dialect)


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        # what each engine does accept (checked on Spark 3.5 / DuckDB 2.0, or their references)
        ("select a::int as a from t", "databricks"),
        ("select a::int as a from t", "duckdb"),
        ("select a from t qualify row_number() over (order by a) = 1", "databricks"),
        ("select * except (a) from t", "databricks"),
        ("select a from t limit 10", "spark"),
        ("select a from t where a ilike 'x%'", "spark"),
        ("select top 10 a from t", "tsql"),
        ("select cast(a as varchar(20)) as b from t", "spark"),
        ("select cast(a as float) as b from t", "tsql"),
        ("select cast(a as double precision) as b from t", "tsql"),
        ("select date_trunc('month', d) as m from t", "databricks"),
        ("select convert(char(7), d, 126) as m from t", "tsql"),
        ("select date_format(d, 'yyyy-MM') as m from t", "spark"),
        ("select strftime(d, '%Y-%m') as m from t", "duckdb"),
        # names in strings, quoted identifiers and qualified columns are not calls
        ("select 'strftime(x)' as s, \"strftime\" as q, t.size as n from t", "spark"),
        ("select p.size from t as p", "duckdb"),
        # a set operation is not a star modifier
        ("select a from t except select a from u", "spark"),
    ],
)
def test_rule_quiet_where_the_engine_accepts(sql: str, dialect: Dialect) -> None:
    assert check_sql(sql, dialect) == []


def test_issue_carries_the_line_of_the_offending_token() -> None:
    sql = "select\n    a,\n    strftime(d, '%Y') as y\nfrom t"
    [issue] = check_sql(sql, "spark")
    assert (issue.rule, issue.line) == ("strftime", 3)
    assert "date_format" in issue.message
