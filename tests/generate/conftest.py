"""Fixtures: small real source sets written by the generator into temporary folders."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pytest

from ingestion.generate.generator import advance, generate
from ingestion.generate.settings import GeneratorSettings

SCALE = 0.002
START = dt.date(2024, 1, 1)
END = dt.date(2024, 6, 30)
ADVANCE_TO = dt.date(2024, 8, 20)


def settings(out: Path, seed: int = 42, **kw: object) -> GeneratorSettings:
    return GeneratorSettings(out_dir=out, seed=seed, scale=SCALE, start=START, end=END, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "sources"
    generate(settings(out))
    return out


@pytest.fixture(scope="session")
def advanced(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(before, after): a copy of ``sources`` advanced to ADVANCE_TO."""
    after = tmp_path_factory.mktemp("adv") / "sources"
    shutil.copytree(sources, after)
    advance(after, ADVANCE_TO)
    return sources, after


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def claim_lines(path: Path) -> list[str]:
    """The raw lines of a claims file (line i of the file is element i - 1)."""
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def claim_rows(path: Path) -> list[dict[str, str]]:
    """Well-formed data rows of a claims file (malformed lines are skipped)."""
    lines = claim_lines(path)
    header = lines[0].split(",")
    out = []
    for line in lines[1:]:
        fields = line.split(",")
        if len(fields) == len(header) and '"' not in line:
            out.append(dict(zip(header, fields, strict=True)))
    return out


def table_rows(db: Path, table: str) -> tuple[list[str], list[tuple[object, ...]]]:
    con = sqlite3.connect(db)
    try:
        cur = con.execute(f"select * from {table}")
        cols = [d[0] for d in cur.description]
        return cols, cur.fetchall()
    finally:
        con.close()
