"""Helpers of the tests that run real processes: a small real dbt project (a DuckDB file, dbt
through ingestion.build in a process of its own) for what `rcm build` says about edited
incremental models, and a process that holds a warehouse file open."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

from ingestion.build import REPO_ROOT

RUNNER = """
import json, sys
from pathlib import Path
from ingestion.build import build_unless_up_to_date, format_summary
project = Path(sys.argv[1])
result = build_unless_up_to_date(
    project_dir=project, profiles_dir=project, target_path=project / "target",
    select=sys.argv[2:], full_refresh=bool(sys.argv[2:]),
)
print(format_summary(result))
print("RESULT " + json.dumps({"exit_code": result.exit_code}))
"""


def make_project(
    root: Path,
    models: dict[str, str],
    macros: dict[str, str] | None = None,
    seeds: dict[str, str] | None = None,
    warehouse: Path | None = None,
) -> None:
    """Write project ``edited`` under ``root``: its dbt_project.yml, a profile whose DuckDB file
    is ``warehouse`` (default ``root/warehouse.duckdb``), and the given model, macro and seed
    files (name -> text)."""
    (root / "dbt_project.yml").write_text(
        "name: edited\nversion: '1.0'\nprofile: edited\nmodel-paths: [models]\n"
        "macro-paths: [macros]\nseed-paths: [seeds]\n"
    )
    (root / "profiles.yml").write_text(
        textwrap.dedent(
            f"""\
            edited:
              target: local
              outputs:
                local:
                  type: duckdb
                  path: {warehouse or root / "warehouse.duckdb"}
                  threads: 1
            """
        )
    )
    for folder, files in (("models", models), ("macros", macros or {}), ("seeds", seeds or {})):
        (root / folder).mkdir(exist_ok=True)
        for name, text in files.items():
            (root / folder / name).write_text(text)


def run(
    runner: str,
    project: Path,
    *args: str,
    settings: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> tuple[dict[str, object], str]:
    """Run ``runner`` (Python code that prints a line ``RESULT <json>``) in a process of its
    own on the project, outside the RCM warehouse, with ``settings`` added to the environment
    and ``prefix`` before the command (tests/small_disk.py); that JSON and the process's
    output."""
    env = {
        **os.environ,
        "RCM_TARGET": "other",  # not the RCM warehouse: no build-state record
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(settings or {}),
    }
    done = subprocess.run(
        [*prefix, sys.executable, "-c", runner, str(project), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, done.stdout + done.stderr
    return json.loads(line.removeprefix("RESULT ")), done.stdout


def build(project: Path, *select: str) -> tuple[int, str]:
    """`rcm build` of the project (with ``select``: a full refresh of that selection); its
    exit code and its summary."""
    result, out = run(RUNNER, project, *select)
    return int(str(result["exit_code"])), out


@contextlib.contextmanager
def held_open(warehouse: Path) -> Iterator[int]:
    """Another process with ``warehouse`` open for writing, for the block's length."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "sys.stdin.read()",
            str(warehouse),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        yield holder.pid
    finally:
        holder.communicate("", timeout=30)
