"""Source values that staging cannot type, found at ingest.

Bronze keeps every value as text; staging casts amounts to decimal(18, 2) and dates and
timestamps to their types (dbt_project/macros/cleaning/), and one value that does not cast
(`abc` as an amount, `2024-99-01` as a date) stops the whole build with an error that names
neither the file nor the row. So the typed columns of a claims file and of the EMR tables that
staging types (transactions, encounters, patients) are checked here with the same cleaning and
casts, in DuckDB, and a row with such a value is rejected with the column and value in its
reason, like a line with the wrong number of fields: the build never sees it, the rejected file
keeps it, and read = written + rejected. So is a row of the CPT list without a code (blank, or
the text 'null'): staging drops it, before its not_null test, and the list would lose it
silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MONEY = "money"
DATE = "date"
TIMESTAMP = "timestamp"
KEY = "key"  # a code list's key: staging drops a row where it is blank

# what is wrong with a value: (column, value), its kind not read; or (column, value, problem)
Finding = tuple[str, ...]
# a record's timestamp may be this much later than the load that reads it (source clocks and
# zones) before it counts as a mistake (is_after_load)
AFTER_LOAD_SLACK = timedelta(days=1)

# the claims files' typed columns (docs/contracts.md) and what staging makes of each
CLAIM_COLUMN_KINDS: dict[str, str] = {
    "ClaimAmount": MONEY,
    "AllowedAmount": MONEY,
    "PaidAmount": MONEY,
    "Deductible": MONEY,
    "Coinsurance": MONEY,
    "Copay": MONEY,
    "ServiceDate": DATE,
    "ClaimDate": DATE,
    "InsertDate": TIMESTAMP,
    "ModifiedDate": TIMESTAMP,
}

# What staging types in each Bronze table, by the table's name: the stage_<entity> macros
# (dbt_project/macros/staging/) read the same column names from every hospital, and a column a
# table does not have is not checked (hospital B's patients have Updated_Date, not ModifiedDate).
TABLE_COLUMN_KINDS: dict[str, dict[str, str]] = {
    "claims": CLAIM_COLUMN_KINDS,
    "transactions": {
        "Amount": MONEY,
        "PaidAmount": MONEY,
        "VisitDate": DATE,
        "ServiceDate": DATE,
        "PaidDate": DATE,
        "InsertDate": TIMESTAMP,
        "ModifiedDate": TIMESTAMP,
    },
    "encounters": {"EncounterDate": DATE, "InsertedDate": TIMESTAMP, "ModifiedDate": TIMESTAMP},
    "patients": {"DOB": DATE, "ModifiedDate": TIMESTAMP, "Updated_Date": TIMESTAMP},
}
# the code sets' typed columns (the CPT and ICD-10-CM lists have none; the CPT list's key below)
NPI_COLUMN_KINDS: dict[str, str] = {"enumeration_date": DATE, "last_updated": DATE}
# The CPT list's key, the load config's primary_key of cpt_codes: staging
# (stg_codesets__cpt_codes) reads it as cpt_code and keeps only the rows where it is not null.
# (The NPI and ICD-10-CM readers refuse a record without its key: nppes.py, icd10.py.)
CPT_COLUMN_KINDS: dict[str, str] = {"CPT Codes": KEY}


def column_kinds(source_kind: str, table: str) -> dict[str, str]:
    """The typed columns of a Bronze table and their kinds; empty when nothing is checked."""
    if source_kind == "claims_csv":
        return CLAIM_COLUMN_KINDS  # whatever the table is called: staging's claims macro reads it
    if source_kind == "sql":
        return TABLE_COLUMN_KINDS.get(table, {})
    if source_kind == "nppes":  # the extract, or the API look-up (--online)
        return NPI_COLUMN_KINDS
    if source_kind == "cpt_csv":
        return CPT_COLUMN_KINDS
    return {}


_EXPECTED = {
    MONEY: "an amount (a number such as 123.45)",
    DATE: "a date (YYYY-MM-DD)",
    TIMESTAMP: "a timestamp (YYYY-MM-DD HH:MM:SS; a zone, if any, as +HH:MM or Z)",
}


def _cleaned(column: str) -> str:
    # staging's clean_string: trimmed; blank and the text 'null' are null
    quoted = '"' + column.replace('"', '""') + '"'
    return (
        f"case when trim({quoted}) = '' or lower(trim({quoted})) = 'null' then null "
        f"else trim({quoted}) end"
    )


def _failing(kind: str, column: str) -> str:
    """The DuckDB condition under which staging cannot read ``column``'s value as ``kind``: a
    value its cast refuses, or no key at all."""
    cleaned = _cleaned(column)
    if kind == KEY:
        return f"({cleaned} is null)"
    return f"({cleaned} is not null and {_typed(kind, cleaned)} is null)"


def _no_key(name: str) -> str:
    return (
        f"has no value (staging reads blank and 'null' as none), and {name} is the key of the "
        "code list (the load config's primary_key): staging would drop the row"
    )


def _keys_present(array: pa.Array) -> bool:
    """Whether every value of ``array`` is a key staging keeps (a quick pass: Arrow trims more
    white space than staging's trim, so a chunk that fails here is looked at in DuckDB)."""
    if array.null_count:
        return False
    trimmed = pc.utf8_trim_whitespace(array)
    blank = pc.or_(pc.equal(trimmed, ""), pc.equal(pc.utf8_lower(trimmed), "null"))
    return not pc.any(blank).as_py()


def _typed(kind: str, cleaned: str) -> str:
    # staging's to_money, to_date and to_timestamp, as try_cast; an infinite date
    # ('infinity', '-infinity': DuckDB's cast takes them) is no day of service (an infinite
    # timestamp is found by the check of times later than the load, or sets no mark)
    if kind == MONEY:
        return f"try_cast({cleaned} as decimal(18, 2))"
    if kind == DATE:
        return (
            f"case when isfinite(try_cast({cleaned} as timestamp)) "
            f"then try_cast(try_cast({cleaned} as timestamp) as date) end"
        )
    return f"try_cast({cleaned} as timestamp)"


# below this, an amount's text casts to a decimal(18, 2) (16 digits before the point)
_MONEY_LIMIT = 9e15


# A high-water mark must be a date or timestamp in ISO form (2024-01-05, 2024-01-05 10:00,
# 2024-01-05T10:00:00.123, with a zone as a typed column with one gives it: +00:00, Z): text
# whose order is its time's.
_ISO_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"((?P<sep>[ T])(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(?P<fraction>\.\d{1,9})?)?"
    r"(?P<zone>Z|[+-]\d{2}(:?\d{2})?)?)?",
    re.ASCII,
)
# Arrow's cast takes a timestamp with its hour alone (2024-01-05 10, 2024-01-05T10: 13
# characters), which DuckDB's refuses
# The one form in which the columns of a watermark with fallbacks (ModifiedDate|InsertDate)
# compared as text (SQLite's stored values, text columns) sort as their times do across both
# columns: a date alone sorts before every time of its day, and a 'T' after every ' ' time of
# it, so such a value may not be a mark (see is_mark); the form of date columns is the date.
CANONICAL_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?", re.ASCII)
CANONICAL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
CANONICAL_TIMESTAMP_FORM = "YYYY-MM-DD HH:MM:SS[.ffffff]"
CANONICAL_DATE_FORM = "YYYY-MM-DD"
_HOUR_ONLY_LENGTH = 13
_DATE_LENGTH = 10
_ZONE_SAMPLE = 100


def _arrow_casts(kind: str, array: pa.Array) -> bool:
    try:
        if kind == MONEY:
            if pc.any(pc.match_substring_regex(array, "[eE]")).as_py():
                return False  # an exponent: DuckDB's decimal cast is the judge (see _typed)
            numbers = pc.cast(array, pa.float64())
            if numbers.null_count == len(numbers):
                return True
            if not pc.all(pc.is_finite(numbers)).as_py():  # nan and inf (Arrow's max skips nan)
                return False
            largest = pc.max(pc.abs(numbers)).as_py()
            return largest is not None and largest < _MONEY_LIMIT
        if pc.any(pc.equal(pc.binary_length(array), _HOUR_ONLY_LENGTH)).as_py():
            return False
        if _looks_zoned(array):
            return _arrow_casts_zoned(array)
        pc.cast(array, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _looks_zoned(array: pa.Array) -> bool:
    """Whether the first value of ``array`` that is not null has a zone after its date (a
    failed cast costs as much as one that succeeds: the chunk is cast one way, not tried)."""
    for value in array.slice(0, _ZONE_SAMPLE).to_pylist():
        if value:
            return any(mark in value[_DATE_LENGTH:] for mark in "Zz+-")
    return False


def _arrow_casts_zoned(array: pa.Array) -> bool:
    """Whether Arrow casts every value of ``array`` as a timestamp with a zone (+00:00, Z: what
    ingest writes for a typed column with one). Arrow casts such text only to a zoned type, and
    takes an hour alone before the zone (2024-01-05 10+00:00), which DuckDB refuses: every
    value longer than a date must have its minutes' colon at 13."""
    longer = pc.greater(pc.utf8_length(array), _DATE_LENGTH)
    colon = pc.equal(pc.utf8_slice_codeunits(array, _HOUR_ONLY_LENGTH, _HOUR_ONLY_LENGTH + 1), ":")
    if not pc.all(pc.or_(pc.invert(longer), colon)).as_py():
        return False
    pc.cast(array, pa.timestamp("us", "UTC"))
    return True


def _without_null_words(array: pa.Array) -> pa.Array | None:
    """``array`` with its blank values and the text 'null' (any case) as nulls, as staging's
    cleaning reads them; None when it has neither (a missing date of birth comes as 'null')."""
    words = pc.or_(pc.equal(array, ""), pc.equal(pc.utf8_lower(array), "null"))
    if not pc.any(words).as_py():
        return None
    return pc.if_else(words, pa.scalar(None, pa.string()), array)


def _arrow_reads(kind: str, array: pa.Array) -> bool:
    """Whether Arrow casts every value of ``array`` as ``kind``, blank and 'null' being nulls
    (a quick pass over a chunk whose values are all plain: Arrow's casts, with the hour-only
    timestamps refused by their length, accept no value that DuckDB's refuse, and fewer, e.g.
    no padding, so a chunk that fails here is looked at value by value in DuckDB). A key:
    whether every value is one (_keys_present)."""
    if kind == KEY:
        return _keys_present(array)
    if _arrow_casts(kind, array):
        return True
    cleaned = _without_null_words(array)
    return cleaned is not None and _arrow_casts(kind, cleaned)


def _kinds_by_lower_name(kinds: Mapping[str, str]) -> dict[str, str]:
    # DuckDB matches staging's column names to Bronze's case-insensitively (an EMR whose
    # columns are lower case still has its `Amount` typed), and so does this check
    return {name.lower(): kind for name, kind in kinds.items()}


def kind_of(kinds: Mapping[str, str], column: str | None) -> str | None:
    """The kind of ``column`` in ``kinds``, matched as staging matches names; None if untyped."""
    return None if column is None else _kinds_by_lower_name(kinds).get(column.lower())


def _flagged_rows(checked: Sequence[tuple[str, pa.Array]], conditions: Sequence[str]) -> list[Any]:
    """(row index, [condition i holds, ...]) of the rows of the arrays where any holds, in
    DuckDB; the arrays are columns c0, c1, ... of the chunk the conditions name."""
    import duckdb

    table = pa.table(
        {f"c{i}": array for i, (_, array) in enumerate(checked)}
        | {"row_index": pa.array(range(len(checked[0][1])), type=pa.int64())}
    )
    connection = duckdb.connect()
    try:
        connection.execute("set threads = 1")
        connection.register("chunk", table)
        return connection.execute(
            f"select row_index, [{', '.join(conditions)}] from chunk "
            f"where {' or '.join(conditions)} order by 1"
        ).fetchall()
    finally:
        connection.close()


def unreadable_values(
    header: Sequence[str], columns: Sequence[pa.Array], kinds: Mapping[str, str]
) -> dict[int, list[Finding]]:
    """The rows (indexes into ``columns``) with a value that staging could not type, each with
    its (column, value) pairs, or without a key (a KEY column blank: (column, value as landed,
    '' for null, problem)); columns of ``kinds`` absent from ``header`` are not checked."""
    lowered = _kinds_by_lower_name(kinds)
    checked = [
        (name, lowered[name.lower()], columns[i])
        for i, name in enumerate(header)
        if name.lower() in lowered
    ]
    if not checked or len(checked[0][2]) == 0:
        return {}
    if all(_arrow_reads(kind, array) for _, kind, array in checked):
        return {}
    failing = [_failing(kind, f"c{i}") for i, (_, kind, _) in enumerate(checked)]
    rows = _flagged_rows([(name, array) for name, _, array in checked], failing)
    found: dict[int, list[Finding]] = {}
    for row_index, flagged in rows:
        found[int(row_index)] = [
            (name, array[row_index].as_py() or "", _no_key(name))
            if kind == KEY
            else (name, str(array[row_index].as_py()))
            for (name, kind, array), bad in zip(checked, flagged, strict=True)
            if bad
        ]
    return found


# A timestamp's zone: after its date and separator, a sign (-04:00, +0530) or a letter (Z, UTC,
# America/New_York). What ingest writes for a zoned value is the instant in UTC, "+00:00".
_ZONE_PATTERN = "[A-Za-z+-]"
_UTC_SUFFIX = "+00:00"
_TIME_START = _DATE_LENGTH + 1
# US zone abbreviations, and UTC and GMT, as the offsets they stand for: DuckDB knows no EDT,
# CDT, PDT ..., and reads EST as an offset but CST and PST as regions with summer time. An
# ambiguous one (ET, PT: which half of the year?) is refused with the other unknown zones.
_ZONE_ABBREVIATIONS = {
    "UTC": "+00:00",
    "GMT": "+00:00",
    "EST": "-05:00",
    "EDT": "-04:00",
    "CST": "-06:00",
    "CDT": "-05:00",
    "MST": "-07:00",
    "MDT": "-06:00",
    "PST": "-08:00",
    "PDT": "-07:00",
    "AKST": "-09:00",
    "AKDT": "-08:00",
    "HST": "-10:00",
}
_INFINITE = {"infinity", "+infinity"}


def _naive_times(array: pa.Array) -> pa.Array | None:
    """The values as naive timestamps when Arrow reads every one so (blank and 'null' as
    nulls, as staging; the UTC text ingest writes for a zoned value as its UTC time): the usual
    chunk, in one cast of a few ms per 200,000 values. None when a value has another zone or a
    form Arrow does not read (DuckDB may: a five-digit year, 'infinity')."""
    utc = pc.ends_with(array, _UTC_SUFFIX)
    plain = (
        pc.if_else(utc, pc.utf8_slice_codeunits(array, 0, -len(_UTC_SUFFIX)), array)
        if pc.any(utc).as_py()
        else array
    )
    if _looks_zoned(plain):
        return None  # a cast that fails costs 0.3 s per 200,000 zoned values
    for attempt in range(2):
        try:
            return pc.cast(plain, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            cleaned = None if attempt else _without_null_words(plain)
            if cleaned is None:
                return None
            plain = cleaned
    return None


def _zoned(array: pa.Array) -> pa.Array | None:
    """Which values of ``array`` carry a zone other than +00:00 (a boolean mask); None when
    none does (see _naive_times)."""
    utc = pc.ends_with(array, _UTC_SUFFIX)
    if pc.all(pc.or_kleene(pc.is_null(array), utc)).as_py():
        return None
    after_date = pc.utf8_slice_codeunits(array, _TIME_START)
    mask = pc.and_kleene(pc.match_substring_regex(after_date, _ZONE_PATTERN), pc.invert(utc))
    mask = pc.fill_null(mask, False)
    return mask if pc.any(mask).as_py() else None


def _abbreviations_as_offsets(texts: pa.Array) -> pa.Array:
    for name, offset in _ZONE_ABBREVIATIONS.items():
        texts = pc.replace_substring_regex(texts, rf"\s*\b{name}$", offset)
    return texts


def _in_utc(texts: pa.Array) -> pa.Array:
    """Each zoned timestamp text as the same instant in UTC (``2024-11-03 05:30:00+00:00``, as
    ingest writes a zoned database value); null where it cannot be read as an instant. Arrow
    reads ISO offsets and Z (0.04 s per 200,000 values); DuckDB also zone names
    (America/New_York, 0.65 s). US abbreviations (EST, EDT, ...) are read as their offsets."""
    texts = _abbreviations_as_offsets(pc.utf8_trim_whitespace(texts))
    try:
        instants = pc.cast(texts, pa.timestamp("us", "UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _in_utc_duckdb(texts)
    # the UTC wall time as text (2024-11-03 05:30:00.000000): the microseconds only when not
    # zero, as Python's isoformat writes them
    written = pc.cast(pc.cast(instants, pa.timestamp("us")), pa.string())
    whole = pc.ends_with(written, ".000000")
    written = pc.if_else(whole, pc.utf8_slice_codeunits(written, 0, -7), written)
    return pc.binary_join_element_wise(written, _UTC_SUFFIX, "")


def _in_utc_duckdb(texts: pa.Array) -> pa.Array:
    import duckdb

    connection = duckdb.connect()
    try:
        connection.execute("set threads = 1")
        connection.execute("set TimeZone = 'UTC'")
        connection.register("zoned", pa.table({"v": texts}))
        # a space before the offset or Z (01:30:00 -04:00) is read as without it
        spaced = r"regexp_replace(trim(v), '\s+([+-]\d|Z$)', '\1')"
        instant = f"timezone('UTC', try_cast({spaced} as timestamptz))"
        # the fraction only when there is one, as Python's isoformat writes it
        micros = f"strftime({instant}, '%f')"
        result = connection.sql(
            f"select strftime({instant}, '%Y-%m-%d %H:%M:%S') "
            f"|| case when {micros} = '000000' then '' else '.' || {micros} end "
            f"|| '{_UTC_SUFFIX}' as v from zoned"
        ).to_arrow_table()
    finally:
        connection.close()
    return result.column("v").combine_chunks()


def timestamps_in_utc(
    header: Sequence[str],
    columns: Sequence[pa.Array],
    kinds: Mapping[str, str],
    loaded_at: datetime | None = None,
) -> tuple[list[pa.Array], dict[int, list[Finding]]]:
    """The columns with every timestamp written with a zone (``2024-11-03 01:30:00-04:00``,
    ``...T05:30:00Z``, ``... EDT``, ``... America/New_York``) replaced by the same instant in
    UTC: staging's cast drops a zone, and local times run backwards when the clocks go back.
    Also the rows (indexes) to reject, each with its (column, value as landed, problem)
    findings: a zone that cannot be read as an instant (``12:00 X/Y``, ``ET``, ``01:30 PM``),
    and, given the load's time, a timestamp later than the load (see ``is_after_load``)."""
    lowered = _kinds_by_lower_name(kinds)
    converted = list(columns)
    findings: dict[int, list[Finding]] = {}
    for i, name in enumerate(header):
        column = columns[i]
        if lowered.get(name.lower()) != TIMESTAMP or len(column) == 0:
            continue
        times = _naive_times(column)
        utc_text: pa.Array | None = None
        if times is None:
            mask = _zoned(column)
            if mask is not None:
                originals = column.filter(mask)
                utc_text = _in_utc(originals)
                if utc_text.null_count:
                    indexes = pc.indices_nonzero(mask).to_pylist()
                    for at in pc.indices_nonzero(pc.is_null(utc_text)).to_pylist():
                        findings.setdefault(indexes[at], []).append(
                            (name, originals[at].as_py(), _NO_INSTANT)
                        )
                converted[i] = pc.replace_with_mask(column, mask, utc_text)
                times = _naive_times(converted[i])
        if loaded_at is not None:
            for index in _after_load(converted[i], times, loaded_at):
                shown = converted[i][index].as_py()
                landed = column[index].as_py()
                findings.setdefault(index, []).append(
                    (name, landed, _after_load_problem(landed, shown, loaded_at))
                )
    return converted, findings


_NO_INSTANT = (
    "is not a timestamp ingest can read as an instant (a zone, if any, as +HH:MM, Z or a "
    "US abbreviation such as EDT; no AM/PM)"
)


def _after_load(texts: pa.Array, times: pa.Array | None, loaded_at: datetime) -> list[int]:
    """The indexes of the values later than the load (is_after_load): on Arrow's timestamps
    when it read them all (one max, the usual chunk), else on DuckDB's cast of the text."""
    limit = _naive_utc(loaded_at) + AFTER_LOAD_SLACK
    if times is not None:
        top = pc.max(times).as_py()
        if top is None or top <= limit:
            return []
        later = pc.greater(times, pa.scalar(limit, pa.timestamp("us")))
        return [int(i) for i in pc.indices_nonzero(pc.fill_null(later, False)).to_pylist()]
    condition = (
        f"coalesce({_typed(TIMESTAMP, _cleaned('c0'))} > "
        f"timestamp '{limit:%Y-%m-%d %H:%M:%S.%f}', false)"
    )
    return [int(row_index) for row_index, _ in _flagged_rows([("t", texts)], [condition])]


def _after_load_problem(landed: object, shown: object, loaded_at: datetime) -> str:
    if str(landed).strip().lower() in _INFINITE:
        return (
            "is not a point in time: staging reads it as later than every date, so its "
            "version would stay the latest for good"
        )
    in_utc = f"({str(shown)[: -len(_UTC_SUFFIX)]} in UTC) " if shown != landed else ""
    return (
        f"{in_utc}is later than this load ({_naive_utc(loaded_at):%Y-%m-%d %H:%M} UTC) by more "
        "than a day: a record cannot change after it was exported (a mistyped year?)"
    )


def is_mark(
    text: str, loaded_at: datetime | None = None, form: re.Pattern[str] | None = None
) -> bool:
    """Whether ``text`` can be an incremental load's high-water mark: a date or timestamp in ISO
    form that staging reads and, given the load's time, not later than it (see
    ``is_after_load``). The source compares marks as text, where `yesterday`, the text `NULL`,
    `infinity`, `2024-1-5` or a mistyped year (`2205-01-09`) sort after the dates that follow
    them and would hide those rows from every later load. ``form``: the one form a mark must
    have besides (CANONICAL_TIMESTAMP for the text columns of a watermark with fallbacks)."""
    if not _ISO_TIME.fullmatch(text) or (form is not None and not form.fullmatch(text)):
        return False
    try:
        when = datetime.fromisoformat(text)
    except ValueError:  # 2024-02-30, hour 24: staging's cast refuses them too
        return False
    return loaded_at is None or not is_after_load(when, loaded_at)


def mark_less(mark: str, lookback: timedelta) -> str | None:
    """``mark`` less ``lookback``, written in the mark's own form: its separator, its fraction
    of a second and its zone (``Z``, ``+00:00``, ``-04:00``) kept as they are, so the source
    compares it as it compares the mark (a text column as text, a typed one bound natively). A
    date alone goes back whole days (rounded up), a time without seconds whole minutes (the
    result rounded down): the window is never shorter than ``lookback``. None when ``mark`` is
    not a date or timestamp in ISO form (a number, ``yesterday``, ``2024-02-30``)."""
    parts = _ISO_TIME.fullmatch(mark)
    if parts is None:
        return None
    try:
        day = date.fromisoformat(parts["date"])
        if parts["hour"] is None:
            days = -(-lookback // timedelta(days=1))
            try:
                return (day - timedelta(days=days)).isoformat()
            except OverflowError:
                return date.min.isoformat()
        clock = time(int(parts["hour"]), int(parts["minute"]), int(parts["second"] or 0))
    except ValueError:
        return None
    try:
        moment = datetime.combine(day, clock) - lookback
    except OverflowError:
        moment = datetime.min
    written = f"{moment.date().isoformat()}{parts['sep']}{moment:%H:%M}"
    if parts["second"] is not None:
        # the lookback is whole seconds: the fraction is the mark's
        written += f":{moment:%S}{parts['fraction'] or ''}"
    return written + (parts["zone"] or "")


def is_after_load(when: datetime, loaded_at: datetime) -> bool:
    """Whether a record's timestamp is later than the load that read it, beyond a day's slack
    (clocks and zones of the source): a record cannot change after it was exported, so such a
    value is a mistake (a mistyped year) that would make its version the latest for good."""
    return _naive_utc(when) > _naive_utc(loaded_at) + AFTER_LOAD_SLACK


def _naive_utc(moment: datetime) -> datetime:
    """``moment`` as a naive UTC time (a naive one is taken to be UTC, as Bronze's text is)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def bad_marks(
    marks: Sequence[str], loaded_at: datetime | None = None, form: re.Pattern[str] | None = None
) -> set[str]:
    """The values of ``marks`` above the greatest one that can be a mark (is_mark, with
    ``form``) and that cannot be one: greatest first, so a batch of good marks costs one max.
    A bad value below that mark does not matter: it is below the next load's mark too."""
    top = max(marks, default=None)
    if top is None or is_mark(top, loaded_at, form):
        return set()
    bad: set[str] = set()
    for mark in sorted(set(marks), reverse=True):  # at worst no value is a mark: one sort
        if is_mark(mark, loaded_at, form):
            break
        bad.add(mark)
    return bad


def describe(values: Sequence[Finding], kinds: Mapping[str, str]) -> str:
    """What is wrong with each (column, value[, problem]): ``Amount 'abc' is not an amount
    (...)``, or the problem given (a timestamp later than the load)."""
    lowered = _kinds_by_lower_name(kinds)
    return "; ".join(
        f"{found[0]} {found[1]!r} "
        + (found[2] if len(found) > 2 else f"is not {_EXPECTED[lowered[found[0].lower()]]}")
        for found in values
    )


def unreadable_reason(line: int, values: Sequence[Finding], kinds: Mapping[str, str]) -> str:
    """The reject reason for a file's line with values staging cannot type."""
    again = "fix the value in the export and land the file again"
    return f"line {line}: {describe(values, kinds)}; {again}"


def unreadable_row_reason(
    where: str, values: Sequence[Finding], kinds: Mapping[str, str], refresh: str | None
) -> str:
    """The reject reason for a database row with values staging cannot type; ``where`` names
    the table and row, ``refresh`` the column whose change makes the next load read it again
    (None: a full load reads every row every time)."""
    again = (
        f"fix the row in the source and set its {refresh} to the time of the fix: the next "
        "load reads it again"
        if refresh
        else "fix the row in the source: the next load reads it again"
    )
    return f"{where}: {describe(values, kinds)}; {again}"
