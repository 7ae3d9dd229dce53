"""The first rows each failing or warning dbt test found, for `rcm build`'s summary: dbt says
only "Got 2 results". Each test's compiled query runs again, read-only, on the local DuckDB
warehouse after the build, within a time budget; a test that reads a model holding PHI
(ingestion/phi.py) shows no rows, so PHI never reaches a build log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingestion import compaction
from ingestion.phi import nodes_with_phi

# rows shown per test, and the characters of each
EXAMPLE_ROWS = 5
_WIDTH = 160
# all the tests of one build together: a grouping test over a large table (accepted values,
# relationships) takes seconds at scale 10, and the rows only illustrate the count dbt gave
BUDGET_SECONDS = 10.0
# the last entry of a test's rows when it found more than EXAMPLE_ROWS
MORE = "..."


@dataclass(frozen=True)
class FailedTest:
    """What failing_rows needs of a test node of the build."""

    unique_id: str
    compiled_sql: str
    parents: tuple[str, ...]


def _value(value: object) -> str:
    # text quoted (a blank or a control character shows), other values as they read
    if isinstance(value, str):
        return repr(value)
    return "null" if value is None else str(value)


def _phi_nodes(manifest_path: Path) -> set[str] | None:
    try:
        return nodes_with_phi(json.loads(manifest_path.read_text()))
    except (OSError, ValueError):
        return None


def failing_rows(
    tests: Sequence[FailedTest],
    warehouse: Path,
    manifest_path: Path,
    budget_seconds: float = BUDGET_SECONDS,
) -> dict[str, tuple[str, ...]]:
    """By test unique id, the first rows of ``tests`` (as ``column=value, ...``, then MORE when
    there were more), or why they could not be read (an error, the budget running out while
    it ran). Left out: a test whose parents hold PHI (all of them when the manifest cannot be
    read), and those the budget does not reach."""
    phi = _phi_nodes(manifest_path)
    tests = [t for t in tests if phi is not None and not phi.intersection(t.parents)]
    if not tests or not warehouse.is_file():
        return {}
    try:
        connection = duckdb.connect(
            str(warehouse), read_only=True, config=compaction.local_duckdb_settings()
        )
    except duckdb.Error:
        return {}
    examples: dict[str, tuple[str, ...]] = {}
    deadline = time.monotonic() + budget_seconds
    try:
        for test in tests:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            timer = threading.Timer(left, connection.interrupt)
            timer.start()
            try:
                # on lines of its own: the test's last line may be a -- comment
                query = test.compiled_sql.strip().rstrip(";")
                cursor = connection.execute(
                    f"select * from (\n{query}\n) as found limit {EXAMPLE_ROWS + 1}"
                )
                names = [column[0] for column in cursor.description or ()]
                rows = cursor.fetchall()
            except duckdb.InterruptException:
                examples[test.unique_id] = (
                    f"(not read again: the {budget_seconds:g} s allowed for these rows ran out)",
                )
                break
            except Exception as error:  # the rows only illustrate: the build's result stands
                first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                examples[test.unique_id] = (
                    f"(its rows could not be read again: {first[:_WIDTH]})",
                )
                continue
            finally:
                timer.cancel()
            shown = [
                ", ".join(f"{n}={_value(v)}" for n, v in zip(names, row, strict=True))[:_WIDTH]
                for row in rows[:EXAMPLE_ROWS]
            ]
            examples[test.unique_id] = (*shown, MORE) if len(rows) > EXAMPLE_ROWS else tuple(shown)
    finally:
        connection.close()
    return examples
