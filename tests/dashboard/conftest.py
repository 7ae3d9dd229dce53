"""Fixtures of the dashboard tests: a real DuckDB warehouse file built from hand-made rows
(see warehouse_fixture), an empty one and a missing one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.warehouse_fixture import FixtureData, make_rows, write_warehouse


@pytest.fixture(scope="session")
def fixture_data() -> FixtureData:
    return make_rows()


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory, fixture_data: FixtureData) -> Path:
    return write_warehouse(tmp_path_factory.mktemp("wh") / "rcm.duckdb", fixture_data)


@pytest.fixture
def empty_warehouse(tmp_path: Path, fixture_data: FixtureData) -> Path:
    """Every mart exists, none has a row (a build that produced nothing)."""
    return write_warehouse(tmp_path / "empty.duckdb", fixture_data, empty=True)


@pytest.fixture
def missing_warehouse(tmp_path: Path) -> Path:
    return tmp_path / "nowhere" / "rcm.duckdb"
