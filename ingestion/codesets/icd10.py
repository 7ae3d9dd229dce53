"""ICD-10-CM diagnosis codes: the NLM Clinical Tables API client and the offline CMS list.

Rows have the string columns of :data:`ICD_COLUMNS`:

- ``code``: the dotted code as published (``E11.9``, ``I10``, ``S00.00XA``);
- ``code_nodot``: the same without the dot (``E119``), the form claims usually carry;
- ``description``: the long description;
- ``is_billable``: ``"true"`` for a leaf code (valid on a claim), ``"false"`` for a category
  or subcategory that has more specific codes; null when unknown (the API does not say, so
  API rows take it from the shipped CMS list when that list knows the code);
- ``source``: ``"nlm"`` (Clinical Tables API) or ``"cms"`` (the CMS ICD-10-CM tabular list
  shipped by the ``simple_icd_10_cm`` package).

:func:`offline_codes` keeps categories (``E11``) and subcategories (``E11.6``) with
``is_billable = "false"`` so that a claim carrying a non-billable code still resolves (and a
data test can flag it); chapters (``4``) and blocks (``E08-E13``) are not codes and are left out.

:func:`normalise_icd` / :func:`resolve` make ``E11.9``, ``E119``, ``e11.9`` and `` E11 .9``
the same code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from ingestion.codesets.http import JsonHttpClient, RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://clinicaltables.nlm.nih.gov"
SEARCH_PATH = "/api/icd10cm/v3/search"
MAX_PAGE = 500
MAX_TOTAL = 7500  # the API serves at most offset + count <= 7,500 results per query

ICD_COLUMNS: tuple[str, ...] = ("code", "code_nodot", "description", "is_billable", "source")

IcdRow = dict[str, str | None]

_NODOT = re.compile(r"^[A-Z][0-9A-Z]{2}[0-9A-Z]{0,4}$")
_NEXT_CHARS = string.digits + string.ascii_uppercase


def icd_nodot(code: str) -> str:
    """``code`` upper-cased without dots or spaces (``" e11.9 "`` -> ``"E119"``); unchecked."""
    return re.sub(r"[\s.]", "", code).upper()


def normalise_icd(code: str) -> str:
    """The canonical dotted form of an ICD-10-CM code (``"e119"`` -> ``"E11.9"``).

    Raises ValueError when ``code`` is not shaped like an ICD-10-CM code: a letter, two
    letters or digits (``E11``, ``C4A``, and the newer ``QA0``), then up to four more.
    """
    nodot = icd_nodot(code)
    if not _NODOT.match(nodot):
        raise ValueError(f"{code!r} is not shaped like an ICD-10-CM code (e.g. E11.9 or E119)")
    return nodot if len(nodot) == 3 else f"{nodot[:3]}.{nodot[3:]}"


def _code_list() -> Any:
    """The shipped ICD-10-CM list (imported on first use: it parses its XML at import)."""
    import simple_icd_10_cm

    return simple_icd_10_cm


def offline_fingerprint() -> str:
    """What the offline list's content depends on: the package and version that ship it, and
    this module (which decides the rows), so an unchanged list is known without reading it."""
    version = importlib.metadata.version("simple-icd-10-cm")
    digest = hashlib.sha256(f"simple-icd-10-cm=={version}\n".encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def _billable(code: str) -> str | None:
    cm = _code_list()
    if not cm.is_valid_item(code) or cm.is_chapter_or_block(code):
        return None
    return "true" if cm.is_leaf(code) else "false"


def _row(code: str, description: str | None, source: str) -> IcdRow:
    dotted = normalise_icd(code)
    return {
        "code": dotted,
        "code_nodot": icd_nodot(dotted),
        "description": description,
        "is_billable": _billable(dotted),
        "source": source,
    }


@functools.cache
def _offline() -> tuple[IcdRow, ...]:
    rows: list[IcdRow] = []
    cm = _code_list()
    for code in cm.get_all_codes(True):
        if cm.is_chapter_or_block(code):
            continue
        rows.append(_row(code, cm.get_description(code), "cms"))
    return tuple(rows)


def offline_codes() -> list[IcdRow]:
    """Every ICD-10-CM category, subcategory and code of the shipped CMS list, in code order."""
    return [dict(row) for row in _offline()]


@functools.cache
def _offline_index() -> dict[str, IcdRow]:
    return {str(row["code_nodot"]): row for row in _offline()}


def index_codes(rows: list[IcdRow]) -> dict[str, IcdRow]:
    """Rows keyed by ``code_nodot``, for :func:`resolve` over a list other than the offline one."""
    return {icd_nodot(str(row["code"])): row for row in rows}


def resolve(code: str, codes: Mapping[str, IcdRow] | None = None) -> IcdRow | None:
    """The row for ``code`` (dotted or not, any case, spaces ignored), or None if unknown.

    Looks in ``codes`` (from :func:`index_codes`) or, by default, in the offline CMS list.
    """
    index = _offline_index() if codes is None else codes
    found = index.get(icd_nodot(code))
    return dict(found) if found is not None else None


class IcdClient:
    """A client of the NLM Clinical Tables ICD-10-CM search API (``/api/icd10cm/v3/search``)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        *,
        page_size: int = MAX_PAGE,
        max_total: int = MAX_TOTAL,
        session: requests.Session | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE}")
        self.url = base_url.rstrip("/") + SEARCH_PATH
        self.page_size = page_size
        self.max_total = max_total
        self.http = JsonHttpClient(
            timeout=timeout,
            retry=RetryPolicy(max_retries=max_retries, backoff_seconds=backoff_seconds),
            session=session,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> IcdClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _page(self, terms: str, fields: str, offset: int, count: int) -> tuple[int, list[IcdRow]]:
        params: dict[str, str | int] = {
            "sf": fields,
            "df": "code,name",
            "terms": terms,
            "maxList": count,
            "count": count,
            "offset": offset,
        }
        payload = self.http.get_json(self.url, params)
        url = self.http.full_url(self.url, params)
        if not isinstance(payload, list) or len(payload) < 4:
            raise self.http.malformed(
                url, "expected a JSON array [total, codes, extra, display rows]"
            )
        total, codes, _extra, display = payload[0], payload[1], payload[2], payload[3]
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise self.http.malformed(url, f"element 0 (total) should be a count, got {total!r}")
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise self.http.malformed(url, "element 1 should be a list of code strings")
        if not isinstance(display, list) or len(display) != len(codes):
            raise self.http.malformed(
                url, "element 3 should be a list of [code, name] rows, one per code"
            )
        rows: list[IcdRow] = []
        for i, item in enumerate(display):
            if (
                not isinstance(item, list)
                or len(item) < 2
                or not all(isinstance(v, str) for v in item[:2])
            ):
                raise self.http.malformed(url, f"display row {i} should be [code, name] strings")
            code, name = item[0], item[1]
            if icd_nodot(code) != icd_nodot(codes[i]):
                raise self.http.malformed(
                    url, f"display row {i} is for {code!r} but the code list says {codes[i]!r}"
                )
            try:
                rows.append(_row(code, name, "nlm"))
            except ValueError as exc:
                raise self.http.malformed(url, f"display row {i}: {exc}") from exc
        return total, rows

    def _search(self, terms: str, fields: str) -> tuple[int, list[IcdRow]]:
        """(total matches, rows fetched); fewer rows than total when the API cap cut it short."""
        rows: list[IcdRow] = []
        offset = 0
        total = 0
        while True:
            count = min(self.page_size, self.max_total - offset)
            if count <= 0:
                break
            total, page = self._page(terms, fields, offset, count)
            rows.extend(page)
            offset += len(page)
            if not page or offset >= total:
                break
        return total, rows

    def search(self, terms: str, search_fields: str = "code,name") -> list[IcdRow]:
        """Every code matching ``terms`` (paged; at most the API's 7,500 per query)."""
        total, rows = self._search(terms, search_fields)
        if total > len(rows):
            log.warning(
                "ICD-10-CM search %r matched %d codes; the API serves %d", terms, total, len(rows)
            )
        return rows

    def fetch_all(self, letters: str = string.ascii_uppercase) -> list[IcdRow]:
        """Every ICD-10-CM code, searched by code prefix (``A``..``Z``), deduplicated, sorted.

        A prefix that matches more codes than the API serves per query is split into longer
        prefixes (``S`` -> ``S0``..``SZ`` -> ...), so the result is complete.
        """
        found: dict[str, IcdRow] = {}
        pending = list(letters)
        while pending:
            prefix = pending.pop(0)
            terms = prefix if len(prefix) <= 3 else f"{prefix[:3]}.{prefix[3:]}"
            total, rows = self._search(terms, "code")
            for row in rows:
                found.setdefault(str(row["code_nodot"]), row)
            if total > len(rows):
                if len(prefix) >= 7:
                    raise self.http.malformed(
                        self.url, f"{total} codes match the full code {terms!r}: cannot split"
                    )
                log.info("prefix %s matches %d codes: splitting", terms, total)
                pending.extend(prefix + ch for ch in _NEXT_CHARS)
        return sorted(found.values(), key=lambda row: str(row["code_nodot"]))
