"""`rcm build`'s summary under a test that found more rows than it shows names the file of that
test's query, not the whole target/compiled folder (hundreds of files in this project).

A small real project on the local target (a DuckDB file through RCM_WAREHOUSE_PATH, dbt
through ingestion.build, in a process of its own).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from ingestion.build import REPO_ROOT

RUNNER = """
import sys
from pathlib import Path
from ingestion.build import build_unless_up_to_date, format_summary
project = Path(sys.argv[1])
result = build_unless_up_to_date(
    project_dir=project, profiles_dir=project, target_path=Path("target")
)
print(format_summary(result))
"""


def test_the_summary_names_the_file_of_the_failing_tests_query(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    (tmp_path / "models").mkdir()
    (tmp_path / "lake").mkdir()
    (tmp_path / "dbt_project.yml").write_text(
        "name: failing\nversion: '1.0'\nprofile: failing\nmodel-paths: [models]\n"
    )
    (tmp_path / "profiles.yml").write_text(
        textwrap.dedent(
            """\
            failing:
              target: local
              outputs:
                local:
                  type: duckdb
                  path: "{{ env_var('RCM_WAREHOUSE_PATH') }}"
                  threads: 1
            """
        )
    )
    (tmp_path / "models" / "rpt_codes.sql").write_text(
        "{{ config(materialized='table') }}\nselect 'code_' || n as code from range(9) t(n)\n"
    )
    (tmp_path / "models" / "_models.yml").write_text(
        "version: 2\nmodels:\n  - name: rpt_codes\n    columns:\n      - name: code\n"
        "        data_tests:\n          - accepted_values:\n              arguments:\n"
        "                values: [code_0]\n"
    )
    env = {
        **os.environ,
        "RCM_TARGET": "local",
        "RCM_WAREHOUSE_PATH": str(warehouse),
        "RCM_LAKE_DIR": str(tmp_path / "lake"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    # run from another folder than the project, with a relative target path, as
    # `rcm build --target-path target` run outside the repository does
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(tmp_path)],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert "result: FAILED" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    found = re.search(r"\.\.\. \(more; the test's query is in (\S+)\)", done.stdout)
    assert found, done.stdout[-3000:]
    # as the user can open it from the folder rcm ran in, which is not the project's
    query = Path(found.group(1))
    assert query.suffix == ".sql" and query.name.startswith("accepted_values_rpt_codes_code")
    assert "code_0" in (query if query.is_absolute() else elsewhere / query).read_text()
