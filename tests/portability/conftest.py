"""Fixtures for the portability checks: the toy dbt project, compiled for real with dbt.

The main .venv (dbt-duckdb) is always there. The engine venvs (.venv-databricks, .venv-synapse,
.venv-spark: `make venv-<engine>`) are optional; a test that needs one is skipped, with the
make target to run, when it is missing. No credential is used: the profile's variables are set
to dummy values and the recipe never connects.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOY = FIXTURES / "toy_project"
BROKEN = FIXTURES / "broken_models"

# The offline compile recipe (see README of this folder in the report): no relation cache, no
# per-node connection, and the project's is_incremental() answered from a var.
OFFLINE_FLAGS = ("--no-populate-cache", "--no-introspect")

# Dummy values for every variable profiles/profiles.yml reads; none is a secret.
DUMMY_ENV = {
    "DATABRICKS_HOST": "offline.invalid",
    "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/offline",
    "DATABRICKS_TOKEN": "dummy-not-a-secret",
    "SYNAPSE_SERVER": "offline.invalid",
    "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000000",
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
    "AZURE_CLIENT_SECRET": "dummy-not-a-secret",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engines: needs an engine venv (make venv-<engine>)")


def engine_bin(engine: str) -> Path:
    """bin/ of the venv that runs dbt for `engine`; skips the test when it is not installed."""
    if engine == "duckdb":
        return Path(sys.executable).parent
    bin_dir = ROOT / f".venv-{engine}" / "bin"
    if not (bin_dir / "dbt").exists():
        pytest.skip(f".venv-{engine} is not installed: run `make venv-{engine}`")
    return bin_dir


def run_dbt(
    engine: str,
    project_dir: Path,
    args: Sequence[str],
    *,
    extra_env: dict[str, str] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` of the engine's venv in `project_dir`, with the repo's profiles."""
    env = {
        **os.environ,
        **DUMMY_ENV,
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PARTIAL_PARSE": "false",
        "RCM_WAREHOUSE_PATH": str(project_dir / "toy.duckdb"),
        **(extra_env or {}),
    }
    env.pop("DBT_PROJECT_DIR", None)  # the Makefile exports the repo's; this is the toy project
    cmd = [str(engine_bin(engine) / "dbt"), *args]
    return subprocess.run(
        cmd, cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def toy_project(tmp_path: Path) -> Path:
    """A fresh copy of the toy project (its target/ and logs/ stay in tmp_path)."""
    project = tmp_path / "toy_project"
    shutil.copytree(TOY, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    return project


def add_broken_models(project: Path, *names: str) -> None:
    """Copy deliberately non-portable models from fixtures/broken_models into the project."""
    for name in names:
        shutil.copy(BROKEN / f"{name}.sql", project / "models" / f"{name}.sql")


CompileFn = Callable[..., Path]


@pytest.fixture
def compile_offline() -> CompileFn:
    """Compile a project for a target without a connection; returns its target directory."""

    def _compile(
        project: Path, target: str, *, incremental: bool = False, name: str | None = None
    ) -> Path:
        engine = {"local": "duckdb"}.get(target, target)
        target_dir = project / "target" / (name or target)
        offline_vars = f"{{offline_compile: true, offline_incremental: {str(incremental).lower()}}}"
        args = [
            "compile",
            "--target",
            target,
            *OFFLINE_FLAGS,
            "--vars",
            offline_vars,
            "--target-path",
            str(target_dir),
        ]
        result = run_dbt(engine, project, args)
        assert result.returncode == 0, f"dbt compile --target {target} failed:\n{result.stdout}"
        return target_dir

    return _compile
