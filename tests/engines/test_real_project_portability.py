"""The real dbt project on the production engines, compiled offline: every model, snapshot and
test reads as Databricks SQL and as T-SQL (Synapse), in the full and the incremental branch;
the per-engine configs land where they should; and the check does fail when a real model
loses its portability."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from sqlglot import exp

from ingestion.portability import TARGET_DIALECT, check_target, main

from .conftest import ROOT, Compiled

pytestmark = pytest.mark.engines

BRANCHES = [f"{t}-{b}" for t in ("databricks", "synapse") for b in ("full", "incremental")]


def manifest(compiled: Compiled) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((compiled.target_dir / "manifest.json").read_text())
    return data


def compiled_sql(compiled: Compiled, node_id: str) -> str:
    code = manifest(compiled)["nodes"][node_id]["compiled_code"]
    assert isinstance(code, str)
    return code


@pytest.mark.parametrize("branch", BRANCHES)
def test_every_node_passes_the_dialect_check(
    branch: str, compiled_targets: dict[str, Compiled]
) -> None:
    compiled = compiled_targets[branch]
    report = check_target(compiled.target_dir, TARGET_DIALECT[compiled.target])
    findings = "\n".join(f.render() for f in report.findings)
    assert report.findings == (), f"{branch}: not portable:\n{findings}"
    assert report.not_compiled == ()
    nodes = manifest(compiled)["nodes"]
    kinds = {nodes[uid]["resource_type"] for uid in report.checked}
    assert {"model", "snapshot", "test"} <= kinds
    models = [n for n in nodes.values() if n["resource_type"] == "model"]
    assert len([u for u in report.checked if u.startswith("model.")]) == len(models)


@pytest.mark.parametrize("target", ["databricks", "synapse"])
def test_incremental_branch_of_fct_transactions(
    target: str, compiled_targets: dict[str, Compiled]
) -> None:
    full = compiled_sql(compiled_targets[f"{target}-full"], "model.rcm.fct_transactions")
    incremental = compiled_sql(
        compiled_targets[f"{target}-incremental"], "model.rcm.fct_transactions"
    )
    assert "max(previous_run.processed_at)" not in full
    assert "max(previous_run.processed_at)" in incremental
    # re-read: rows at the unknown member of a dimension that now holds their key
    assert re.search(
        r"from\s+\S*fct_transactions\S*\s+as unknown_rows\s+where\s+\(?\s*"
        r"unknown_rows.patient_key = -1\s+or unknown_rows.provider_key = -1",
        incremental,
    )
    # the row-id lookup of macro rows_where is DuckDB's: here the filter stands as it is
    assert "rowid" not in incremental
    keys = ("patient_key", "provider_key", "department_key", "payer_key", "cpt_code_key")
    for key in (*keys, "icd_code_key"):
        assert re.search(
            rf"unknown_members.{key} = -1\s+and now_known.\w+ in \(\s*"
            rf"select known.\w+ from \S*dim_\w+\S* as known\s+"
            rf"where known.{key} <> -1",
            incremental,
        ), key


@pytest.mark.parametrize("target", ["databricks", "synapse"])
def test_the_materialized_cte_keyword_stays_on_duckdb(
    target: str, compiled_targets: dict[str, Compiled]
) -> None:
    """int_claim_kpi_outcomes' incremental branch asks DuckDB to compute a CTE first
    (macro materialized_cte); Databricks SQL and T-SQL have no such keyword."""
    incremental = compiled_sql(
        compiled_targets[f"{target}-incremental"], "model.rcm.int_claim_kpi_outcomes"
    )
    assert re.search(r"status_history as\s+\(", incremental)
    assert not re.search(r"\bas\s+materialized\b", incremental, re.IGNORECASE)


@pytest.mark.parametrize("target", ["databricks", "synapse"])
def test_incremental_branch_of_staging_reads_unread_loads(
    target: str, compiled_targets: dict[str, Compiled]
) -> None:
    full = compiled_sql(compiled_targets[f"{target}-full"], "model.rcm.stg_hospital_a__claims")
    incremental = compiled_sql(
        compiled_targets[f"{target}-incremental"], "model.rcm.stg_hospital_a__claims"
    )
    assert "read_loads" not in full
    assert "read_loads" in incremental
    assert "rowid" not in incremental
    if target == "databricks":  # the project's timestampadd, not the adapter's dbr query
        assert "timestampadd(day, -3, coalesce(max(newest.ingested_at)" in incremental
    else:
        assert "dateadd(" in incremental


def test_engine_configs(compiled_targets: dict[str, Compiled]) -> None:
    databricks = manifest(compiled_targets["databricks-full"])["nodes"]
    synapse = manifest(compiled_targets["synapse-full"])["nodes"]
    fct = "model.rcm.fct_transactions"
    assert databricks[fct]["config"]["file_format"] == "delta"
    assert databricks[fct]["config"]["incremental_strategy"] == "merge"
    assert databricks[fct]["config"]["liquid_clustered_by"] == ["service_date"]
    assert synapse[fct]["config"]["dist"] == "HASH(transaction_key)"
    assert synapse[fct]["config"]["index"] == "CLUSTERED COLUMNSTORE INDEX"
    assert synapse[fct]["config"]["incremental_strategy"] == "delete+insert"
    versions = "model.rcm.stg_hospital_a__claims"  # several rows per key: delete+insert
    assert databricks[versions]["config"]["incremental_strategy"] == "delete+insert"
    assert synapse[versions]["config"]["incremental_strategy"] == "delete+insert"
    # a slice no key of the new rows names (a month's snapshots; a claim that left): the
    # project's strategy
    for scoped in ("model.rcm.fct_ar_snapshots", "model.rcm.int_claim_status_history"):
        assert databricks[scoped]["config"]["incremental_strategy"] == "replace_scope"
        assert synapse[scoped]["config"]["incremental_strategy"] == "replace_scope"
    dims = [
        uid
        for uid, node in synapse.items()
        if node["original_file_path"].startswith("dbt_project/models/marts/core/dim_")
    ]
    assert len(dims) >= 8
    for uid in dims:
        assert synapse[uid]["config"]["dist"] == "REPLICATE", uid
    assert synapse["model.rcm.fct_claims"]["config"]["dist"] == "HASH(claim_key)"


@pytest.mark.parametrize("target", ["databricks", "synapse"])
def test_sources_are_bronze_external_tables(
    target: str, compiled_targets: dict[str, Compiled]
) -> None:
    data = manifest(compiled_targets[f"{target}-full"])
    for source in data["sources"].values():
        assert source["schema"].startswith("bronze_"), source["unique_id"]
    staging = [n for n in data["nodes"].values() if n["resource_type"] == "model"]
    staging = [
        n for n in staging if n["original_file_path"].startswith("dbt_project/models/staging")
    ]
    assert staging
    for node in staging:
        assert "read_parquet" not in node["compiled_code"], node["unique_id"]
    sql = compiled_sql(compiled_targets[f"{target}-full"], "model.rcm.stg_hospital_b__claims")
    quote = "`" if target == "databricks" else '"'
    assert f"{quote}bronze_hospital_b{quote}.{quote}claims{quote}" in sql


@pytest.mark.parametrize("target", ["databricks", "synapse"])
def test_dim_date_spine_is_computed_at_compile_time(
    target: str, compiled_targets: dict[str, Compiled]
) -> None:
    project_vars = yaml.safe_load((ROOT / "dbt_project.yml").read_text())["vars"]
    start = dt.date.fromisoformat(project_vars["dim_date_start"])
    days = (dt.date.fromisoformat(project_vars["dim_date_end"]) - start).days
    sql = compiled_sql(compiled_targets[f"{target}-full"], "model.rcm.dim_date")
    assert f"numbers.day_number < {days}" in sql
    assert f"'{start.isoformat()}'" in sql
    places = len(str(days - 1))
    assert f"digits_{places - 1}" in sql and f"digits_{places}" not in sql


# --- the check fails on a real model that lost its portability ----------------------------------

INJECTIONS = {
    # (target, what is injected into the compiled fct_transactions, rule expected)
    "synapse-qualify": (
        "synapse",
        "\nqualify row_number() over (partition by transaction_key order by modified_at) = 1",
        "qualify",
    ),
    "synapse-double-colon": ("synapse", "", "double_colon_cast"),
    "databricks-strftime": ("databricks", "", "strftime"),
}


def broken_copy(compiled: Compiled, tmp_path: Path, case: str) -> Path:
    """A copy of the compiled target whose fct_transactions was made non-portable."""
    target_dir = tmp_path / compiled.target_dir.name
    shutil.copytree(
        compiled.target_dir, target_dir, ignore=shutil.ignore_patterns("compiled", "run")
    )
    data = manifest(Compiled(compiled.target, compiled.incremental, target_dir))
    node = data["nodes"]["model.rcm.fct_transactions"]
    code: str = node["compiled_code"]
    if case == "synapse-qualify":
        code = code.rstrip() + INJECTIONS[case][1]
    elif case == "synapse-double-colon":
        code = code.replace("transactions.service_date,", "transactions.service_date::date,", 1)
    else:
        code = code.replace(
            "transactions.service_date,",
            "strftime(transactions.service_date, '%Y-%m') as service_month,\n"
            "        transactions.service_date,",
            1,
        )
    assert code != node["compiled_code"], "the injection found nothing to change"
    node["compiled_code"] = code
    (target_dir / "manifest.json").write_text(json.dumps(data))
    return target_dir


@pytest.mark.parametrize("case", sorted(INJECTIONS))
def test_check_fails_on_a_broken_copy_of_a_real_model(
    case: str,
    compiled_targets: dict[str, Compiled],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target, _, rule = INJECTIONS[case]
    original = compiled_targets[f"{target}-full"]
    assert main(["--target-dir", str(original.target_dir), "--dialect", target]) == 0

    broken = broken_copy(original, tmp_path, case)
    report = check_target(broken, TARGET_DIALECT[target])
    assert report.failing_nodes() == ("model.rcm.fct_transactions",)
    assert rule in {f.rule for f in report.findings}
    capsys.readouterr()
    assert main(["--target-dir", str(broken), "--dialect", target]) == 1
    out = capsys.readouterr().out
    assert "FAIL dbt_project/models/marts/core/fct_transactions.sql" in out


# --- Synapse: regular expressions become LIKE patterns; same answers as the regex --------------

# fmt: off
CANDIDATES = [
    "", "unknown", "UNKNOWN", "Unknown", "unknownx", "E119", "E11", "E1", "e119", "E11.9",
    "E1234567", "E123456", "Z9", "1E11", "A0B", "0051T", "0051t", "99213", "9921", "992134",
    "ABCDE", "1234567890", "123456789", "12345678901", "0123456789", "12345 67890",
    "123456789X", " 1234567890", "%", "_", "E1_9", "E1%9", "[A]",
]
# fmt: on


def _like_regex(pattern: str, *, binary: bool) -> re.Pattern[str]:
    """T-SQL LIKE as a Python regex: % _ [set] [^set], else literal; without a binary
    collation it ignores case, as Synapse's default collation (SQL_Latin1_General_CP1_CI_AS)."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif char == "[":
            close = pattern.index("]", i + 2)
            out.append("[" + pattern[i + 1 : close].replace("\\", "\\\\") + "]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL if binary else re.DOTALL | re.IGNORECASE)


def _evaluate(node: exp.Expression, value: str) -> bool | int | str:
    """Evaluate the subset of T-SQL the compiled matches_regex condition uses."""
    if isinstance(node, exp.Paren):
        return _evaluate(node.this, value)
    if isinstance(node, exp.Or):
        return bool(_evaluate(node.left, value)) or bool(_evaluate(node.right, value))
    if isinstance(node, exp.And):
        return bool(_evaluate(node.left, value)) and bool(_evaluate(node.right, value))
    if isinstance(node, exp.Not):
        return not _evaluate(node.this, value)
    if isinstance(node, (exp.Collate, exp.Cast)):  # sqlglot reads len(x) as len(cast(x ...))
        return _evaluate(node.this, value)
    if isinstance(node, exp.Column):
        return value
    if isinstance(node, exp.Literal):
        return int(node.this) if node.is_int else str(node.this)
    if isinstance(node, exp.Length):
        return len(str(_evaluate(node.this, value)).rstrip(" "))  # len() ignores trailing blanks
    if isinstance(node, exp.GTE):
        left, right = _evaluate(node.left, value), _evaluate(node.right, value)
        assert isinstance(left, int) and isinstance(right, int)
        return left >= right
    if isinstance(node, exp.Like):
        subject, pattern = _evaluate(node.this, value), _evaluate(node.expression, value)
        collation = node.this.args.get("expression") if isinstance(node.this, exp.Collate) else None
        binary = collation is not None and "_BIN" in collation.sql("tsql").upper()
        matched = _like_regex(str(pattern), binary=binary).fullmatch(str(subject)) is not None
        return not matched if node.args.get("negate") else matched  # `not like`
    raise AssertionError(f"unexpected SQL in the regex condition: {node.sql('tsql')}")


def test_synapse_regex_tests_answer_like_the_regex(compiled_targets: dict[str, Compiled]) -> None:
    nodes = manifest(compiled_targets["synapse-full"])["nodes"].values()
    tests = [n for n in nodes if (n.get("test_metadata") or {}).get("name") == "matches_regex"]
    assert tests, "no matches_regex test in the project"
    for node in tests:
        regex = node["test_metadata"]["kwargs"]["regex"]
        column = node["test_metadata"]["kwargs"]["column_name"]
        where = sqlglot.parse_one(node["compiled_code"], read="tsql").args["where"].this
        condition = next(n.this for n in where.find_all(exp.Not) if not isinstance(n.this, exp.Is))
        assert column in condition.sql("tsql")
        for value in CANDIDATES:
            expected = re.fullmatch(regex, value) is not None
            assert _evaluate(condition, value) == expected, (regex, value)
