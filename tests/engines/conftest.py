"""Fixtures for the engine checks of the real dbt project (tests/engines/).

The project is compiled for the production targets without a connection (the offline recipe:
`--no-populate-cache --no-introspect --vars '{offline_compile: true}'`, dummy profile values),
by the dbt of each engine's venv (`make venv-<engine>`). A missing venv skips the test, with the
make target to run, unless RCM_REQUIRE_ENGINES=1 (as `make test` sets after building them):
then it fails, so that CI never passes on a check that did not run.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

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

PRODUCTION_TARGETS = ("databricks", "synapse")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engines: needs an engine venv (make venv-<engine>)")
    config.addinivalue_line(
        "markers", "spark: a real dbt build on local Spark (needs Java and .venv-spark)"
    )


def require_engines() -> bool:
    return os.environ.get("RCM_REQUIRE_ENGINES", "") not in ("", "0")


def engine_dbt(engine: str) -> Path:
    """The dbt executable of `.venv-<engine>`; skips (or fails, see module doc) when missing."""
    dbt = ROOT / f".venv-{engine}" / "bin" / "dbt"
    if not dbt.exists():
        message = f".venv-{engine} is not installed: run `make venv-{engine}`"
        if require_engines():
            pytest.fail(message + " (RCM_REQUIRE_ENGINES=1)")
        pytest.skip(message)
    return dbt


def dbt_env(work_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of a dbt run on the repo's project with its artifacts under work_dir."""
    env = {
        **os.environ,
        **DUMMY_ENV,
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DBT_PROJECT_DIR": str(ROOT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PARTIAL_PARSE": "false",
        "DBT_LOG_PATH": str(work_dir / "logs"),
        **extra,
    }
    return env


@dataclass(frozen=True)
class Compiled:
    """One offline compile of the real project."""

    target: str
    incremental: bool
    target_dir: Path


def start_offline_compile(
    target: str, work_dir: Path, *, incremental: bool
) -> tuple[Compiled, subprocess.Popen[str]]:
    name = f"{target}-{'incremental' if incremental else 'full'}"
    target_dir = work_dir / name
    offline_vars = f"{{offline_compile: true, offline_incremental: {str(incremental).lower()}}}"
    cmd = [
        str(engine_dbt(target)),
        "compile",
        "--no-populate-cache",
        "--no-introspect",
        "--vars",
        offline_vars,
        "--target",
        target,
        "--target-path",
        str(target_dir),
    ]
    process = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=dbt_env(work_dir / name),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return Compiled(target, incremental, target_dir), process


@pytest.fixture(scope="session")
def compiled_targets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Compiled]:
    """The real project compiled offline for databricks and synapse, the full and the
    incremental branch (four compiles, two at a time: the machine has two cores)."""
    work_dir = tmp_path_factory.mktemp("engines")
    results: dict[str, Compiled] = {}
    for incremental in (False, True):
        running = [
            start_offline_compile(target, work_dir, incremental=incremental)
            for target in PRODUCTION_TARGETS
        ]
        for compiled, process in running:
            try:
                out, _ = process.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
            key = compiled.target_dir.name
            assert process.returncode == 0, f"offline compile {key} failed:\n{out[-6000:]}"
            results[key] = compiled
    return results
