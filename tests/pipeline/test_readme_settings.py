"""The README names every setting a user can give through the environment.

A setting that the code reads but the README never names is one a newcomer cannot find; a
review found two (RCM_INGEST_WORKERS, RCM_ADLS_ENDPOINT). This test reads the code itself for
``RCM_*`` names, so a new variable fails it until the README says what it does.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# where the product reads its settings: the package, the dbt profiles and project, the dashboard
SOURCES = ("ingestion", "profiles", "dbt_project", "dashboard", "dbt_project.yml")
SUFFIXES = {".py", ".yml", ".yaml", ".sql"}
NAME = re.compile(r"\bRCM_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
# a name the README gives as a pattern: RCM_EMR_<DATABASE>_URL stands for every EMR's URL
PATTERNS = (re.compile(r"^RCM_EMR_[A-Z0-9_]+_URL$"),)


def _files() -> list[Path]:
    found: list[Path] = []
    for name in SOURCES:
        path = ROOT / name
        if path.is_file():
            found.append(path)
        else:
            found.extend(p for p in sorted(path.rglob("*")) if p.suffix in SUFFIXES)
    return found


def settings_in_code() -> dict[str, Path]:
    """Each ``RCM_*`` name in the product's code, with the first file that names it."""
    names: dict[str, Path] = {}
    for path in _files():
        for name in NAME.findall(path.read_text(errors="replace")):
            names.setdefault(name, path.relative_to(ROOT))
    return names


def test_the_code_reads_settings_from_the_environment() -> None:
    names = settings_in_code()
    # the search itself works: these are read in ingestion/ and profiles/profiles.yml
    assert {"RCM_LAKE_DIR", "RCM_WAREHOUSE_PATH", "RCM_DUCKDB_MEMORY_LIMIT"} <= set(names)


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = {
        name: str(path)
        for name, path in sorted(settings_in_code().items())
        if name not in readme and not any(pattern.match(name) for pattern in PATTERNS)
    }
    assert not missing, f"settings the README does not name (name: first file): {missing}"


def test_a_setting_missing_from_the_readme_is_found() -> None:
    # the check above on a README without one of the names: it must report that name
    readme = (ROOT / "README.md").read_text().replace("RCM_INGEST_WORKERS", "")
    missing = [name for name in settings_in_code() if name not in readme]
    assert missing == ["RCM_INGEST_WORKERS"]
