"""Same seed and settings: byte-identical files; another seed: different data."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ingestion.generate.generator import advance, generate

from .conftest import ADVANCE_TO, settings


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_is_byte_identical_and_other_seed_differs(sources: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(settings(again))
    first, second = _digests(sources), _digests(again)
    assert "emr/hospital_a.db" in first and "emr/hospital_b.db" in first
    assert first == second

    other = tmp_path / "other"
    generate(settings(other, seed=7))
    third = _digests(other)
    assert third.keys() == first.keys()
    for name in ("emr/hospital_a.db", "emr/hospital_b.db", "truth/claims.csv"):
        assert third[name] != first[name]
    # the CPT list is reference data: the same for every seed
    assert third["landing/cpt/cpt_codes.csv"] == first["landing/cpt/cpt_codes.csv"]


def test_advance_is_deterministic(advanced: tuple[Path, Path], tmp_path: Path) -> None:
    _, after = advanced
    again = tmp_path / "again"
    generate(settings(again))
    advance(again, ADVANCE_TO)
    assert _digests(again) == _digests(after)
