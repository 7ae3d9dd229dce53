"""``generate`` and ``advance``: write the synthetic source systems and their ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection

from ingestion.console import info
from ingestion.generate import emr
from ingestion.generate import formats as fmt
from ingestion.generate import reference as ref
from ingestion.generate import simulate as sim
from ingestion.generate.settings import (
    TRANSACTIONS_PER_SCALE,
    GenerateSummary,
    GeneratorSettings,
    SettingsError,
    default_emr_url,
    rates_with_defaults,
)

Arr = sim.Arr
Cols = sim.Cols
Progress = Callable[[str], None]
DAY = sim.DAY
STATE_FILE = "generator_state.json"
STATE_DIR = "state"
STATE_VERSION = 1
HOSPITAL_SHARE = {"hospital_a": 0.55, "hospital_b": 0.45}
LINES_PER_PATIENT = 6.0
CLAIM_COLUMNS = (
    "ClaimID",
    "TransactionID",
    "PatientID",
    "EncounterID",
    "ProviderID",
    "DeptID",
    "ServiceDate",
    "ClaimDate",
    "PayorID",
    "ClaimAmount",
    "PaidAmount",
    "ClaimStatus",
    "PayorType",
    "Deductible",
    "Coinsurance",
    "Copay",
    "InsertDate",
    "ModifiedDate",
    "DenialReasonCode",
    "AllowedAmount",
)
CLAIM_REQUIRED_MISSING = ("ClaimID", "TransactionID", "PatientID", "ServiceDate")
TX_REQUIRED_MISSING = (
    "TransactionID",
    "EncounterID",
    "PatientID",
    "ProviderID",
    "DeptID",
    "ServiceDate",
    "Amount",
)
DEFECT_HEADER = ("hospital", "entity", "key", "field", "defect_type", "detail")
CLAIM_TRUTH_HEADER = (
    "hospital",
    "ClaimID",
    "TransactionID",
    "payer",
    "p_denial",
    "was_rejected",
    "first_outcome",
    "denial_reason_code",
    "appealed",
    "final_status",
    "final_paid_amount",
)
CHANGES_HEADER = ("hospital", "entity", "key", "change_type", "modified_at")
OUT_ITEMS = ("emr", "landing", "truth", STATE_DIR, STATE_FILE)


class GenerateError(RuntimeError):
    """A run that cannot go on; the message names the file or folder and what to do."""


# ----------------------------------------------------------------------------- plumbing


@dataclass
class _Writers:
    defects: Any
    claims_file: IO[str]
    handles: list[IO[str]] = field(default_factory=list)
    defect_counts: dict[str, int] = field(default_factory=dict)
    track_changes: bool = False  # only advance runs write a changes file
    _changes: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    @property
    def changes(self) -> list[tuple[str, str, str, str, str]]:
        """Where change rows go; a throw-away list unless changes are tracked."""
        return self._changes if self.track_changes else []

    def defect(
        self, hospital: str, entity: str, key: str, fld: str, dtype_: str, detail: str
    ) -> None:
        self.defects.writerow((hospital, entity, key, fld, dtype_, detail))
        self.defect_counts[dtype_] = self.defect_counts.get(dtype_, 0) + 1

    def close(self) -> None:
        for h in self.handles:
            h.close()


def _open_truth(out_dir: Path, append: bool) -> _Writers:
    truth = out_dir / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    mode = "a" if append else "w"
    fd = (truth / "defects.csv").open(mode, newline="", encoding="utf-8")
    fc = (truth / "claims.csv").open(mode, newline="", encoding="utf-8")
    wd = csv.writer(fd, lineterminator="\n")
    wc = csv.writer(fc, lineterminator="\n")
    if not append:
        wd.writerow(DEFECT_HEADER)
        wc.writerow(CLAIM_TRUTH_HEADER)
    return _Writers(defects=wd, claims_file=fc, handles=[fd, fc])


@dataclass
class _Ctx:
    """One hospital during one run."""

    hosp: sim.Hospital
    seed: int
    rates: dict[str, float]
    out_dir: Path
    writers: _Writers
    summary: GenerateSummary
    counters: dict[str, int]
    claim_files: list[str]
    progress: Progress

    @property
    def name(self) -> str:
        return self.hosp.name

    def dept_id(self, dept_idx: Arr) -> Arr:
        order = ref.DEPT_ORDER[self.name]
        num_of = np.empty(len(order), dtype=np.int64)
        num_of[np.array(order)] = np.arange(1, len(order) + 1)
        return fmt.ids("DEPT", num_of[dept_idx], 3)


def _month_pieces(day0: int, day1: int) -> list[tuple[int, int]]:
    pieces = []
    d = day0
    while d <= day1:
        date = fmt.day_date(d)
        nxt = (date.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        end = min(fmt.day_number(nxt) - 1, day1)
        pieces.append((d, end))
        d = end + 1
    return pieces


def _piece_name(hospital: str, p0: int, p1: int) -> str:
    d0, d1 = fmt.day_date(p0), fmt.day_date(p1)
    month_end = (d1.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    prefix = f"{ref.CLAIM_FILE_PREFIX[hospital]}_claim_data_{d1.year:04d}_{d1.month:02d}"
    if d0.day == 1 and d1 == month_end:
        return f"{prefix}.csv"
    return f"{prefix}_{d1.day:02d}.csv"


def _end_ts(day: int) -> int:
    return day * DAY + DAY - 1


def _pick(rng: np.random.Generator, eligible: Arr, rate: float, n_total: int) -> Arr:
    k = min(sim.sround(rng, rate * n_total), len(eligible))
    if k == 0:
        return eligible[:0]
    return np.sort(rng.choice(eligible, size=k, replace=False))


def _rows(cols: list[Arr]) -> list[tuple[Any, ...]]:
    return list(zip(*(c.tolist() for c in cols), strict=True))


def _with_duplicates(rows: list[tuple[Any, ...]], dup_idx: Arr) -> list[tuple[Any, ...]]:
    if len(dup_idx) == 0:
        return rows
    reps = np.ones(len(rows), dtype=np.int64)
    reps[dup_idx] = 2
    return [rows[i] for i in np.repeat(np.arange(len(rows)), reps).tolist()]


# ----------------------------------------------------------------------------- EMR rows


def _patient_rows(
    ctx: _Ctx, rng: np.random.Generator, pats: Cols, conn: Connection
) -> tuple[int, Arr, Arr]:
    """Insert patients (with their defects); returns rows written, ids, modified timestamps."""
    n = len(pats["num"])
    b = ctx.name == "hospital_b"
    first = np.array(ref.FIRST_NAMES, dtype=object)[rng.integers(0, len(ref.FIRST_NAMES), n)]
    last = np.array(ref.LAST_NAMES, dtype=object)[rng.integers(0, len(ref.LAST_NAMES), n)]
    mid_name = np.array(ref.FIRST_NAMES, dtype=object)[rng.integers(0, len(ref.FIRST_NAMES), n)]
    u = rng.random(n)
    initial = np.array([m[0] for m in mid_name.tolist()], dtype=object)
    if b:
        middle = fmt.keep_where(u < 0.5, initial)
    else:
        middle = np.where(u < 0.4, mid_name, fmt.keep_where(u < 0.7, initial + "."))
    area = rng.integers(100, 900, n)
    group = rng.integers(1, 100, n)
    serial = rng.integers(1, 10_000, n)
    if b:
        ssn = np.array(
            [f"{a:03d}{g:02d}{s:04d}" for a, g, s in zip(area, group, serial, strict=True)],
            dtype=object,
        )
    else:
        ssn = np.array(
            [f"{a:03d}-{g:02d}-{s:04d}" for a, g, s in zip(area, group, serial, strict=True)],
            dtype=object,
        )
    city = rng.integers(0, len(ref.CITIES), n)
    line = rng.integers(200, 1000, n)
    stn = rng.integers(0, 10_000, n)
    phone = []
    address = []
    street = rng.integers(0, len(ref.STREETS), n)
    house = rng.integers(1, 9999, n)
    zip4 = rng.integers(0, 100, n)
    for i in range(n):
        c = ref.CITIES[int(city[i])]
        if b:
            phone.append(f"{c[3]}-{line[i]}-{stn[i]:04d}")
        else:
            phone.append(f"({c[3]}) {line[i]}-{stn[i]:04d}")
        address.append(
            f"{house[i]} {ref.STREETS[int(street[i])]}, {c[0]}, {c[1]} {c[2]}{zip4[i]:02d}"
        )
    female = rng.random(n) < 0.52
    gender = np.where(female, "Female" if b else "F", "Male" if b else "M").astype(object)
    key = fmt.ids("PAT", pats["num"], 6)
    cols = [
        key.copy(),
        first,
        last,
        middle.astype(object),
        ssn,
        np.array(phone, dtype=object),
        gender,
        fmt.dates(pats["dob_day"]),
        np.array(address, dtype=object),
        fmt.timestamps(pats["reg_ts"]),
    ]
    # defects: missing id / DOB / first name (sometimes the literal 'null'), exact duplicates
    miss = _pick(rng, np.arange(n), ctx.rates.get("missing_required", 0.0), n)
    names = emr.patient_columns(ctx.name)
    for i in miss.tolist():
        col = (0, 7, 1)[int(rng.integers(0, 3))]
        literal = rng.random() < 0.3
        cols[col][i] = "null" if literal else None
        if col == 0:
            pats["key_ok"][i] = False
        how = "literal string 'null'" if literal else "NULL"
        ctx.writers.defect(ctx.name, "patients", str(key[i]), names[col], "missing_required", how)
    rest = np.setdiff1d(np.arange(n), miss)
    dups = _pick(rng, rest, ctx.rates.get("duplicate_row", 0.0), n)
    for i in dups.tolist():
        ctx.writers.defect(
            ctx.name, "patients", str(key[i]), "", "duplicate_row", "exact duplicate row"
        )
    rows = _with_duplicates(_rows(cols), dups)
    emr.insert_rows(conn, "patients", names, rows)
    reps = np.ones(n, dtype=np.int64)
    reps[dups] = 2
    return len(rows), np.repeat(key, reps), np.repeat(pats["reg_ts"], reps)


def _address(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for _ in range(n):
        c = ref.CITIES[int(rng.integers(0, len(ref.CITIES)))]
        street = ref.STREETS[int(rng.integers(0, len(ref.STREETS)))]
        out.append(
            f"{int(rng.integers(1, 9999))} {street}, {c[0]}, {c[1]} "
            f"{c[2]}{int(rng.integers(0, 100)):02d}"
        )
    return out


def _provider_rows(ctx: _Ctx) -> list[tuple[Any, ...]]:
    p = ctx.hosp.providers
    spec_names = np.array([d[1] for d in ref.DEPARTMENTS], dtype=object)
    return _rows(
        [
            fmt.ids("PROV", p["num"], 4),
            np.array(ref.FIRST_NAMES, dtype=object)[p["first"]],
            np.array(ref.LAST_NAMES, dtype=object)[p["last"]],
            spec_names[p["spec"]],
            ctx.dept_id(p["dept"]),
            p["npi"].astype(np.int64),
        ]
    )


def _encounter_and_transaction_rows(
    ctx: _Ctx,
    rng: np.random.Generator,
    chunk: sim.Chunk,
    claims: Cols,
    asof_ts: int,
    conn: Connection,
) -> tuple[int, int]:
    enc, lines = chunk.encounters, chunk.lines
    h = ctx.name
    n_enc = len(enc["num"])
    cpt_codes = np.array(ref.cpt_catalogue().codes + sim.UNKNOWN_CPT, dtype=object)
    enc_key = fmt.ids("ENC", enc["num"], 6)
    enc_cols = [
        enc_key,
        fmt.ids("PAT", enc["patient_num"], 6),
        fmt.dates(enc["day"]),
        np.array(ref.ENCOUNTER_TYPES, dtype=object)[enc["type"]],
        fmt.ids("PROV", enc["provider_num"], 4),
        ctx.dept_id(enc["dept"]),
        cpt_codes[enc["cpt"]],
        fmt.timestamps(np.minimum(enc["insert_ts"], asof_ts)),
        fmt.timestamps(np.minimum(enc["modified_ts"], asof_ts)),
    ]
    enc_dups = _pick(rng, np.arange(n_enc), ctx.rates.get("duplicate_row", 0.0), n_enc)
    for i in enc_dups.tolist():
        ctx.writers.defect(
            h, "encounters", str(enc_key[i]), "", "duplicate_row", "exact duplicate row"
        )
    enc_rows = _with_duplicates(_rows(enc_cols), enc_dups)
    emr.insert_rows(conn, "encounters", emr.TABLE_COLUMNS["encounters"], enc_rows)
    ctx.summary.add_rows(f"{h}.encounters", len(enc_rows))
    reps = np.ones(n_enc, dtype=np.int64)
    reps[enc_dups] = 2
    mod = np.repeat(np.minimum(enc["modified_ts"], asof_ts), reps)
    ctx.writers.changes.extend(
        (h, "encounters", k, "insert", t)
        for k, t in zip(
            np.repeat(enc_key, reps).tolist(), fmt.timestamps(mod).tolist(), strict=True
        )
    )

    n = len(lines["tx_num"])
    orphan = lines["orphan"]
    tx_key = fmt.ids("TRANS", lines["tx_num"], 6)
    enc_num = np.where(orphan == 3, lines["orphan_num"], lines["enc_num"])
    pat_num = np.where(orphan == 2, lines["orphan_num"], lines["patient_num"])
    prov_num = np.where(orphan == 1, lines["orphan_num"], lines["provider_num"])
    paid, paid_ts, _ = sim.state_as_of(claims, asof_ts)
    has_paid = paid_ts != sim.NONE_TS
    insert_ts = np.minimum(lines["insert_ts"], asof_ts)
    modified_ts = np.where(has_paid, np.maximum(insert_ts, paid_ts), insert_ts)
    payer = lines["payer"]
    amount_type = np.array([p.amount_type for p in ref.PAYERS], dtype=object)[payer]
    copay_line = (claims["copay"] > 0) & (rng.random(n) < 0.4)
    amount_type = np.where(copay_line, "Co-pay", amount_type)
    icd_codes = np.array(ref.icd_leaf_codes(), dtype=object)[lines["icd"]]
    bad = lines["icd_bad"] >= 0
    icd_codes[bad] = np.array(sim.UNKNOWN_ICD, dtype=object)[lines["icd_bad"][bad]]
    if h == "hospital_b":
        nodot = rng.random(n) < 0.5
        icd_codes[nodot] = np.array(
            [c.replace(".", "") for c in icd_codes[nodot].tolist()], dtype=object
        )
    pats = ctx.hosp.patients
    medicaid = fmt.keep_where(payer == ref.MEDICAID, pats["medicaid_id"][lines["patient"]])
    medicare = fmt.keep_where(payer == ref.MEDICARE, pats["medicare_id"][lines["patient"]])
    cols = [
        tx_key.copy(),
        fmt.ids("ENC", enc_num, 6),
        fmt.ids("PAT", pat_num, 6),
        fmt.ids("PROV", prov_num, 4),
        ctx.dept_id(lines["dept"]),
        fmt.dates(lines["visit_day"]),
        fmt.dates(lines["service_day"]),
        fmt.null_where(fmt.dates(np.where(has_paid, paid_ts, 0) // DAY), ~has_paid),
        np.array(ref.VISIT_TYPES, dtype=object)[lines["visit_type"]],
        fmt.money_float(rng, lines["amount"]).astype(object),
        amount_type.astype(object),
        fmt.money_float(rng, paid).astype(object),
        fmt.ids("CLAIM", claims["claim_num"], 6),
        np.array([p.code for p in ref.PAYERS], dtype=object)[payer],
        cpt_codes[lines["cpt"]],
        icd_codes,
        np.array([p.line_of_business for p in ref.PAYERS], dtype=object)[payer],
        medicaid.astype(object),
        medicare.astype(object),
        fmt.timestamps(insert_ts),
        fmt.timestamps(modified_ts),
    ]
    names = emr.TABLE_COLUMNS["transactions"]
    for dtype_, i, fld, detail in chunk.defects:
        ctx.writers.defect(h, "transactions", str(tx_key[i]), fld, dtype_, detail)
    eligible = np.flatnonzero(~lines["flagged"])
    miss = _pick(rng, eligible, ctx.rates.get("missing_required", 0.0), n)
    for i in miss.tolist():
        fld = TX_REQUIRED_MISSING[int(rng.integers(0, len(TX_REQUIRED_MISSING)))]
        cols[names.index(fld)][i] = None
        if fld == "TransactionID":
            claims["tx_key_ok"][i] = False
        ctx.writers.defect(h, "transactions", str(tx_key[i]), fld, "missing_required", "NULL")
    dups = _pick(rng, np.setdiff1d(eligible, miss), ctx.rates.get("duplicate_row", 0.0), n)
    for i in dups.tolist():
        ctx.writers.defect(
            h, "transactions", str(tx_key[i]), "", "duplicate_row", "exact duplicate row"
        )
    rows = _with_duplicates(_rows(cols), dups)
    emr.insert_rows(conn, "transactions", names, rows)
    ctx.summary.add_rows(f"{h}.transactions", len(rows))
    reps = np.ones(n, dtype=np.int64)
    reps[dups] = 2
    ctx.writers.changes.extend(
        (h, "transactions", k, "insert", t)
        for k, t in zip(
            np.repeat(tx_key, reps).tolist(), np.repeat(cols[-1], reps).tolist(), strict=True
        )
    )
    return len(enc_rows), len(rows)


def _join_columns(cols: list[Arr]) -> list[str]:
    """Comma-joined text lines of object columns (values never hold commas)."""
    return [",".join(row) for row in zip(*(c.tolist() for c in cols), strict=True)]


def _write_claim_truth(ctx: _Ctx, claims: Cols) -> None:
    n = len(claims["claim_num"])
    cols = [
        np.full(n, ctx.name, dtype=object),
        fmt.ids("CLAIM", claims["claim_num"], 6),
        fmt.ids("TRANS", claims["tx_num"], 6),
        np.array([p.name for p in ref.PAYERS], dtype=object)[claims["payer"]],
        fmt.int_text(np.round(claims["p_denial"] * 1e6).astype(np.int64) // 1_000_000)
        + "."
        + fmt.int_text(np.round(claims["p_denial"] * 1e6).astype(np.int64) % 1_000_000, 6),
        fmt.int_text(claims["rejected"].astype(np.int64)),
        claims["first_outcome"].astype(object),
        np.array(ref.REASON_CODES, dtype=object)[claims["denial_reason"]],
        fmt.int_text(claims["appealed"].astype(np.int64)),
        np.array(ref.STATUS_NAMES, dtype=object)[claims["final_status"]],
        fmt.money_text(claims["final_paid"]),
    ]
    if n:
        ctx.writers.claims_file.write("\n".join(_join_columns(cols)) + "\n")


# ----------------------------------------------------------------------------- claim files


def _write_claim_piece(ctx: _Ctx, pool: Cols, p0: int, p1: int) -> tuple[int, Cols]:
    """Write the claims file of days p0..p1; returns rows written and the pool still open."""
    name = _piece_name(ctx.name, p0, p1)
    if name in ctx.claim_files:
        raise GenerateError(f"claims file {name} was already written by an earlier run")
    t0, t1 = p0 * DAY, _end_ts(p1)
    ev_t = pool["ev_t"]
    inside = (ev_t >= t0) & (ev_t <= t1)
    idx, slot = np.nonzero(inside)  # one row per status change inside the window
    mod_ts = ev_t[idx, slot]
    order = np.lexsort((slot, pool["claim_num"][idx], mod_ts))
    idx, slot, mod_ts = idx[order], slot[order], mod_ts[order]
    c = sim.subset(pool, idx)
    n = len(idx)
    rows = np.arange(n)
    status = c["ev_s"][rows, slot]
    paid = c["ev_p"][rows, slot]
    reason = c["ev_r"][rows, slot]
    payers = ref.PAYERS
    claim_key = fmt.ids("CLAIM", c["claim_num"], 6)
    mod_text = fmt.timestamps(mod_ts)
    cols = [
        claim_key,
        fmt.ids("TRANS", c["tx_num"], 6),
        fmt.ids("PAT", c["patient_num"], 6),
        fmt.ids("ENC", c["enc_num"], 6),
        fmt.ids("PROV", c["provider_num"], 4),
        ctx.dept_id(c["dept"]),
        fmt.dates(c["service_day"]),
        fmt.dates(c["claim_day"]),
        np.array([p.name for p in payers], dtype=object)[c["payer"]],
        fmt.money_text(c["amount"]),
        fmt.money_text(paid),
        np.array(ref.STATUS_NAMES, dtype=object)[status],
        np.array([p.payor_type for p in payers], dtype=object)[c["payer"]],
        fmt.money_text(c["deductible"]),
        fmt.money_text(c["coinsurance"]),
        fmt.money_text(c["copay"]),
        fmt.timestamps(c["insert_ts"]),
        mod_text,
        np.array(ref.REASON_CODES, dtype=object)[reason],
        fmt.money_text(c["allowed"]),
    ]
    rng = sim.rng_for(ctx.seed, ctx.hosp.number, sim.STREAM_CLAIM_FILE, p0)
    rates = ctx.rates
    perm = rng.permutation(n)
    k_miss = sim.sround(rng, rates.get("missing_required", 0.0) * n)
    k_dup = sim.sround(rng, rates.get("duplicate_row", 0.0) * n)
    k_bad = sim.sround(rng, rates.get("malformed_line", 0.0) * n)
    miss = np.sort(perm[:k_miss])
    dups = np.sort(perm[k_miss : k_miss + k_dup])
    bad = np.sort(perm[k_miss + k_dup : k_miss + k_dup + k_bad])
    miss_field = [CLAIM_REQUIRED_MISSING[int(rng.integers(0, 4))] for _ in miss]
    bad_kind = [int(rng.integers(0, 3)) for _ in bad]
    bad_col = [int(rng.integers(1, len(CLAIM_COLUMNS))) for _ in bad]
    for i, fld in zip(miss.tolist(), miss_field, strict=True):
        cols[CLAIM_COLUMNS.index(fld)][i] = ""
    lines = _join_columns(cols)
    reps = np.ones(n, dtype=np.int64)
    reps[dups] = 2
    line_no = np.cumsum(reps) - reps + 2  # 1-based file line of each row (header is line 1)
    h = ctx.name
    keys = claim_key.tolist()
    w = ctx.writers
    for i, fld in zip(miss.tolist(), miss_field, strict=True):
        w.defect(h, "claims", keys[i], fld, "missing_required", f"{name}:{line_no[i]}")
    for i, kind, col in zip(bad.tolist(), bad_kind, bad_col, strict=True):
        row = [str(v[i]) for v in cols]
        if kind == 0:
            del row[col]
            detail = f"{keys[i]}: {len(row)} fields instead of {len(CLAIM_COLUMNS)}"
        elif kind == 1:
            row.append(row[col])
            detail = f"{keys[i]}: {len(row)} fields instead of {len(CLAIM_COLUMNS)}"
        else:
            row[col] = '"' + row[col]
            detail = f"{keys[i]}: unclosed quote in field {CLAIM_COLUMNS[col]}"
        lines[i] = ",".join(row)
        w.defect(h, "claims", f"{name}:{line_no[i]}", "", "malformed_line", detail)
    for i in dups.tolist():
        w.defect(
            h,
            "claims",
            keys[i],
            "",
            "duplicate_row",
            f"{name}:{line_no[i] + 1} repeats line {line_no[i]}",
        )
    out_lines = [lines[i] for i in np.repeat(rows, reps).tolist()]
    change = np.where(slot == 0, "insert", "update")
    w.changes.extend(
        zip(
            [h] * len(out_lines),
            ["claims"] * len(out_lines),
            np.repeat(claim_key, reps).tolist(),
            np.repeat(change, reps).tolist(),
            np.repeat(mod_text, reps).tolist(),
            strict=True,
        )
    )
    path = ctx.out_dir / "landing" / "claims" / name
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(CLAIM_COLUMNS) + "\n")
        if out_lines:
            f.write("\n".join(out_lines) + "\n")
    ctx.claim_files.append(name)
    ctx.summary.files.append(f"landing/claims/{name}")
    ctx.summary.add_rows(f"{h}.claims_csv", len(out_lines))
    still_open = (ev_t > t1) & (ev_t != sim.NONE_TS)
    return len(out_lines), sim.subset(pool, np.flatnonzero(still_open.any(axis=1)))


# ----------------------------------------------------------------------------- windows


def _simulate_window(ctx: _Ctx, conn: Connection, pool: Cols, day0: int, day1: int) -> Cols:
    """Encounters, transactions and claim files for days day0..day1, month by month."""
    asof_ts = _end_ts(day1)
    for p0, p1 in _month_pieces(day0, day1):
        rng = sim.rng_for(ctx.seed, ctx.hosp.number, sim.STREAM_CHUNK, p0)
        chunk = sim.simulate_chunk(
            rng,
            ctx.hosp,
            p0,
            p1,
            ctx.counters["encounter"],
            ctx.counters["transaction"],
            ctx.rates,
        )
        claims = sim.simulate_claims(rng, ctx.hosp, chunk.lines)
        n_enc, n_tx = _encounter_and_transaction_rows(ctx, rng, chunk, claims, asof_ts, conn)
        ctx.counters["encounter"] += len(chunk.encounters["num"])
        ctx.counters["transaction"] += len(chunk.lines["tx_num"])
        _write_claim_truth(ctx, claims)
        pool = sim.concat(pool, {k: claims[k] for k in sim.POOL_KEYS})
        n_claims, pool = _write_claim_piece(ctx, pool, p0, p1)
        ctx.progress(
            f"  {ctx.name} {fmt.day_date(p0)}..{fmt.day_date(p1)}: {n_enc:,} encounters, "
            f"{n_tx:,} transactions, {n_claims:,} claim rows ({len(pool['claim_num']):,} open)"
        )
    return pool


# ----------------------------------------------------------------------------- state files


def _save_cols(path: Path, cols: Cols) -> None:
    arrays: dict[str, Any] = {}
    for k, v in cols.items():
        if v.ndim == 2:
            for j in range(v.shape[1]):
                arrays[f"{k}__{j}"] = pa.array(v[:, j])
        elif v.dtype == object:
            arrays[k] = pa.array(v.tolist(), type=pa.string())
        else:
            arrays[k] = pa.array(v)
    pq.write_table(pa.table(arrays), path, compression="zstd")


def _load_cols(path: Path) -> Cols:
    table = pq.read_table(path)
    out: Cols = {}
    two_d: dict[str, list[Arr]] = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            arr = np.array(col.to_pylist(), dtype=object)
        else:
            arr = np.array(col.to_numpy(), copy=True)
        if "__" in name:
            base = name.split("__")[0]
            two_d.setdefault(base, []).append(arr)
        else:
            out[name] = arr
    for base, parts in two_d.items():
        out[base] = np.stack(parts, axis=1)
    return out


def _state_path(out_dir: Path, hospital: str, what: str) -> Path:
    return out_dir / STATE_DIR / f"{hospital}_{what}.parquet"


def _save_hospital_state(out_dir: Path, hosp: sim.Hospital, pool: Cols) -> None:
    (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
    _save_cols(_state_path(out_dir, hosp.name, "patients"), hosp.patients)
    _save_cols(_state_path(out_dir, hosp.name, "providers"), hosp.providers)
    if not pool:
        pool = {
            k: np.zeros((0, sim.N_SLOTS) if k.startswith("ev_") else 0, dtype=np.int64)
            for k in sim.POOL_KEYS
        }
        pool["tx_key_ok"] = pool["tx_key_ok"].astype(np.bool_)
    _save_cols(_state_path(out_dir, hosp.name, "open_claims"), pool)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------- generate


def _prepare_out_dir(settings: GeneratorSettings) -> None:
    out = settings.out_dir
    if out.exists() and not out.is_dir():
        raise GenerateError(f"{out} exists and is not a folder; choose another --out")
    if out.exists() and any(out.iterdir()):
        if not settings.force:
            raise GenerateError(
                f"output folder {out} is not empty; pass --force to overwrite it, or "
                f"--advance-to DATE to continue it"
            )
        for item in OUT_ITEMS:
            p = out / item
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    for sub in ("emr", "landing/claims", "landing/cpt", "landing/npi", "truth"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def _new_hospital(settings: GeneratorSettings, name: str, number: int, n_days: int) -> sim.Hospital:
    seed = settings.seed
    daily_lines = settings.scale * TRANSACTIONS_PER_SCALE * HOSPITAL_SHARE[name] / n_days
    n_lines = daily_lines * n_days
    n_prov = int(np.clip(round(n_lines / 2500), 2 * len(ref.DEPARTMENTS) + 4, 8000))
    rng_p = sim.rng_for(seed, number, sim.STREAM_PROVIDERS)
    providers = sim.make_providers(rng_p, n_prov, npi_base=(100_000_000, 150_000_000)[number - 1])
    n_pat = max(60, round(n_lines / LINES_PER_PATIENT))
    rng = sim.rng_for(seed, number, sim.STREAM_PATIENTS)
    start_ts = fmt.day_number(settings.start) * DAY
    end_ts = _end_ts(fmt.day_number(settings.end))
    n_before = round(n_pat * 0.7)
    reg_before = rng.integers(start_ts - 5 * 365 * DAY, start_ts, n_before)
    reg_during = rng.integers(start_ts, end_ts, n_pat - n_before)
    reg = np.sort(np.concatenate([reg_before, reg_during]))
    patients = sim.make_patients(rng, reg, 1, fmt.day_number(settings.start))
    icd_pool, icd_w = sim.make_icd_pool(sim.rng_for(seed, number, sim.STREAM_CODES))
    return sim.Hospital(
        name=name,
        number=number,
        daily_lines=daily_lines,
        patients_per_day=(n_pat - n_before) / n_days,
        patients=patients,
        providers=providers,
        icd_pool=icd_pool,
        icd_weights=icd_w,
    )


def _inject_invalid_npis(ctx: _Ctx) -> None:
    p = ctx.hosp.providers
    n = len(p["num"])
    rate = ctx.rates.get("invalid_npi", 0.0)
    rng = sim.rng_for(ctx.seed, ctx.hosp.number, sim.STREAM_PROVIDERS, 1)
    k = max(1, round(rate * n)) if rate > 0 else 0
    for i in np.sort(rng.choice(n, size=k, replace=False)).tolist():
        good = int(p["npi"][i])
        bad = good - good % 10 + (good % 10 + int(rng.integers(1, 10))) % 10
        p["npi"][i] = bad
        p["npi_ok"][i] = False
        ctx.writers.defect(
            ctx.name,
            "providers",
            f"PROV{p['num'][i]:04d}",
            "NPI",
            "invalid_npi",
            f"{bad} fails the check digit",
        )


def _quiet(_message: str) -> None:
    """A progress callback that prints nothing."""


@dataclass
class _HospitalResult:
    name: str
    state: dict[str, Any]
    providers: Cols
    claim_files: list[str]
    summary: GenerateSummary
    defect_counts: dict[str, int]


def _part_path(out: Path, what: str, hospital: str) -> Path:
    return out / "truth" / f".{what}.{hospital}.part"


def _generate_hospital(
    settings: GeneratorSettings, name: str, number: int, rates: dict[str, float], verbose: bool
) -> _HospitalResult:
    """One hospital's EMR, claim files, truth parts and state (runs in a worker process)."""
    say: Progress = info if verbose else _quiet
    out = settings.out_dir
    day0, day1 = fmt.day_number(settings.start), fmt.day_number(settings.end)
    summary = GenerateSummary(out_dir=out, start=settings.start, end=settings.end)
    fd = _part_path(out, "defects", name).open("w", newline="", encoding="utf-8")
    fc = _part_path(out, "claims", name).open("w", newline="", encoding="utf-8")
    writers = _Writers(
        defects=csv.writer(fd, lineterminator="\n"), claims_file=fc, handles=[fd, fc]
    )
    claim_files: list[str] = []
    try:
        hosp = _new_hospital(settings, name, number, day1 - day0 + 1)
        ctx = _Ctx(
            hosp=hosp,
            seed=settings.seed,
            rates=rates,
            out_dir=out,
            writers=writers,
            summary=summary,
            counters={"patient": len(hosp.patients["num"]) + 1, "encounter": 1, "transaction": 1},
            claim_files=claim_files,
            progress=say,
        )
        url = settings.emr_url(name)
        say(f"{name}: writing EMR to {_redact(url)}")
        engine = emr.open_engine(url)
        try:
            found = emr.existing_tables(engine)
            if found and not settings.force:
                raise GenerateError(
                    f"{_redact(url)} already has tables {', '.join(found)}; "
                    "pass --force to replace them"
                )
            emr.drop_tables(engine, name)
            emr.create_tables(engine, name)
            _inject_invalid_npis(ctx)
            with emr.transaction(engine) as conn:
                depts = [
                    (f"DEPT{i + 1:03d}", ref.DEPARTMENTS[d][0])
                    for i, d in enumerate(ref.DEPT_ORDER[name])
                ]
                emr.insert_rows(conn, "departments", emr.TABLE_COLUMNS["departments"], depts)
                summary.add_rows(f"{name}.departments", len(depts))
                prov_rows = _provider_rows(ctx)
                emr.insert_rows(conn, "providers", emr.TABLE_COLUMNS["providers"], prov_rows)
                summary.add_rows(f"{name}.providers", len(prov_rows))
                rng_pat = sim.rng_for(settings.seed, number, sim.STREAM_PATIENTS, 1)
                n_pat_rows, _, _ = _patient_rows(ctx, rng_pat, hosp.patients, conn)
                summary.add_rows(f"{name}.patients", n_pat_rows)
                say(
                    f"  {name}: {len(depts)} departments, {len(prov_rows):,} providers, "
                    f"{n_pat_rows:,} patients"
                )
                pool = _simulate_window(ctx, conn, {}, day0, day1)
        finally:
            engine.dispose()
        _save_hospital_state(out, hosp, pool)
    finally:
        writers.close()
    state = {
        "number": number,
        "daily_lines": hosp.daily_lines,
        "patients_per_day": hosp.patients_per_day,
        "counters": ctx.counters,
        "emr_url": _redact(url) if settings.emr_url_a or settings.emr_url_b else None,
    }
    return _HospitalResult(name, state, hosp.providers, claim_files, summary, writers.defect_counts)


def generate(
    settings: GeneratorSettings, progress: Progress | None = None, workers: int = 2
) -> GenerateSummary:
    """Write a fresh set of sources to ``settings.out_dir``; see docs/contracts.md section 1.

    The two hospitals are simulated in ``workers`` processes (their outputs do not depend on
    each other, so the files are the same for any number of workers). Progress lines of the
    hospitals are printed to stdout when ``progress`` is given.
    """
    say = progress or (lambda _m: None)
    settings.validate()
    rates = rates_with_defaults(settings.defect_rates)
    started = time.perf_counter()
    _prepare_out_dir(settings)
    out = settings.out_dir
    summary = GenerateSummary(out_dir=out, start=settings.start, end=settings.end)
    jobs = [
        (settings, name, n, rates, progress is not None) for n, name in enumerate(ref.HOSPITALS, 1)
    ]
    if workers > 1:
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
            results = list(pool.map(_generate_hospital_job, jobs))
    else:
        results = [_generate_hospital_job(job) for job in jobs]
    defect_counts: dict[str, int] = {}
    claim_files: list[str] = []
    for r in results:
        for k, v in r.summary.rows.items():
            summary.add_rows(k, v)
        summary.files += r.summary.files
        claim_files += r.claim_files
        for k, v in r.defect_counts.items():
            defect_counts[k] = defect_counts.get(k, 0) + v
    _merge_parts(out, [r.name for r in results])
    say("code sets: CPT list and NPPES extract")
    summary.add_rows("landing.cpt_codes", _write_cpt(out))
    summary.add_rows("landing.npi_results", _write_npi(out, {r.name: r.providers for r in results}))
    summary.files += ["landing/cpt/cpt_codes.csv", "landing/npi/nppes_npi_extract.json"]
    state = {
        "version": STATE_VERSION,
        "seed": settings.seed,
        "scale": settings.scale,
        "start": settings.start.isoformat(),
        "end": settings.end.isoformat(),
        "defect_rates": rates,
        "hospitals": {r.name: r.state for r in results},
        "claim_files": sorted(claim_files),
        "windows": [[settings.start.isoformat(), settings.end.isoformat()]],
        "rng_step": 1,
    }
    _write_json(out / STATE_FILE, state)
    summary.defects = dict(sorted(defect_counts.items()))
    summary.seconds = time.perf_counter() - started
    return summary


def _generate_hospital_job(
    job: tuple[GeneratorSettings, str, int, dict[str, float], bool],
) -> _HospitalResult:
    return _generate_hospital(*job)


def _merge_parts(out: Path, hospitals: list[str]) -> None:
    """truth/defects.csv and truth/claims.csv: header, then each hospital's part in order."""
    for what, header in (("defects", DEFECT_HEADER), ("claims", CLAIM_TRUTH_HEADER)):
        with (out / "truth" / f"{what}.csv").open("w", newline="", encoding="utf-8") as f:
            f.write(",".join(header) + "\n")
            for h in hospitals:
                part = _part_path(out, what, h)
                with part.open(encoding="utf-8", newline="") as src:
                    shutil.copyfileobj(src, f)
                part.unlink()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _write_cpt(out: Path) -> int:
    cat = ref.cpt_catalogue()
    path = out / "landing" / "cpt" / "cpt_codes.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ("Procedure Code Category", "CPT Codes", "Procedure Code Descriptions", "Code Status")
        )
        for row in zip(cat.categories, cat.codes, cat.descriptions, cat.statuses, strict=True):
            w.writerow(row)
    return len(cat.codes)


def _write_npi(out: Path, providers_of: dict[str, Cols]) -> int:
    results = []
    for p in providers_of.values():
        for i in np.flatnonzero(p["npi_ok"]).tolist():
            spec = ref.DEPARTMENTS[int(p["spec"][i])][1]
            city, state, zip3, area = ref.CITIES[int(p["city"][i])]
            enum_day = int(p["enum_day"][i])
            upd_day = enum_day + 400 + int(p["num"][i]) * 37 % 2000
            number = str(int(p["npi"][i]))
            phone = f"{area}-555-{int(p['npi'][i]) % 10_000:04d}"
            address = {
                "address_1": f"{100 + int(p['num'][i]) % 900} MEDICAL CENTER DR",
                "address_2": "",
                "address_purpose": "LOCATION",
                "address_type": "DOM",
                "city": city.upper(),
                "country_code": "US",
                "country_name": "United States",
                "postal_code": f"{zip3}{int(p['npi'][i]) % 100:02d}"
                f"{int(p['npi'][i]) // 100 % 10_000:04d}",
                "state": state,
                "telephone_number": phone,
            }
            results.append(
                {
                    "addresses": [address, {**address, "address_purpose": "MAILING"}],
                    "basic": {
                        "credential": ref.CREDENTIALS[int(p["credential"][i])],
                        "enumeration_date": fmt.day_date(enum_day).isoformat(),
                        "first_name": ref.FIRST_NAMES[int(p["first"][i])].upper(),
                        "gender": "F" if p["gender"][i] else "M",
                        "last_name": ref.LAST_NAMES[int(p["last"][i])].upper(),
                        "last_updated": fmt.day_date(upd_day).isoformat(),
                        "name_prefix": ref.NAME_PREFIX[int(p["num"][i]) % len(ref.NAME_PREFIX)],
                        "sole_proprietor": "NO",
                        "status": "A",
                    },
                    "created_epoch": str(enum_day * DAY * 1000),
                    "endpoints": [],
                    "enumeration_type": "NPI-1",
                    "identifiers": [],
                    "last_updated_epoch": str(upd_day * DAY * 1000),
                    "number": number,
                    "other_names": [],
                    "practiceLocations": [],
                    "taxonomies": [
                        {
                            "code": ref.TAXONOMY[spec],
                            "desc": spec,
                            "license": f"{state}{int(p['npi'][i]) % 1_000_000:06d}",
                            "primary": True,
                            "state": state,
                            "taxonomy_group": "",
                        }
                    ],
                }
            )
    results.sort(key=lambda r: str(r["number"]))
    _write_json(
        out / "landing" / "npi" / "nppes_npi_extract.json",
        {"result_count": len(results), "results": results},
    )
    return len(results)


# ----------------------------------------------------------------------------- advance


def load_state(out_dir: Path) -> dict[str, Any]:
    path = out_dir / STATE_FILE
    if not path.exists():
        raise GenerateError(f"{path} not found: run `rcm generate --out {out_dir}` first")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # not JSON, or not UTF-8
        raise GenerateError(
            f"{path} is not the state file `rcm generate` writes ({exc}); generate the sources "
            f"again with `rcm generate --out {out_dir} --force`"
        ) from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        data = data if isinstance(data, dict) else {}
        raise GenerateError(f"{path} has version {data.get('version')}, expected {STATE_VERSION}")
    return data


def advance(
    out_dir: Path,
    to_date: dt.date,
    emr_url_a: str | None = None,
    emr_url_b: str | None = None,
    progress: Progress | None = None,
) -> GenerateSummary:
    """Continue an existing set of sources up to ``to_date`` (inclusive), deterministically."""
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    state = load_state(out_dir)
    end = dt.date.fromisoformat(state["end"])
    if to_date <= end:
        raise SettingsError(f"--advance-to {to_date} must be after the current end {end}")
    seed = int(state["seed"])
    rates: dict[str, float] = {k: float(v) for k, v in state["defect_rates"].items()}
    day0, day1 = fmt.day_number(end) + 1, fmt.day_number(to_date)
    win0_ts, win1_ts = day0 * DAY, _end_ts(day1)
    summary = GenerateSummary(out_dir=out_dir, start=fmt.day_date(day0), end=to_date)
    writers = _open_truth(out_dir, append=True)
    writers.track_changes = True
    claim_files: list[str] = list(state["claim_files"])
    try:
        for name in ref.HOSPITALS:
            hs = state["hospitals"][name]
            number = int(hs["number"])
            icd_pool, icd_w = sim.make_icd_pool(sim.rng_for(seed, number, sim.STREAM_CODES))
            hosp = sim.Hospital(
                name=name,
                number=number,
                daily_lines=float(hs["daily_lines"]),
                patients_per_day=float(hs["patients_per_day"]),
                patients=_load_cols(_state_path(out_dir, name, "patients")),
                providers=_load_cols(_state_path(out_dir, name, "providers")),
                icd_pool=icd_pool,
                icd_weights=icd_w,
            )
            carry = _load_cols(_state_path(out_dir, name, "open_claims"))
            ctx = _Ctx(
                hosp=hosp,
                seed=seed,
                rates=rates,
                out_dir=out_dir,
                writers=writers,
                summary=summary,
                counters={k: int(v) for k, v in hs["counters"].items()},
                claim_files=claim_files,
                progress=say,
            )
            url = (emr_url_a if name == "hospital_a" else emr_url_b) or default_emr_url(
                out_dir, name
            )
            say(f"{name}: advancing {fmt.day_date(day0)}..{to_date} in {_redact(url)}")
            engine = emr.open_engine(url)
            try:
                with emr.transaction(engine) as conn:
                    emr.ensure_indexes(conn, name)
                    _advance_masters(ctx, conn, day0, day1)
                    _advance_old_transactions(ctx, conn, carry, win0_ts, win1_ts)
                    pool = _simulate_window(ctx, conn, carry, day0, day1)
            finally:
                engine.dispose()
            _save_hospital_state(out_dir, hosp, pool)
            hs["counters"] = ctx.counters
        state["end"] = to_date.isoformat()
        state["claim_files"] = sorted(claim_files)
        state["windows"].append([fmt.day_date(day0).isoformat(), to_date.isoformat()])
        state["rng_step"] = int(state["rng_step"]) + 1
        _write_json(out_dir / STATE_FILE, state)
        path = out_dir / "truth" / f"changes_{to_date.isoformat()}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(CHANGES_HEADER)
            w.writerows(writers._changes)
        summary.files.append(f"truth/{path.name}")
    finally:
        writers.close()
    summary.defects = dict(sorted(writers.defect_counts.items()))
    summary.seconds = time.perf_counter() - started
    return summary


def _advance_masters(ctx: _Ctx, conn: Connection, day0: int, day1: int) -> None:
    """New patients, address and insurance changes, provider moves within the window."""
    h = ctx.name
    hosp = ctx.hosp
    rng = sim.rng_for(ctx.seed, hosp.number, sim.STREAM_CHANGES, day0)
    n_days = day1 - day0 + 1
    win0, win1 = day0 * DAY, _end_ts(day1)
    pats = hosp.patients
    n_old = len(pats["num"])
    # address changes of existing patients (only rows that carry their id)
    cand = np.flatnonzero(pats["key_ok"])
    k = min(int(rng.poisson(len(cand) * 0.0005 * n_days)), len(cand))
    movers = np.sort(rng.choice(cand, size=k, replace=False)) if k else cand[:0]
    mod = np.sort(rng.integers(win0, win1, k, endpoint=True)) if k else np.zeros(0, dtype=np.int64)
    keys = fmt.ids("PAT", pats["num"][movers], 6)
    mod_text = fmt.timestamps(mod)
    names = emr.patient_columns(h)
    emr.update_rows(
        conn,
        "patients",
        ("Address", names[-1]),
        names[0],
        list(zip(_address(rng, k), mod_text.tolist(), keys.tolist(), strict=True)),
    )
    ctx.summary.add_updates(f"{h}.patients", k)
    ctx.writers.changes.extend(
        (h, "patients", kk, "update", t)
        for kk, t in zip(keys.tolist(), mod_text.tolist(), strict=True)
    )
    # insurance changes: later transactions bill the new payer (no EMR column changes)
    k_ins = min(int(rng.poisson(n_old * 0.0002 * n_days)), n_old)
    switch = rng.choice(n_old, size=k_ins, replace=False) if k_ins else np.zeros(0, dtype=np.int64)
    new_payer = rng.integers(0, len(ref.PAYERS), k_ins)
    pats["payer"][switch] = new_payer
    pats["medicaid_id"][switch] = fmt.keep_where(
        new_payer == ref.MEDICAID, sim.medicaid_ids(rng, k_ins)
    )
    pats["medicare_id"][switch] = fmt.keep_where(new_payer == ref.MEDICARE, sim.mbi_ids(rng, k_ins))
    # new registrations
    n_new = int(rng.poisson(hosp.patients_per_day * n_days))
    reg = np.sort(rng.integers(win0, win1, n_new, endpoint=True))
    new = sim.make_patients(rng, reg, ctx.counters["patient"], day0)
    n_rows, new_keys, new_mod = _patient_rows(ctx, rng, new, conn)
    ctx.writers.changes.extend(
        (h, "patients", kk, "insert", t)
        for kk, t in zip(new_keys.tolist(), fmt.timestamps(new_mod).tolist(), strict=True)
    )
    hosp.patients = sim.concat(pats, new)
    ctx.counters["patient"] += n_new
    ctx.summary.add_rows(f"{h}.patients", n_rows)
    # provider moves
    prov = hosp.providers
    n_prov = len(prov["num"])
    k_mv = min(int(rng.binomial(n_prov, min(0.015 * n_days / 30, 0.5))), n_prov)
    moved = (
        np.sort(rng.choice(n_prov, size=k_mv, replace=False))
        if k_mv
        else np.zeros(0, dtype=np.int64)
    )
    shift = rng.integers(1, len(ref.DEPARTMENTS), k_mv)
    prov["dept"][moved] = (prov["dept"][moved] + shift) % len(ref.DEPARTMENTS)
    mv_ts = rng.integers(win0, win1, k_mv, endpoint=True)
    pkeys = fmt.ids("PROV", prov["num"][moved], 4)
    emr.update_rows(
        conn,
        "providers",
        ("DeptID",),
        "ProviderID",
        list(zip(ctx.dept_id(prov["dept"][moved]).tolist(), pkeys.tolist(), strict=True)),
    )
    ctx.summary.add_updates(f"{h}.providers", k_mv)
    ctx.writers.changes.extend(
        (h, "providers", kk, "update", t)
        for kk, t in zip(pkeys.tolist(), fmt.timestamps(mv_ts).tolist(), strict=True)
    )
    ctx.progress(
        f"  {h}: {n_new:,} new patients, {k:,} address changes, {k_ins:,} insurance changes, "
        f"{k_mv:,} provider moves"
    )


def _advance_old_transactions(
    ctx: _Ctx, conn: Connection, carry: Cols, win0: int, win1: int
) -> None:
    """Payments in the window of claims written before: update their transaction rows."""
    if len(carry["claim_num"]) == 0:
        return
    paid_in = (carry["ev_s"] == ref.PAID) & (carry["ev_t"] >= win0) & (carry["ev_t"] <= win1)
    idx = np.flatnonzero(paid_in.any(axis=1) & carry["tx_key_ok"])
    c = sim.subset(carry, idx)
    paid, paid_ts, _ = sim.state_as_of(c, win1)
    rng = sim.rng_for(ctx.seed, ctx.hosp.number, sim.STREAM_CHANGES, win0 // DAY + 1)
    keys = fmt.ids("TRANS", c["tx_num"], 6)
    ts_text = fmt.timestamps(paid_ts)
    rows = list(
        zip(
            fmt.money_float(rng, paid).tolist(),
            fmt.dates(paid_ts // DAY).tolist(),
            ts_text.tolist(),
            keys.tolist(),
            strict=True,
        )
    )
    emr.update_rows(
        conn, "transactions", ("PaidAmount", "PaidDate", "ModifiedDate"), "TransactionID", rows
    )
    ctx.summary.add_updates(f"{ctx.name}.transactions", len(rows))
    ctx.writers.changes.extend(
        (ctx.name, "transactions", k, "update", t)
        for k, t in zip(keys.tolist(), ts_text.tolist(), strict=True)
    )
