"""Code sets for Bronze: NPI (extract file or NPPES API) and ICD-10-CM (offline list or API).

The clients live in :mod:`ingestion.codesets`; this module only turns their flat rows into
what the orchestrator writes: a source system, a source name, the columns and the rows.
The clients are imported when used (the offline ICD-10-CM list takes a second to import).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.lake import Lake
from ingestion.sources import SourceUnavailableError


@dataclass(frozen=True)
class CodesetRows:
    source_system: str
    source_name: str
    columns: tuple[str, ...]
    rows: list[dict[str, str | None]]
    # what the load leaves out and why, for the run's summary (an API look-up's invalid and
    # unknown numbers)
    warnings: tuple[str, ...] = field(default=())
    # records that could not be read, as (number in the source from 1, reason, raw text):
    # rejected rows of the load
    rejects: tuple[tuple[int, str, str], ...] = field(default=())

    def column_lists(self) -> list[list[str | None]]:
        return [[row.get(c) for row in self.rows] for c in self.columns]


def npi_from_extract(path: Path) -> CodesetRows:
    from ingestion.codesets import nppes

    rejects: list[tuple[int, str, str]] = []
    rows = nppes.read_extract(path, rejects)
    return CodesetRows("nppes", path.name, nppes.NPI_COLUMNS, rows, rejects=tuple(rejects))


def npi_from_api(base_url: str | None, numbers: Iterable[str]) -> CodesetRows:
    from ingestion.codesets import nppes

    if not base_url:
        raise SourceUnavailableError(
            "--online needs the NPPES API base URL in RCM_NPPES_URL "
            f"(e.g. {nppes.DEFAULT_BASE_URL})"
        )
    client = nppes.NppesClient(base_url)
    rows = client.lookup(numbers)
    summary = client.last_lookup
    warnings: list[str] = []
    if summary is not None and summary.invalid:
        shown = "; ".join(f"{value!r} ({why})" for value, why in summary.invalid[:_SHOWN])
        warnings.append(
            f"{len(summary.invalid):,} NPI value(s) of the providers were not looked up, not "
            f"being valid NPIs: {shown}{_more(len(summary.invalid))}. Their providers point "
            "at the unknown NPI; correct them in the EMR"
        )
    if summary is not None and summary.not_found:
        shown = ", ".join(summary.not_found[:_SHOWN])
        warnings.append(
            f"{len(summary.not_found):,} NPI(s) of the providers are not in the registry "
            f"(deactivated, or never issued): {shown}{_more(len(summary.not_found))}. Their "
            "providers have no registry data"
        )
    return CodesetRows(
        "nppes", f"NPPES API {base_url}", nppes.NPI_COLUMNS, rows, warnings=tuple(warnings)
    )


_SHOWN = 5  # values a warning names


def _more(count: int) -> str:
    return f" and {count - _SHOWN:,} more" if count > _SHOWN else ""


def icd_offline() -> CodesetRows:
    from ingestion.codesets import icd10

    return CodesetRows("cms", "simple_icd_10_cm", icd10.ICD_COLUMNS, icd10.offline_codes())


def icd_offline_fingerprint() -> str:
    from ingestion.codesets import icd10

    return icd10.offline_fingerprint()


def icd_from_api(base_url: str | None) -> CodesetRows:
    from ingestion.codesets import icd10

    if not base_url:
        raise SourceUnavailableError(
            "--online needs the ICD-10-CM API base URL in RCM_ICD_URL "
            f"(e.g. {icd10.DEFAULT_BASE_URL})"
        )
    with icd10.IcdClient(base_url) as client:
        rows = client.fetch_all()
    return CodesetRows("nlm", f"NLM Clinical Tables {base_url}", icd10.ICD_COLUMNS, rows)


def provider_npis(lake: Lake, provider_targets: Sequence[str]) -> list[str]:
    """Distinct NPIs of the providers loaded to Bronze (``NPI`` column), as 10-char strings;
    a value that cannot be an NPI as it is (blank ones aside), so the look-up names it."""
    from ingestion.codesets import nppes

    seen: set[str] = set()
    for target in provider_targets:
        for path in lake.list_files(target):
            if not path.endswith(".parquet"):
                continue
            parquet = pq.ParquetFile(pa.BufferReader(lake.read_bytes(path)))
            if "NPI" not in parquet.schema_arrow.names:
                continue
            for value in parquet.read(columns=["NPI"]).column("NPI").to_pylist():
                npi = nppes.normalise_npi(value)
                if npi is not None:
                    seen.add(npi)
                elif value is not None and str(value).strip().lower() not in ("", "null"):
                    seen.add(str(value))  # blank and 'null' are no NPI, as staging reads them
    return sorted(seen)
