"""Settings and results of ``rcm generate``: plain typed data, no I/O."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

# Defect types and their default rates (share of the rows of the entity they apply to).
DEFAULT_DEFECT_RATES: dict[str, float] = {
    "missing_required": 0.01,  # patients, transactions, claims rows
    "duplicate_row": 0.005,  # patients, encounters, transactions, claims rows
    "invalid_npi": 0.02,  # providers
    "unknown_icd": 0.005,  # transactions
    "unknown_cpt": 0.005,  # transactions
    "orphan_fk": 0.005,  # transactions (ProviderID, PatientID or EncounterID)
    "malformed_line": 0.002,  # claims CSV lines
    "duplicate_billing": 0.005,  # transactions: the same service billed twice
    "upcoded": 0.01,  # transactions: E/M level raised
    "outlier_amount": 0.002,  # transactions: charge far above the charge master
}
DEFECT_ENTITIES: dict[str, tuple[str, ...]] = {
    "missing_required": ("patients", "transactions", "claims"),
    "duplicate_row": ("patients", "encounters", "transactions", "claims"),
    "invalid_npi": ("providers",),
    "unknown_icd": ("transactions",),
    "unknown_cpt": ("transactions",),
    "orphan_fk": ("transactions",),
    "malformed_line": ("claims",),
    "duplicate_billing": ("transactions",),
    "upcoded": ("transactions",),
    "outlier_amount": ("transactions",),
}

DEFAULT_START = dt.date(2023, 10, 1)
DEFAULT_END = dt.date(2024, 12, 31)
TRANSACTIONS_PER_SCALE = 1_000_000


class SettingsError(ValueError):
    """Settings that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class GeneratorSettings:
    out_dir: Path = Path("sources")
    seed: int = 42
    scale: float = 0.1
    start: dt.date = DEFAULT_START
    end: dt.date = DEFAULT_END
    emr_url_a: str | None = None  # None: SQLite file OUT/emr/hospital_a.db
    emr_url_b: str | None = None
    defect_rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DEFECT_RATES))
    force: bool = False

    def validate(self) -> None:
        if not math.isfinite(self.scale) or self.scale <= 0:
            raise SettingsError(f"--scale must be positive and finite, got {self.scale}")
        if self.end < self.start:
            raise SettingsError(f"--end {self.end} is before --start {self.start}")
        if not 0 <= self.seed < 2**63:
            raise SettingsError(f"--seed must be a non-negative integer, got {self.seed}")
        unknown = sorted(set(self.defect_rates) - set(DEFAULT_DEFECT_RATES))
        if unknown:
            known = ", ".join(sorted(DEFAULT_DEFECT_RATES))
            raise SettingsError(f"unknown defect type(s) {', '.join(unknown)}; known: {known}")
        for name, rate in self.defect_rates.items():
            if not 0 <= rate <= 0.2:
                raise SettingsError(f"defect rate {name}={rate} must be between 0 and 0.2")

    def emr_url(self, hospital: str) -> str:
        url = self.emr_url_a if hospital == "hospital_a" else self.emr_url_b
        return url or default_emr_url(self.out_dir, hospital)


def default_emr_url(out_dir: Path, hospital: str) -> str:
    return f"sqlite:///{(out_dir / 'emr' / f'{hospital}.db').as_posix()}"


def rates_with_defaults(overrides: dict[str, float]) -> dict[str, float]:
    rates = dict(DEFAULT_DEFECT_RATES)
    rates.update(overrides)
    return rates


@dataclass
class GenerateSummary:
    """What a run wrote: rows per table or file group, defects injected, time taken."""

    out_dir: Path
    start: dt.date  # first day this run covered
    end: dt.date  # last day this run covered
    rows: dict[str, int] = field(default_factory=dict)  # "hospital_a.transactions" -> rows
    updates: dict[str, int] = field(default_factory=dict)  # rows changed (advance only)
    defects: dict[str, int] = field(default_factory=dict)  # defect_type -> labels written
    files: list[str] = field(default_factory=list)  # files written, relative to out_dir
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def add_rows(self, key: str, count: int) -> None:
        self.rows[key] = self.rows.get(key, 0) + count

    def add_updates(self, key: str, count: int) -> None:
        self.updates[key] = self.updates.get(key, 0) + count
