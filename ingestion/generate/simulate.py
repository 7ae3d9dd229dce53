"""The vectorised simulation: patients, providers, encounters, service lines, claim lifecycles.

All arrays are numpy; times are int64 seconds since 1970-01-01 (UTC, naive) and days are
int64 days since 1970-01-01. Nothing here does I/O: ``emr`` and ``files`` format and write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ingestion.generate import reference as ref

Arr = npt.NDArray[Any]
Cols = dict[str, Arr]
DAY = 86_400
NONE_TS = np.iinfo(np.int64).max  # "no such event"
N_SLOTS = 5

# Random streams: one generator per (seed, hospital, stream, key); keys are day numbers.
STREAM_PATIENTS = 1
STREAM_PROVIDERS = 2
STREAM_CHUNK = 3
STREAM_CLAIM_FILE = 4
STREAM_CHANGES = 5
STREAM_NEW_PATIENTS = 6
STREAM_CODES = 7


def rng_for(seed: int, hospital_no: int, stream: int, key: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, hospital_no, stream, key + 10**6]))


def sround(rng: np.random.Generator, expected: float) -> int:
    """Stochastic rounding: an integer count whose mean is ``expected``."""
    base = int(np.floor(expected))
    return base + int(rng.random() < expected - base)


def sigmoid(x: Arr) -> Arr:
    return 1.0 / (1.0 + np.exp(-x))


# ----------------------------------------------------------------------------- hospitals


@dataclass
class Hospital:
    """What the simulation of one hospital needs between chunks (saved in the state)."""

    name: str
    number: int  # 1 for hospital A, 2 for hospital B
    daily_lines: float  # expected transaction lines per day
    patients_per_day: float  # new registrations per day
    patients: Cols  # num, reg_ts, dob_day, payer, medicaid_id, medicare_id, key_ok
    providers: Cols  # num, dept, spec, weight, effect, npi, npi_ok, first, last, gender
    icd_pool: Arr  # indices into reference.icd_leaf_codes()
    icd_weights: Arr


def make_providers(rng: np.random.Generator, n: int, npi_base: int) -> Cols:
    """Providers: at least two per department, emergency and primary care staffed more."""
    n_dept = len(ref.DEPARTMENTS)
    weights = np.ones(n_dept)
    weights[ref.ER_DEPT] = 2.5
    weights[list(ref.PRIMARY_CARE_DEPTS)] = 2.0
    extra = rng.choice(n_dept, size=max(n - 2 * n_dept, 0), p=weights / weights.sum())
    spec = np.sort(np.concatenate([np.repeat(np.arange(n_dept), 2), extra]))[:n]
    spec = rng.permutation(spec)
    first9 = npi_base + rng.choice(10_000_000, size=n, replace=False).astype(np.int64)
    npi = first9 * 10 + ref.npi_check_digit(first9)
    return {
        "num": np.arange(1, n + 1, dtype=np.int64),
        "spec": spec.astype(np.int64),
        "dept": spec.astype(np.int64),  # department index (changes when a provider moves)
        "weight": rng.lognormal(0.0, 0.5, n),
        "effect": rng.normal(0.0, 0.45, n),  # provider effect in the denial model
        "npi": npi,
        "npi_ok": np.ones(n, dtype=np.bool_),
        "first": rng.integers(0, len(ref.FIRST_NAMES), n),
        "last": rng.integers(0, len(ref.LAST_NAMES), n),
        "gender": rng.integers(0, 2, n),
        "credential": rng.integers(0, len(ref.CREDENTIALS), n),
        "city": rng.integers(0, len(ref.CITIES), n),
        "enum_day": rng.integers(12_000, 19_000, n),
    }


def make_patients(rng: np.random.Generator, reg_ts: Arr, first_num: int, ref_day: int) -> Cols:
    """Patients numbered from ``first_num``, one per (sorted) registration timestamp."""
    n = len(reg_ts)
    age_days = (rng.gamma(2.2, 17.0, n) * 365.25).astype(np.int64)
    age_days = np.clip(age_days, 30, 100 * 365)
    dob_day = ref_day - age_days
    age = age_days / 365.25
    u = rng.random(n)
    payer = np.full(n, ref.SELF_PAY, dtype=np.int64)
    old = age >= 65
    payer[old & (u < 0.88)] = ref.MEDICARE
    payer[old & (u >= 0.88) & (u < 0.95)] = ref.MEDICAID
    com = rng.choice(ref.COMMERCIAL, size=n, p=[0.22, 0.3, 0.14, 0.1, 0.24])
    young = ~old
    payer[young & (u < 0.22)] = ref.MEDICAID
    sel = young & (u >= 0.22) & (u < 0.92)
    payer[sel] = com[sel]
    payer[old & (u >= 0.95)] = com[old & (u >= 0.95)]
    medicaid = keep_where(payer == ref.MEDICAID, medicaid_ids(rng, n))
    medicare = keep_where(payer == ref.MEDICARE, mbi_ids(rng, n))
    return {
        "num": np.arange(first_num, first_num + n, dtype=np.int64),
        "reg_ts": reg_ts,
        "dob_day": dob_day,
        "payer": payer,
        "medicaid_id": medicaid.astype(object),
        "medicare_id": medicare.astype(object),
        "key_ok": np.ones(n, dtype=np.bool_),
    }


def _letters(rng: np.random.Generator, alphabet: str, n: int) -> Arr:
    chars = np.array(list(alphabet), dtype=object)
    return chars[rng.integers(0, len(alphabet), n)]


def mbi_ids(rng: np.random.Generator, n: int) -> Arr:
    """Medicare Beneficiary Identifiers: 11 characters, CMS layout (letters without SLOIBZ)."""
    alpha = "ACDEFGHJKMNPQRTUVWXY"
    alnum = alpha + "0123456789"
    parts = [
        _letters(rng, "123456789", n),
        _letters(rng, alpha, n),
        _letters(rng, alnum, n),
        _letters(rng, "0123456789", n),
        _letters(rng, alpha, n),
        _letters(rng, alnum, n),
        _letters(rng, "0123456789", n),
        _letters(rng, alpha, n),
        _letters(rng, alpha, n),
        _letters(rng, "0123456789", n),
        _letters(rng, "0123456789", n),
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def keep_where(mask: Arr, values: Arr) -> Arr:
    """``values`` where ``mask`` holds, None elsewhere (object array)."""
    out = np.asarray(values).astype(object)
    out[~np.asarray(mask, dtype=np.bool_)] = None
    return out


def medicaid_ids(rng: np.random.Generator, n: int) -> Arr:
    prefix = _letters(rng, "ABCDEFGHJKLMNPRSTUVWXYZ", n) + _letters(
        rng, "ABCDEFGHJKLMNPRSTUVWXYZ", n
    )
    digits = rng.integers(10_000_000, 99_999_999, n).astype(str).astype(object)
    out: Arr = prefix + digits
    return out


def make_icd_pool(rng: np.random.Generator, size: int = 3000) -> tuple[Arr, Arr]:
    codes = ref.icd_leaf_codes()
    pool = np.sort(rng.choice(len(codes), size=min(size, len(codes)), replace=False))
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 0.9
    weights = rng.permutation(weights)
    return pool, weights / weights.sum()


# ----------------------------------------------------------------------------- encounters

_CPT = ref.cpt_catalogue()
_CPT_INDEX = _CPT.index_of()


def _codes(*codes: str) -> Arr:
    return np.array([_CPT_INDEX[c] for c in codes], dtype=np.int64)


_EM_BY_TYPE: dict[int, tuple[Arr, Arr]] = {
    0: (
        _codes("99281", "99282", "99283", "99284", "99285", "99291"),
        np.array([5, 14, 33, 29, 15, 4]),
    ),
    1: (_codes("99221", "99222", "99223"), np.array([20, 45, 35])),
    2: (
        _codes(
            "99202", "99203", "99204", "99205", "99212", "99213", "99214", "99215", "99243", "99244"
        ),
        np.array([2, 6, 5, 2, 10, 33, 25, 7, 6, 4]),
    ),
    3: (
        _codes("99385", "99386", "99387", "99395", "99396", "99397", "99393", "99394"),
        np.array([5, 5, 4, 20, 25, 20, 10, 11]),
    ),
    4: (
        _codes("99441", "99442", "99443", "99421", "99422", "99212", "99213"),
        np.array([10, 15, 8, 8, 6, 20, 33]),
    ),
}
_UPCODE: dict[int, int] = {
    _CPT_INDEX[a]: _CPT_INDEX[b]
    for a, b in (
        ("99212", "99214"),
        ("99213", "99215"),
        ("99214", "99215"),
        ("99202", "99204"),
        ("99203", "99205"),
        ("99204", "99205"),
        ("99281", "99283"),
        ("99282", "99284"),
        ("99283", "99285"),
        ("99284", "99285"),
        ("99221", "99223"),
        ("99222", "99223"),
        ("99441", "99443"),
        ("99442", "99443"),
    )
}
_CATEGORY_NAMES = ("Laboratory", "Radiology", "Medicine", "Surgery", "Anesthesia", "Category III")
_CATEGORY_P = np.array([0.5, 0.18, 0.17, 0.08, 0.04, 0.03])
_CATEGORY_DENIAL = np.array([-0.25, 0.45, 0.05, 0.5, 0.3, 1.6])  # logit effect per category
_CAT_OF_CPT = np.array(
    [(_CATEGORY_NAMES.index(c) if c in _CATEGORY_NAMES else -1) for c in _CPT.categories]
)
_ANCILLARY = [np.flatnonzero(k == _CAT_OF_CPT) for k in range(len(_CATEGORY_NAMES))]
_HIGH_EM = _codes("99205", "99215", "99285", "99291", "99223", "99245", "99443")
N_CPT = len(_CPT.codes)
UNKNOWN_CPT = ("99999", "99290", "80099", "0999T", "7001F", "36999", "1234T", "88888", "00001")
UNKNOWN_ICD = ("Z99.99", "E11.99", "R69.1", "U99.9", "Q99.99", "E15.9", "K99.1", "I99.99")
VISIT_TYPE_P = np.array(
    [
        # Consultation, Emergency, Follow-up, Routine  per encounter type
        [0.0, 1.0, 0.0, 0.0],
        [0.7, 0.0, 0.3, 0.0],
        [0.45, 0.0, 0.45, 0.10],
        [0.0, 0.0, 0.0, 1.0],
        [0.4, 0.0, 0.6, 0.0],
    ]
)
LINES_LAMBDA = np.array([1.6, 2.5, 1.0, 1.2, 0.1])
MEAN_LINES = float(1 + np.dot(np.array(ref.ENCOUNTER_TYPE_P), LINES_LAMBDA))
WEEKDAY = np.array([1.12, 1.12, 1.12, 1.12, 1.12, 0.75, 0.65])  # Monday..Sunday, mean 1


def _categorical(rng: np.random.Generator, probs: Arr, n: int) -> Arr:
    p = np.asarray(probs, dtype=np.float64)
    cum = np.cumsum(p / p.sum())
    out: Arr = np.searchsorted(cum, rng.random(n), side="right")
    return np.minimum(out, len(p) - 1)


def _rowwise_categorical(rng: np.random.Generator, probs: Arr) -> Arr:
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(probs))[:, None]
    out: Arr = np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)
    return out


@dataclass
class Chunk:
    """The encounters and service lines (transactions) of one window of days."""

    encounters: Cols
    lines: Cols
    defects: list[tuple[str, int, str, str]]  # (defect_type, line index, field, detail)


def simulate_chunk(
    rng: np.random.Generator,
    hosp: Hospital,
    day0: int,
    day1: int,
    enc_first: int,
    tx_first: int,
    rates: dict[str, float],
) -> Chunk:
    """Encounters of days ``day0..day1`` (inclusive) and their service lines."""
    days = np.arange(day0, day1 + 1)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    counts = rng.poisson(hosp.daily_lines / MEAN_LINES * WEEKDAY[weekday])
    e_day = np.repeat(days, counts)
    n_enc = len(e_day)
    e_type = _categorical(rng, np.array(ref.ENCOUNTER_TYPE_P), n_enc)
    secs = np.where(
        e_type == 0, rng.integers(0, DAY, n_enc), rng.integers(7 * 3600, 19 * 3600, n_enc)
    )
    e_ts = e_day * DAY + secs
    order = np.lexsort((rng.random(n_enc), e_ts))
    e_day, e_type, e_ts = e_day[order], e_type[order], e_ts[order]

    pats = hosp.patients
    k = np.searchsorted(pats["reg_ts"], e_ts, side="right")
    p_idx = np.minimum(
        (rng.random(n_enc) * np.maximum(k, 1)).astype(np.int64), len(pats["num"]) - 1
    )

    prov = hosp.providers
    spec = prov["spec"]
    pool_er = np.flatnonzero(spec == ref.ER_DEPT)
    pool_pc = np.flatnonzero(np.isin(spec, ref.PRIMARY_CARE_DEPTS))
    pool_other = np.flatnonzero(spec != ref.ER_DEPT)
    pr_idx = np.empty(n_enc, dtype=np.int64)
    for t, pool in ((0, pool_er), (3, pool_pc), (1, pool_other), (2, pool_other), (4, pool_other)):
        sel = np.flatnonzero(e_type == t)
        w = prov["weight"][pool]
        pr_idx[sel] = pool[_categorical(rng, w, len(sel))]
    visit_type = _rowwise_categorical(rng, VISIT_TYPE_P[e_type])
    e_mod = e_ts + rng.integers(600, 4 * 3600, n_enc)
    recoded = rng.random(n_enc) < 0.08
    e_mod_final = np.where(recoded, e_mod + rng.integers(3600, 3 * DAY, n_enc), e_mod)

    n_lines = 1 + np.minimum(rng.poisson(LINES_LAMBDA[e_type]), 5)
    enc_of = np.repeat(np.arange(n_enc), n_lines)
    n_tx = len(enc_of)
    starts = np.cumsum(n_lines) - n_lines
    line_no = np.arange(n_tx) - np.repeat(starts, n_lines)

    cpt = np.empty(n_tx, dtype=np.int64)
    first = line_no == 0
    for t, (codes, w) in _EM_BY_TYPE.items():
        sel = np.flatnonzero(first & (e_type[enc_of] == t))
        cpt[sel] = codes[_categorical(rng, w, len(sel))]
    anc = np.flatnonzero(~first)
    cat = _categorical(rng, _CATEGORY_P, len(anc))
    for c, members in enumerate(_ANCILLARY):
        sel = anc[cat == c]
        cpt[sel] = members[rng.integers(0, len(members), len(sel))]

    icd_principal = hosp.icd_pool[_categorical(rng, hosp.icd_weights, n_enc)]
    icd_other = hosp.icd_pool[_categorical(rng, hosp.icd_weights, n_tx)]
    icd = np.where(first | (rng.random(n_tx) < 0.6), icd_principal[enc_of], icd_other)
    markup = 1.0 if hosp.number == 1 else 1.15
    charge = _CPT.charges[cpt] * markup * rng.lognormal(0.0, 0.12, n_tx)
    amount = np.maximum(np.round(charge * 100), 500).astype(np.int64)  # cents
    inpatient = e_type[enc_of] == 1
    service_day = e_day[enc_of] + np.where(inpatient, np.minimum(line_no, 4), 0)
    tx_insert = np.maximum(e_ts[enc_of] + rng.integers(3600, 2 * DAY, n_tx), service_day * DAY)

    lines: Cols = {
        "enc": enc_of,
        "line_no": line_no,
        "patient": p_idx[enc_of],
        "provider": pr_idx[enc_of],
        "cpt": cpt,
        "icd": icd.astype(np.int64),
        "icd_bad": np.full(n_tx, -1, dtype=np.int64),
        "amount": amount,
        "service_day": service_day,
        "insert_ts": tx_insert,
        "dup_of": np.full(n_tx, -1, dtype=np.int64),
        "upcoded": np.zeros(n_tx, dtype=np.bool_),
        "outlier": np.zeros(n_tx, dtype=np.bool_),
        "orphan": np.zeros(n_tx, dtype=np.int64),  # 0 none, 1 provider, 2 patient, 3 encounter
        "orphan_num": np.zeros(n_tx, dtype=np.int64),
        "flagged": np.zeros(n_tx, dtype=np.bool_),
    }
    defects: list[tuple[str, int, str, str]] = []
    lines = _inject_line_anomalies(rng, lines, rates, defects)
    n_tx = len(lines["enc"])

    # ids
    enc_num = enc_first + np.arange(n_enc, dtype=np.int64)
    tx_num = tx_first + np.arange(n_tx, dtype=np.int64)
    lines["tx_num"] = tx_num
    lines["enc_num"] = enc_num[lines["enc"]]
    lines["visit_day"] = e_day[lines["enc"]]
    lines["visit_type"] = visit_type[lines["enc"]]
    lines["enc_type"] = e_type[lines["enc"]]
    lines["payer"] = pats["payer"][lines["patient"]]
    lines["patient_num"] = pats["num"][lines["patient"]]
    lines["provider_num"] = prov["num"][lines["provider"]]
    lines["dept"] = prov["dept"][lines["provider"]]
    encounters: Cols = {
        "num": enc_num,
        "patient_num": pats["num"][p_idx],
        "day": e_day,
        "type": e_type,
        "provider_num": prov["num"][pr_idx],
        "dept": prov["dept"][pr_idx],
        "cpt": cpt[starts],
        "insert_ts": e_mod,
        "modified_ts": e_mod_final,
    }
    # anomaly details need the final transaction ids
    resolved = []
    for dtype_, i, field, detail in defects:
        if dtype_ == "duplicate_billing":
            src = int(lines["dup_of"][i])
            detail = f"bills the service of TRANS{tx_num[src]:06d} again"
        resolved.append((dtype_, i, field, detail))
    return Chunk(encounters=encounters, lines=lines, defects=resolved)


def _inject_line_anomalies(
    rng: np.random.Generator,
    lines: Cols,
    rates: dict[str, float],
    defects: list[tuple[str, int, str, str]],
) -> Cols:
    n = len(lines["enc"])
    perm = rng.permutation(n)
    pos = 0

    def take(name: str) -> Arr:
        nonlocal pos
        k = sround(rng, rates.get(name, 0.0) * n)
        out = np.sort(perm[pos : pos + k])
        pos += k
        return out

    for i in take("unknown_icd"):
        bad = UNKNOWN_ICD[int(rng.integers(0, len(UNKNOWN_ICD)))]
        lines["icd_bad"][i] = UNKNOWN_ICD.index(bad)
        lines["flagged"][i] = True
        defects.append(("unknown_icd", int(i), "ICDCode", f"{bad} is not an ICD-10-CM code"))
    for i in take("unknown_cpt"):
        j = int(rng.integers(0, len(UNKNOWN_CPT)))
        lines["cpt"][i] = N_CPT + j
        lines["flagged"][i] = True
        defects.append(
            ("unknown_cpt", int(i), "ProcedureCode", f"{UNKNOWN_CPT[j]} is not a CPT code")
        )
    fields = ("ProviderID", "PatientID", "EncounterID")
    for i in take("orphan_fk"):
        kind = int(rng.integers(1, 4))
        lines["orphan"][i] = kind
        lines["orphan_num"][i] = (9_000, 9_000_000, 90_000_000)[kind - 1] + int(
            rng.integers(0, 999)
        )
        lines["flagged"][i] = True
        defects.append(
            ("orphan_fk", int(i), fields[kind - 1], "refers to a row that does not exist")
        )
    for i in take("outlier_amount"):
        factor = float(rng.uniform(8, 40))
        lines["amount"][i] = int(lines["amount"][i] * factor)
        lines["outlier"][i] = True
        lines["flagged"][i] = True
        defects.append(("outlier_amount", int(i), "Amount", f"charge x{factor:.1f} the usual"))
    upcodable = np.array([c in _UPCODE for c in lines["cpt"].tolist()], dtype=np.bool_)
    rest = perm[pos:]
    cand = np.sort(rest[upcodable[rest]])
    k_up = min(sround(rng, rates.get("upcoded", 0.0) * n), len(cand))
    chosen_up = np.sort(rng.choice(cand, size=k_up, replace=False)) if k_up else cand[:0]
    for i in chosen_up:
        old = int(lines["cpt"][i])
        new = _UPCODE[old]
        lines["cpt"][i] = new
        lines["amount"][i] = int(lines["amount"][i] * _CPT.charges[new] / _CPT.charges[old])
        lines["upcoded"][i] = True
        lines["flagged"][i] = True
        defects.append(
            ("upcoded", int(i), "ProcedureCode", f"{_CPT.codes[old]} raised to {_CPT.codes[new]}")
        )
    rest = np.setdiff1d(perm[pos:], chosen_up)
    k_dup = min(sround(rng, rates.get("duplicate_billing", 0.0) * n), len(rest))
    src = np.sort(rng.choice(rest, size=k_dup, replace=False)) if k_dup else rest[:0]
    if len(src) == 0:
        return lines
    # insert each copy right after its source line; remap defect line indices
    reps = np.ones(n, dtype=np.int64)
    reps[src] = 2
    new_index = np.cumsum(reps) - reps  # position of each old line in the new arrays
    take_idx = np.repeat(np.arange(n), reps)
    out = {k: v[take_idx] for k, v in lines.items()}
    copy_pos = new_index[src] + 1
    out["dup_of"][copy_pos] = new_index[src]
    out["flagged"][copy_pos] = True
    out["insert_ts"][copy_pos] += rng.integers(DAY, 20 * DAY, len(src))
    defects[:] = [(d, int(new_index[i]), f, x) for d, i, f, x in defects]
    for p in copy_pos:
        defects.append(("duplicate_billing", int(p), "TransactionID", ""))
    return out


# ----------------------------------------------------------------------------- claims


def simulate_claims(rng: np.random.Generator, hosp: Hospital, lines: Cols) -> Cols:
    """One claim per service line with its whole lifecycle decided up front (5 event slots)."""
    n = len(lines["tx_num"])
    payer = lines["payer"]
    allowed_lo = np.array([p.allowed_low for p in ref.PAYERS])[payer]
    allowed_hi = np.array([p.allowed_high for p in ref.PAYERS])[payer]
    ratio = rng.uniform(allowed_lo, allowed_hi)
    amount = lines["amount"]
    allowed = np.round(amount * ratio).astype(np.int64)
    commercial = np.isin(payer, ref.COMMERCIAL)
    is_em = _CAT_OF_CPT[np.minimum(lines["cpt"], N_CPT - 1)] == -1
    office = is_em & np.isin(lines["enc_type"], (2, 3, 4))
    copay = np.where(commercial & office, rng.choice([2000, 2500, 3000, 4000, 5000], n), 0)
    copay = np.where((payer == ref.MEDICAID) & office, 300, copay)
    copay = np.minimum(copay, allowed)
    month_of_year = (
        (lines["service_day"] * DAY)
        .astype("datetime64[s]")
        .astype("datetime64[M]")
        .astype(np.int64)
    ) % 12
    p_ded = np.where(
        commercial, 0.35 * (1 - month_of_year / 12), np.where(payer == ref.MEDICARE, 0.08, 0.0)
    )
    has_ded = rng.random(n) < p_ded
    deductible = np.where(has_ded, np.minimum(allowed - copay, rng.integers(1000, 50_000, n)), 0)
    coins_rate = np.array([p.coinsurance for p in ref.PAYERS])[payer]
    coinsurance = np.round((allowed - copay - deductible) * coins_rate).astype(np.int64)
    self_pay = payer == ref.SELF_PAY
    deductible = np.where(self_pay, 0, deductible)
    coinsurance = np.where(self_pay, 0, coinsurance)
    copay = np.where(self_pay, 0, copay)
    expected = np.where(self_pay, allowed, allowed - copay - deductible - coinsurance)

    # submission
    lag = 1 + rng.geometric(0.3, n)
    late = rng.random(n) < 0.012
    lag = np.where(late, rng.integers(95, 200, n), lag)
    claim_day = lines["service_day"] + lag
    t_submit = claim_day * DAY + rng.integers(8 * 3600, 18 * 3600, n)

    # the denial model (a logistic model a classifier can learn)
    cat = _CAT_OF_CPT[np.minimum(lines["cpt"], N_CPT - 1)]
    cat_effect = np.where(cat >= 0, _CATEGORY_DENIAL[np.maximum(cat, 0)], 0.0)
    payer_effect = np.array([p.denial_logit for p in ref.PAYERS])[payer]
    logit = (
        -2.7
        + payer_effect
        + cat_effect
        + 0.35 * np.isin(lines["cpt"], _HIGH_EM)
        + hosp.providers["effect"][lines["provider"]]
        + 0.18 * (np.log(amount / 100.0) - 5.0)
        + 0.25 * (lines["line_no"] > 0)
        + 0.3 * (lines["enc_type"] == 1)
        + 0.2 * (lines["enc_type"] == 4)
        + 3.2 * late
        + 2.5 * (lines["icd_bad"] >= 0)
        + 2.5 * (lines["cpt"] >= N_CPT)
        + 1.4 * lines["upcoded"]
        + 1.2 * lines["outlier"]
        + 4.5 * (lines["dup_of"] >= 0)
        + 1.0 * (lines["orphan"] > 0)
    )
    p_denial = np.where(self_pay, 0.0, sigmoid(logit))
    denied = rng.random(n) < p_denial

    # reason of a denial
    w = np.zeros((n, len(ref.REASON_CODES)))
    w[:, ref.R_CO16] = 1.0 + 6 * (
        (lines["icd_bad"] >= 0) | (lines["cpt"] >= N_CPT) | (lines["orphan"] > 0)
    )
    w[:, ref.R_CO50] = (
        1.2 + 2.5 * np.isin(cat, (1, 5)) + 3 * lines["upcoded"] + 2 * lines["outlier"]
    )
    w[:, ref.R_CO97] = 0.3 + 1.6 * (lines["line_no"] > 0)
    w[:, ref.R_CO197] = 0.4 + 2.0 * np.isin(cat, (1, 3)) + 1.5 * (lines["enc_type"] == 1)
    w[:, ref.R_PR204] = 0.3 + 3.0 * (cat == 5)
    w[:, ref.R_CO29] = 0.05
    reason = _rowwise_categorical(rng, w)
    reason = np.where(late, ref.R_CO29, reason)
    reason = np.where(lines["dup_of"] >= 0, ref.R_CO18, reason)

    # front-end rejection, then resubmission
    p_rej = np.where(
        self_pay, 0.0, 0.035 + 0.25 * (lines["orphan"] > 0) + 0.15 * (lines["cpt"] >= N_CPT)
    )
    rejected = rng.random(n) < p_rej
    rej_reason = np.where(rng.random(n) < 0.7, ref.R_CO16, ref.R_CO31)
    t_resub = t_submit + rng.integers(2 * DAY, 14 * DAY, n)
    t_in = np.where(rejected, t_resub, t_submit)

    lag_days = np.array([p.lag_days for p in ref.PAYERS])[payer]
    t_adj = t_in + (rng.gamma(4.0, lag_days / 4.0) * DAY).astype(np.int64) + 3 * DAY
    ageing = ~self_pay & (rng.random(n) < np.where(payer == ref.MEDICAID, 0.05, 0.02))
    partial = rng.random(n) < 0.08
    paid_amt = np.where(partial, np.round(expected * rng.uniform(0.4, 0.92, n)), expected)
    paid_amt = paid_amt.astype(np.int64)
    t_pay = t_adj + rng.integers(2 * DAY, 10 * DAY, n)
    appealable = denied & ~np.isin(reason, (ref.R_CO18, ref.R_PR204, ref.R_CO29))
    appealed = appealable & (rng.random(n) < 0.45)
    t_appeal = t_adj + rng.integers(10 * DAY, 40 * DAY, n)
    appeal_won = appealed & (rng.random(n) < 0.6)
    t_appeal_out = t_appeal + rng.integers(20 * DAY, 60 * DAY, n)
    sp_pays = self_pay & (rng.random(n) < 0.55)
    t_sp = t_submit + rng.integers(20 * DAY, 120 * DAY, n)

    ev_t = np.full((n, N_SLOTS), NONE_TS, dtype=np.int64)
    ev_s = np.zeros((n, N_SLOTS), dtype=np.int64)
    ev_p = np.zeros((n, N_SLOTS), dtype=np.int64)
    ev_r = np.zeros((n, N_SLOTS), dtype=np.int64)
    ev_t[:, 0] = t_submit
    ev_s[:, 0] = np.where(rejected, ref.REJECTED, ref.PENDING)
    ev_r[:, 0] = np.where(rejected, rej_reason, ref.R_NONE)
    ev_t[:, 1] = np.where(rejected, t_resub, NONE_TS)
    ev_s[:, 1] = ref.PENDING
    adjudicated = ~self_pay & ~ageing
    ev_t[:, 2] = np.where(adjudicated, t_adj, np.where(sp_pays, t_sp, NONE_TS))
    ev_s[:, 2] = np.where(self_pay, ref.PAID, np.where(denied, ref.DENIED, ref.APPROVED))
    ev_p[:, 2] = np.where(self_pay, paid_amt, 0)
    ev_r[:, 2] = np.where(adjudicated & denied, reason, ref.R_NONE)
    pays = adjudicated & ~denied
    ev_t[:, 3] = np.where(pays, t_pay, np.where(appealed, t_appeal, NONE_TS))
    ev_s[:, 3] = np.where(pays, ref.PAID, ref.PENDING)
    ev_p[:, 3] = np.where(pays, paid_amt, 0)
    ev_t[:, 4] = np.where(appealed, t_appeal_out, NONE_TS)
    ev_s[:, 4] = np.where(appeal_won, ref.PAID, ref.DENIED)
    ev_p[:, 4] = np.where(appeal_won, expected, 0)
    ev_r[:, 4] = np.where(appeal_won, ref.R_NONE, reason)

    first_outcome = np.where(
        self_pay,
        np.where(sp_pays, np.where(partial, "partially_paid", "paid"), "unpaid"),
        np.where(
            ageing,
            "unpaid",
            np.where(denied, "denied", np.where(partial, "partially_paid", "paid")),
        ),
    )
    last_slot = N_SLOTS - 1 - np.argmax((ev_t != NONE_TS)[:, ::-1], axis=1)
    rows = np.arange(n)
    return {
        "claim_num": lines["tx_num"].copy(),
        "tx_num": lines["tx_num"],
        "patient_num": lines["patient_num"],
        "enc_num": lines["enc_num"],
        "provider_num": lines["provider_num"],
        "dept": lines["dept"],
        "service_day": lines["service_day"],
        "claim_day": claim_day,
        "payer": payer,
        "amount": amount,
        "allowed": allowed,
        "deductible": deductible,
        "coinsurance": coinsurance,
        "copay": copay,
        "insert_ts": t_submit,
        "ev_t": ev_t,
        "ev_s": ev_s,
        "ev_p": ev_p,
        "ev_r": ev_r,
        "tx_key_ok": np.ones(n, dtype=np.bool_),
        # truth only
        "p_denial": p_denial,
        "rejected": rejected,
        "denied": adjudicated & denied,
        "appealed": appealed,
        "first_outcome": first_outcome.astype(object),
        "denial_reason": np.where(adjudicated & denied, reason, ref.R_NONE),
        "final_status": ev_s[rows, last_slot],
        "final_paid": ev_p[rows, last_slot],
    }


POOL_KEYS = (
    "claim_num",
    "tx_num",
    "patient_num",
    "enc_num",
    "provider_num",
    "dept",
    "service_day",
    "claim_day",
    "payer",
    "amount",
    "allowed",
    "deductible",
    "coinsurance",
    "copay",
    "insert_ts",
    "ev_t",
    "ev_s",
    "ev_p",
    "ev_r",
    "tx_key_ok",
)


def state_as_of(claims: Cols, asof_ts: int) -> tuple[Arr, Arr, Arr]:
    """Per claim: paid amount (cents), time of that payment (NONE_TS if none), last payment slot."""
    paid_ev = (claims["ev_s"] == ref.PAID) & (claims["ev_t"] <= asof_ts)
    any_paid = paid_ev.any(axis=1)
    slot = N_SLOTS - 1 - np.argmax(paid_ev[:, ::-1], axis=1)
    rows = np.arange(len(slot))
    paid = np.where(any_paid, claims["ev_p"][rows, slot], 0)
    paid_ts = np.where(any_paid, claims["ev_t"][rows, slot], NONE_TS)
    return paid, paid_ts, slot


def concat(a: Cols, b: Cols) -> Cols:
    if not a:
        return b
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def subset(cols: Cols, idx: Arr) -> Cols:
    return {k: v[idx] for k, v in cols.items()}
