"""After `rcm generate --advance-to`, an incremental ingest loads exactly the new and changed
rows: the rows of the second run, per entity, are the ones the generator's ground truth
(`truth/changes_<date>.csv`) lists, compared as multisets of keys."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.generate.generator import advance, generate
from ingestion.generate.settings import GeneratorSettings
from ingestion.ingest import IngestSettings, run_ingest

from .conftest import read_audit

ADVANCE_TO = "2025-01-07"
KEY_COLUMN = {
    ("hospital_a", "patients"): "PatientID",
    ("hospital_b", "patients"): "ID",
    ("hospital_a", "encounters"): "EncounterID",
    ("hospital_b", "encounters"): "EncounterID",
    ("hospital_a", "transactions"): "TransactionID",
    ("hospital_b", "transactions"): "TransactionID",
}


def _rows_of_run(lake: Path, datasource: str, table: str, load_ids: set[str]) -> pa.Table:
    parts = [
        part
        for folder in sorted((lake / "bronze" / datasource / table).glob("load_id=*"))
        if folder.name.removeprefix("load_id=") in load_ids
        for part in sorted(folder.glob("*.parquet"))
    ]
    tables = [pq.read_table(p) for p in parts]
    return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})


def test_incremental_ingest_after_advance_loads_exactly_the_changes(tmp_path: Path) -> None:
    sources, lake = tmp_path / "sources", tmp_path / "lake"
    generate(GeneratorSettings(out_dir=sources, scale=0.003, seed=3))
    assert run_ingest(IngestSettings.from_env(sources=sources, lake=str(lake))).ok
    first_runs = {r["run_id"] for r in read_audit(lake)}

    advance(sources, date.fromisoformat(ADVANCE_TO))
    second = run_ingest(IngestSettings.from_env(sources=sources, lake=str(lake)))
    assert second.ok
    audit = [r for r in read_audit(lake) if r["run_id"] not in first_runs]
    loads: dict[str, set[str]] = {}
    for record in audit:
        if record["load_id"]:
            loads.setdefault(f"{record['datasource']}.{record['tablename']}", set()).add(
                record["load_id"]
            )

    with (sources / "truth" / f"changes_{ADVANCE_TO}.csv").open(newline="") as handle:
        changes = list(csv.DictReader(handle))
    assert changes, "the advance changed nothing: the test would prove nothing"

    checked = 0
    for (hospital, entity), key in KEY_COLUMN.items():
        expected = Counter(
            c["key"] for c in changes if c["hospital"] == hospital and c["entity"] == entity
        )
        table = _rows_of_run(lake, hospital, entity, loads.get(f"{hospital}.{entity}", set()))
        loaded = Counter(table.column(key).to_pylist()) if table.num_rows else Counter()
        # a row whose id was blanked by an injected defect is listed under the id it would
        # have had: compare the counts, and the keys that are present
        assert sum(loaded.values()) == sum(expected.values()), (hospital, entity)
        present = Counter({k: n for k, n in loaded.items() if k is not None})
        assert not present - expected, (hospital, entity, present - expected)
        checked += sum(expected.values())
    assert checked > 0

    # claims: every claim row of the new files is either in Bronze or rejected with its line
    for hospital in ("hospital_a", "hospital_b"):
        expected_claims = sum(
            1 for c in changes if c["hospital"] == hospital and c["entity"] == "claims"
        )
        written = sum(
            r["rows_written"] + r["rows_rejected"]
            for r in audit
            if r["datasource"] == hospital and r["tablename"] == "claims"
        )
        assert written == expected_claims, hospital
