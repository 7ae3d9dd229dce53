"""The first rows each failing or warning dbt test found, for `rcm build`'s summary: dbt says
only "Got 2 results". Each test's compiled query runs again, read-only, on the local DuckDB
warehouse after the build, within a time budget; a test that reads a model holding PHI
(ingestion/phi.py) shows no rows, so PHI never reaches a build log."""

from __future__ import annotations

import contextlib
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


def _interrupt(connection: duckdb.DuckDBPyConnection) -> None:
    # the timer may fire as the query ends and the connection closes: nothing to stop then
    with contextlib.suppress(duckdb.Error):
        connection.interrupt()


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
    there were more), or why they are not shown: the test reads a model with PHI columns
    (every test, when the manifest that says which cannot be read), its query failed here, or
    the budget ran out while it ran. Left out: the tests the budget does not reach."""
    phi = _phi_nodes(manifest_path)
    examples: dict[str, tuple[str, ...]] = {}
    readable = []
    for test in tests:
        if phi is None:
            examples[test.unique_id] = (f"(rows not shown: {manifest_path} cannot be read)",)
        elif phi.intersection(test.parents):
            examples[test.unique_id] = ("(rows not shown: the test reads a model with PHI)",)
        else:
            readable.append(test)
    if not readable or not warehouse.is_file():
        return examples
    try:
        connection = duckdb.connect(
            str(warehouse), read_only=True, config=compaction.local_duckdb_settings()
        )
    except duckdb.Error:
        return examples
    tests = readable
    deadline = time.monotonic() + budget_seconds
    try:
        for test in tests:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            timer = threading.Timer(left, _interrupt, args=(connection,))
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
                timer.join()  # a callback already running ends before the next query
            shown = [
                ", ".join(f"{n}={_value(v)}" for n, v in zip(names, row, strict=True))[:_WIDTH]
                for row in rows[:EXAMPLE_ROWS]
            ]
            examples[test.unique_id] = (*shown, MORE) if len(rows) > EXAMPLE_ROWS else tuple(shown)
    finally:
        connection.close()
    return examples
