"""NPPES NPI Registry API v2.1 client and the offline extract reader.

API responses and the generator's extract file (``landing/npi/nppes_npi_extract.json``) have
one shape, ``{"result_count": N, "results": [...]}``, and go through one function,
:func:`parse_response`, which validates the payload and flattens every result to the
string columns of :data:`NPI_COLUMNS`.

Flattening rules (documented here because staging relies on them):

- ``npi`` is the 10-character string of ``results[].number`` (the API sends a string, other
  exports an integer that may have lost leading zeros: it is zero-padded back).
- ``basic`` fields are copied as text; numbers become their decimal text, missing keys null.
- ``primary_taxonomy_*`` come from the taxonomy flagged ``primary: true``; when none is
  flagged, from the first listed taxonomy.
- ``practice_*`` come from the address with ``address_purpose == "LOCATION"``.

The API errors come back as ``{"Errors": [{"description", "field", "number"}]}``, sometimes
with HTTP 200: they raise :class:`~ingestion.codesets.http.ApiError` naming the URL and the
descriptions. Transport failures are retried (see :mod:`ingestion.codesets.http`).
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ingestion.codesets.http import ApiError, JsonHttpClient, MalformedResponseError, RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://npiregistry.cms.hhs.gov/api/"
API_VERSION = "2.1"
MAX_LIMIT = 200
MAX_SKIP = 1000

NPI_COLUMNS: tuple[str, ...] = (
    "npi",
    "enumeration_type",
    "first_name",
    "last_name",
    "middle_name",
    "credential",
    "organization_name",
    "gender",
    "status",
    "enumeration_date",
    "last_updated",
    "primary_taxonomy_code",
    "primary_taxonomy_desc",
    "primary_taxonomy_state",
    "practice_city",
    "practice_state",
    "practice_postal_code",
)

_BASIC_FIELDS = (
    "first_name",
    "last_name",
    "middle_name",
    "credential",
    "organization_name",
    "gender",
    "status",
    "enumeration_date",
    "last_updated",
)
_TAXONOMY_FIELDS = (("code", "primary_taxonomy_code"), ("desc", "primary_taxonomy_desc"))
_TAXONOMY_STATE = ("state", "primary_taxonomy_state")
_ADDRESS_FIELDS = (
    ("city", "practice_city"),
    ("state", "practice_state"),
    ("postal_code", "practice_postal_code"),
)
_NPI_PREFIX = "80840"  # ISO 7812 issuer prefix the NPI check digit is computed over
_INTEGRAL_TEXT = re.compile(r"^(\d+)(?:\.0*)?$")

NpiRow = dict[str, str | None]
Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- NPI values


def normalise_npi(value: object) -> str | None:
    """The 10-character NPI string for ``value``, or None when it cannot be an NPI.

    Accepts strings (surrounding spaces ignored), integers and integral floats (``1234567893.0``
    as spreadsheets write them); a value that lost its leading zeros is zero-padded to 10
    digits. Does not check the check digit: see :func:`npi_check_digit_ok`.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        text = str(int(value))
    elif isinstance(value, str):
        match = _INTEGRAL_TEXT.match(value.strip())
        if match is None:
            return None
        text = match.group(1)
    else:
        return None
    if not text.isdigit() or len(text) > 10 or int(text) < 0:
        return None
    return text.zfill(10)


def npi_check_digit_ok(npi: str) -> bool:
    """True when the 10-digit ``npi`` carries a valid check digit.

    The NPI check digit is the Luhn check digit of the 9 leading digits prefixed with ``80840``;
    equivalently the 15 digits ``80840`` + ``npi`` pass the Luhn test.
    """
    if len(npi) != 10 or not npi.isascii() or not npi.isdigit():
        return False
    digits = [int(ch) for ch in _NPI_PREFIX + npi]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def npi_problem(value: object) -> str | None:
    """Why ``value`` is not a valid NPI, or None when it is one."""
    npi = normalise_npi(value)
    if npi is None:
        return "not an NPI: expected up to 10 digits"
    if not npi_check_digit_ok(npi):
        return "check digit does not match (Luhn over 80840 + NPI)"
    return None


# --------------------------------------------------------------------------- parsing


def _text(value: object, where: str, source: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise MalformedResponseError(
        f"malformed NPPES data in {source}: {where} should be text, got {type(value).__name__}",
        url=source,
    )


def _object(value: object, where: str, source: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise MalformedResponseError(
            f"malformed NPPES data in {source}: {where} should be an object, "
            f"got {type(value).__name__}",
            url=source,
        )
    return value


def _objects(value: object, where: str, source: str) -> list[Mapping[str, object]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedResponseError(
            f"malformed NPPES data in {source}: {where} should be a list, "
            f"got {type(value).__name__}",
            url=source,
        )
    return [_object(item, f"{where}[{i}]", source) for i, item in enumerate(value)]


def flatten_result(result: object, where: str, source: str) -> NpiRow:
    """One NPPES result as a flat row of :data:`NPI_COLUMNS`."""
    record = _object(result, where, source)
    if "number" not in record:
        raise MalformedResponseError(
            f"malformed NPPES data in {source}: {where} has no 'number'", url=source
        )
    npi = normalise_npi(record["number"])
    if npi is None:
        raise MalformedResponseError(
            f"malformed NPPES data in {source}: {where}.number {record['number']!r} is not an NPI",
            url=source,
        )
    row: NpiRow = dict.fromkeys(NPI_COLUMNS)
    row["npi"] = npi
    row["enumeration_type"] = _text(
        record.get("enumeration_type"), f"{where}.enumeration_type", source
    )

    basic = _object(record.get("basic", {}), f"{where}.basic", source)
    for name in _BASIC_FIELDS:
        row[name] = _text(basic.get(name), f"{where}.basic.{name}", source)

    taxonomies = _objects(record.get("taxonomies"), f"{where}.taxonomies", source)
    primary = next((t for t in taxonomies if t.get("primary") is True), None)
    if primary is None and taxonomies:
        primary = taxonomies[0]
    if primary is not None:
        for key, column in (*_TAXONOMY_FIELDS, _TAXONOMY_STATE):
            row[column] = _text(primary.get(key), f"{where}.taxonomies[].{key}", source)

    addresses = _objects(record.get("addresses"), f"{where}.addresses", source)
    location = next((a for a in addresses if a.get("address_purpose") == "LOCATION"), None)
    if location is not None:
        for key, column in _ADDRESS_FIELDS:
            row[column] = _text(location.get(key), f"{where}.addresses[].{key}", source)
    return row


def _api_errors(payload: Mapping[str, object], source: str) -> ApiError | None:
    errors = payload.get("Errors")
    if errors is None:
        return None
    details: list[str] = []
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict):
                text = str(item.get("description") or "no description")
                if item.get("field"):
                    text += f" (field {item['field']})"
                details.append(text)
            else:
                details.append(str(item))
    else:
        details.append(str(errors))
    return ApiError(f"NPPES refused {source}: {'; '.join(details) or 'Errors'}", url=source)


def parse_response(
    payload: object, source: str, rejects: list[tuple[int, str, str]] | None = None
) -> list[NpiRow]:
    """Validate an NPPES v2.1 payload (API answer or extract file) and flatten its results.

    ``source`` (a URL or a file path) is named in every error. With ``rejects``, a result
    that is malformed (a number that is no NPI, a name that is not text) does not fail the
    whole payload: it goes there as (its number in the results from 1, the reason, the
    record as JSON), and the others are read.
    """
    body = _object(payload, "the response", source)
    error = _api_errors(body, source)
    if error is not None:
        raise error
    if "results" not in body:
        raise MalformedResponseError(
            f"malformed NPPES data in {source}: no 'results' key (keys: {sorted(body)})",
            url=source,
        )
    results = body["results"]
    if not isinstance(results, list):
        raise MalformedResponseError(
            f"malformed NPPES data in {source}: 'results' should be a list, "
            f"got {type(results).__name__}",
            url=source,
        )
    count = body.get("result_count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
        raise MalformedResponseError(
            f"malformed NPPES data in {source}: 'result_count' should be an integer, got {count!r}",
            url=source,
        )
    if rejects is None:
        return [flatten_result(item, f"results[{i}]", source) for i, item in enumerate(results)]
    rows: list[NpiRow] = []
    for i, item in enumerate(results):
        try:
            rows.append(flatten_result(item, f"results[{i}]", source))
        except MalformedResponseError as exc:
            reason = f"record {i + 1}: {exc}; the record stays out of Bronze until it is fixed"
            rejects.append((i + 1, reason, json.dumps(item, ensure_ascii=False, default=str)))
    return rows


def read_extract(path: Path, rejects: list[tuple[int, str, str]] | None = None) -> list[NpiRow]:
    """Rows of an NPPES extract file (the API's response shape), parsed like an API answer
    (``rejects``: see :func:`parse_response`).

    The file is UTF-8, with or without a byte order mark (a Windows export writes one). Its
    ``result_count``, when it has one, must be the number of its ``results``: a file that
    holds fewer was cut short (a partial export or copy), and loading it would drop the
    missing NPIs from the code list, which staging reads whole from its latest load."""
    source = str(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # the offset in the file: utf-8-sig reports it past a byte order mark
        offset = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        byte = data[offset : offset + 1].hex()
        line = data.count(b"\n", 0, offset) + 1
        raise MalformedResponseError(
            f"malformed NPPES extract {source}: not UTF-8: byte 0x{byte} at byte offset "
            f"{offset} (line {line}); re-export it as UTF-8 and land it in its place",
            url=source,
        ) from exc
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedResponseError(
            f"malformed NPPES extract {source}: not JSON ({exc})", url=source
        ) from exc
    rows = parse_response(payload, source, rejects)
    count = payload.get("result_count") if isinstance(payload, dict) else None
    held = len(rows) + len(rejects or ())
    if count is not None and count != held:
        raise MalformedResponseError(
            f"malformed NPPES extract {source}: its result_count is {count}, but its results "
            f"hold {held} record(s) (a truncated or partial export?); nothing of it was "
            "loaded: export it again whole and land it in its place",
            url=source,
        )
    return rows


# --------------------------------------------------------------------------- client


@dataclass
class LookupSummary:
    """What the last :meth:`NppesClient.lookup` did, for the audit row and the CLI summary."""

    requested: int = 0
    looked_up: int = 0
    found: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)
    """(value as given, reason) for every value that was not fetched."""
    not_found: list[str] = field(default_factory=list)
    """Valid NPIs the registry does not know (deactivated or never issued)."""


class NppesClient:
    """A client of the NPPES NPI Registry API v2.1."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        *,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url
        self.http = JsonHttpClient(
            timeout=timeout,
            retry=RetryPolicy(max_retries=max_retries, backoff_seconds=backoff_seconds),
            session=session,
        )
        self.last_lookup = LookupSummary()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> NppesClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _get(self, params: Mapping[str, str | int]) -> list[NpiRow]:
        query: dict[str, str | int] = {"version": API_VERSION, **params}
        payload = self.http.get_json(self.base_url, query)
        return parse_response(payload, self.http.full_url(self.base_url, query))

    def lookup(
        self,
        numbers: Iterable[object],
        batch_size: int = 50,
        progress: Progress | None = None,
    ) -> list[NpiRow]:
        """Registry rows for ``numbers`` (one request per NPI, in input order, deduplicated).

        Values that are not valid NPIs (see :func:`npi_problem`) are not fetched: they are
        logged and listed in :attr:`last_lookup`, as are NPIs the registry does not know.
        ``progress(done, total)`` is called after every ``batch_size`` look-ups.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        summary = LookupSummary()
        self.last_lookup = summary
        wanted: list[str] = []
        seen: set[str] = set()
        for value in numbers:
            summary.requested += 1
            problem = npi_problem(value)
            if problem is not None:
                summary.invalid.append((str(value), problem))
                log.warning("NPI %r not looked up: %s", value, problem)
                continue
            npi = normalise_npi(value)
            assert npi is not None  # npi_problem checked it
            if npi not in seen:
                seen.add(npi)
                wanted.append(npi)

        rows: list[NpiRow] = []
        total = len(wanted)
        for start in range(0, total, batch_size):
            for npi in wanted[start : start + batch_size]:
                found = self._get({"number": npi})
                summary.looked_up += 1
                matching = [row for row in found if row["npi"] == npi]
                if len(matching) != len(found):
                    url = self.http.full_url(self.base_url, {"version": API_VERSION, "number": npi})
                    raise self.http.malformed(
                        url, f"asked for NPI {npi}, got {[row['npi'] for row in found]}"
                    )
                if not matching:
                    summary.not_found.append(npi)
                rows.extend(matching)
                summary.found += len(matching)
            if progress is not None:
                progress(min(start + batch_size, total), total)
        return rows

    def search(self, **params: str | int) -> Iterator[NpiRow]:
        """Rows matching a registry search (``state=``, ``taxonomy_description=``, ...).

        Pages with ``limit`` (default and maximum 200) and ``skip`` until a short page or the
        API's skip cap (1000), so at most 1,200 rows per search: narrow the search for more.
        """
        query = {key: value for key, value in params.items() if key not in {"skip", "version"}}
        limit = int(query.pop("limit", MAX_LIMIT))
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        skip = 0
        while True:
            page = self._get({**query, "limit": limit, "skip": skip})
            yield from page
            if len(page) < limit:
                return
            skip += limit
            if skip > MAX_SKIP:
                log.warning(
                    "NPPES search %s stopped at the skip cap (%d): narrow the search for more",
                    query,
                    MAX_SKIP,
                )
                return
