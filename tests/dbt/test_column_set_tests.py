"""The generic tests that check several columns in one dbt node (macros/tests/generic_tests.sql).

`relationships_columns` checks all of a model's foreign keys, `accepted_values_columns` all of
its code columns and `value_in_range_columns` the bounds of several of its measures. Each case
tampers with a copy of the built warehouse and runs the model's test with dbt, checking every
key and value (RCM_RECONCILE_LOADS "all"): the test must fail, count what dbt's one-column
tests would have counted and name the column.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from rcm_dbt_e2e import Pipeline, dbt_test_on_copy

from ingestion.build import REPO_ROOT

FCT = "marts.fct_transactions"
ALERTS = "marts.alerts"
SUMMARY = "marts.kpi_monthly_summary"


def failures(result: subprocess.CompletedProcess[str], test: str) -> int:
    """The failure count dbt reported for `test` (0 when it passed)."""
    if f"Failure in test {test} " not in result.stdout:
        assert "PASS=1" in result.stdout, result.stdout[-3000:]
        return 0
    found = re.search(r"Got (\d+) results?, configured to fail if", result.stdout)
    assert found, result.stdout[-3000:]
    return int(found.group(1))


def failures_on_copy(pipeline: Pipeline, folder: Path, test: str, *statements: str) -> int:
    """Run `statements` on a copy of the built warehouse in `folder`, then `test` on the copy
    with every row checked; return the failure count dbt reported."""
    return failures(dbt_test_on_copy(pipeline, folder, test, *statements), test)


def failing_rows(folder: Path, test: str) -> list[tuple[object, ...]]:
    """The rows that `test`'s compiled select (left by failures_on_copy in `folder`) returns
    on the copy there, sorted."""
    (compiled,) = (folder / "target" / "compiled").rglob(f"{test}.sql")
    with duckdb.connect(str(folder / "rcm.duckdb"), read_only=True) as con:
        return sorted(con.execute(compiled.read_text()).fetchall(), key=str)


def first_row(table: str, key: str, offset: int = 0) -> str:
    return f"(select {key} from {table} order by {key} limit 1 offset {offset})"


# On DuckDB a key whose parent is small (every parent of the tiny build) is checked per
# distinct value, a key of a larger parent row by row: RCM_FEW_PARENT_ROWS=0 makes every parent
# "larger", so both ways are tested on the same tampered rows.
BOTH_WAYS = pytest.mark.parametrize(
    "few_parent_rows", ["100000", "0"], ids=["per value", "per row"]
)


@BOTH_WAYS
def test_relationships_columns_counts_each_orphan_key(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, few_parent_rows: str
) -> None:
    monkeypatch.setenv("RCM_FEW_PARENT_ROWS", few_parent_rows)
    test = "relationships_fct_transactions"
    assert failures_on_copy(pipeline, tmp_path / "clean", test) == 0
    # one row with two keys whose parents do not exist, another with one of them again and a
    # key of the date dimension: four orphan keys in two rows (the repeated value counts twice,
    # as dbt's one-column test counts its rows)
    row = first_row(FCT, "transaction_key")
    other = first_row(FCT, "transaction_key", offset=1)
    orphans = failures_on_copy(
        pipeline,
        tmp_path / "tampered",
        test,
        f"update {FCT} set provider_key = -1001, cpt_code_key = -1002 "
        f"where transaction_key = {row}",
        f"update {FCT} set provider_key = -1001, paid_date_key = 99991231 "
        f"where transaction_key = {other}",
    )
    assert orphans == 4


@BOTH_WAYS
def test_relationships_columns_sees_an_orphan_beside_a_null_parent_key(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, few_parent_rows: str
) -> None:
    monkeypatch.setenv("RCM_FEW_PARENT_ROWS", few_parent_rows)
    # on DuckDB each key is a `not in` the parent's keys: a null among them must not hide it
    test = "relationships_fct_transactions"
    orphans = failures_on_copy(
        pipeline,
        tmp_path / "tampered",
        test,
        "insert into marts.dim_department (department_key) values (null)",
        f"update {FCT} set department_key = -1003 "
        f"where transaction_key = {first_row(FCT, 'transaction_key')}",
    )
    assert orphans == 1


def test_accepted_values_columns_counts_each_value_not_accepted(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    test = "accepted_values_alerts"
    (alerts,) = pipeline.query(f"select count(*) from {ALERTS}")[0]
    assert isinstance(alerts, int) and alerts >= 3, f"the tiny build has {alerts} alerts"
    assert failures_on_copy(pipeline, tmp_path / "clean", test) == 0
    # two rows with the same unknown severity, one with an unknown alert type: two values
    # not accepted; a null passes, as in dbt's accepted_values
    key = "alert_id"
    not_accepted = failures_on_copy(
        pipeline,
        tmp_path / "tampered",
        test,
        f"update {ALERTS} set severity = 'urgent' where {key} in "
        f"({first_row(ALERTS, key)}, {first_row(ALERTS, key, 1)})",
        f"update {ALERTS} set alert_type = 'made_up' where {key} = {first_row(ALERTS, key, 2)}",
        f"update {ALERTS} set severity = null where {key} = {first_row(ALERTS, key, 2)}",
    )
    assert not_accepted == 2


def test_value_in_range_columns_counts_each_value_out_of_range(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    test = "value_in_range_kpi_monthly_summary"
    key = "kpi_monthly_summary_key"
    assert failures_on_copy(pipeline, tmp_path / "clean", test) == 0
    # a rate above its maximum and another below its minimum on one row, days in A/R below 0
    # on another: three values out of range. A null and a value on a bound (1) pass.
    out_of_range = failures_on_copy(
        pipeline,
        tmp_path / "tampered",
        test,
        f"update {SUMMARY} set clean_claim_rate = 1.5, rejection_rate = -0.01 "
        f"where {key} = {first_row(SUMMARY, key)}",
        f"update {SUMMARY} set days_in_ar = -3, initial_denial_rate = null, "
        f"final_denial_rate = 1 where {key} = {first_row(SUMMARY, key, 1)}",
    )
    assert out_of_range == 3
    named = [
        (column, float(str(value))) for column, value in failing_rows(tmp_path / "tampered", test)
    ]
    assert named == [("clean_claim_rate", 1.5), ("days_in_ar", -3.0), ("rejection_rate", -0.01)]


# Each generic test, given its arguments in a shape it cannot read, and what it must say.
MALFORMED = [
    pytest.param(
        "not_null_columns:\n          arguments:\n            column_names: code",
        "not_null_columns: column_names is a list of columns",
        id="not_null_columns, one column without the list",
    ),
    pytest.param(
        "accepted_values_columns:\n          arguments:\n            columns:\n"
        "              - code",
        "accepted_values_columns: columns maps each column to the list of its accepted values",
        id="accepted_values_columns, a list of columns",
    ),
    pytest.param(
        # read letter by letter, 'a' itself would have been "not accepted"
        "accepted_values_columns:\n          arguments:\n            columns:\n"
        "              code: a",
        "accepted_values_columns: column code needs its accepted values as a list",
        id="accepted_values_columns, one value without the list",
    ),
    pytest.param(
        "value_in_range_columns:\n          arguments:\n            columns:\n"
        "              - amount",
        "value_in_range_columns: columns maps each column to its bounds",
        id="value_in_range_columns, a list of columns",
    ),
    pytest.param(
        # written as a model's columns are: compiled to SQL made of the text {'name': 'code'}
        "not_null_columns:\n          arguments:\n            column_names:\n"
        "              - name: code",
        "not_null_columns: column_names is a list of column names (one '- column' a line, "
        "e.g. '- code', not '- name: code'), not {'name': 'code'}",
        id="not_null_columns, a mapping for a column",
    ),
    pytest.param(
        "not_null_columns:\n          arguments:\n            column_names: 3",
        "not_null_columns: column_names is a list of columns (one '- column' a line), not 3",
        id="not_null_columns, a number for the list",
    ),
    pytest.param(
        "relationships_columns:\n          arguments:\n            relationships: 3",
        "relationships_columns: relationships is a list of one {column: ..., to: ref('...'), "
        "field: ...} per foreign key, not 3",
        id="relationships_columns, a number for the list",
    ),
    pytest.param(
        "relationships_columns:\n          arguments:\n            relationships:\n"
        "            - column: code\n              to: ref('shape_parent')",
        "relationships_columns: relationships is a list of one {column: ..., to: ref('...'), "
        "field: ...} per foreign key",
        id="relationships_columns, no field",
    ),
]


@pytest.mark.parametrize(("test", "message"), MALFORMED)
def test_arguments_in_the_wrong_shape_are_named(tmp_path: Path, test: str, message: str) -> None:
    """An analyst's YAML slip in the arguments of a column-set test stops dbt with a message
    that says what the test expects, not a Jinja or SQL error (or a test that checks
    something else than what the YAML says)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO_ROOT / "dbt_project.yml", project)
    shutil.copytree(REPO_ROOT / "dbt_project", project / "dbt_project")
    folder = project / "dbt_project" / "models" / "shape"
    folder.mkdir()
    (folder / "shape_parent.sql").write_text("select 'a' as code\n")
    (folder / "shape_child.sql").write_text("select 'a' as code, 1.5 as amount\n")
    (folder / "_shape__models.yml").write_text(
        "version: 2\nmodels:\n  - name: shape_child\n    data_tests:\n      - " + test + "\n"
    )
    env = dict(os.environ, RCM_WAREHOUSE_PATH=str(tmp_path / "rcm.duckdb"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "compile", "--select", "shape_child",
         "--project-dir", str(project), "--profiles-dir", str(REPO_ROOT / "profiles"),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout[-3000:]
    assert message in " ".join(result.stdout.split()), result.stdout[-3000:]
