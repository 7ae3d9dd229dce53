"""A real local HTTP server that speaks the NPPES v2.1 and NLM Clinical Tables shapes.

The server is a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) in a thread. Each test plugs in
an in-memory application (``NppesRegistry`` or ``ClinicalTables``) and may queue faults
(429 with ``Retry-After``, 5xx, a slow answer, a non-JSON body) that are served before the
application answers. Every request is recorded (path, query, time) so tests can check what
the clients sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Reply:
    status: int = 200
    body: object = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    passthrough: bool = False  # after the delay, let the application answer


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    at: float


App = Callable[[str, dict[str, str]], Reply]


class FakeApi:
    def __init__(self) -> None:
        self.app: App = lambda path, query: Reply(404, {"error": "no application"})
        self.faults: list[Reply] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.base_url = ""

    def fail_next(self, *replies: Reply) -> None:
        with self.lock:
            self.faults.extend(replies)

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        with self.lock:
            self.seen.append(Seen(path, query, time.monotonic()))
            fault = self.faults.pop(0) if self.faults else None
        if fault is None:
            return self.app(path, query)
        if fault.passthrough:
            time.sleep(fault.delay)
            return self.app(path, query)
        return fault


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            reply = api.answer(parts.path, query)
            if reply.delay and not reply.passthrough:
                time.sleep(reply.delay)
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                content_type = (
                    "application/json" if not isinstance(reply.body, bytes) else "text/html"
                )
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

    return Handler


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- NPPES


def luhn_npi(first_nine: str) -> str:
    """An NPI from 9 digits: the check digit makes 80840 + NPI pass the Luhn test.

    Written independently of the code under test (double every second digit from the right of
    the payload including the 80840 prefix, the check digit brings the sum to a multiple of 10).
    """
    payload = "80840" + first_nine
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return first_nine + str((10 - total % 10) % 10)


def nppes_record(
    npi: str, *, i: int = 0, state: str = "NY", org: bool = False
) -> dict[str, object]:
    """A registry record in the v2.1 shape (fields as the API spells them)."""
    basic: dict[str, object]
    if org:
        basic = {
            "organization_name": f"ORG {i} HEALTH",
            "organizational_subpart": "NO",
            "enumeration_date": "2010-05-01",
            "last_updated": "2021-02-03",
            "status": "A",
        }
    else:
        basic = {
            "first_name": f"FIRST{i}",
            "last_name": f"LAST{i}",
            "middle_name": "Q" if i % 2 else None,
            "credential": "M.D.",
            "sole_proprietor": "NO",
            "gender": "F" if i % 2 else "M",
            "enumeration_date": "2007-01-0" + str(1 + i % 9),
            "last_updated": "2020-11-1" + str(i % 10),
            "status": "A",
        }
    return {
        "number": npi,
        "enumeration_type": "NPI-2" if org else "NPI-1",
        "created_epoch": "1183852800000",
        "basic": basic,
        "taxonomies": [
            {
                "code": "207Q00000X",
                "desc": "Family Medicine",
                "primary": False,
                "state": "NJ",
                "license": f"L{i}",
            },
            {
                "code": f"207R0000{i % 10}X",
                "desc": f"Internal Medicine {i}",
                "primary": True,
                "state": state,
                "license": f"M{i}",
            },
        ],
        "addresses": [
            {
                "address_purpose": "MAILING",
                "address_1": "PO BOX 1",
                "city": "MAILTOWN",
                "state": "CA",
                "postal_code": "900010000",
                "telephone_number": "555-0100",
            },
            {
                "address_purpose": "LOCATION",
                "address_1": f"{i} MAIN ST",
                "city": f"CITY{i}",
                "state": state,
                "postal_code": f"1{i:04d}0000",
                "telephone_number": "555-0199",
            },
        ],
        "identifiers": [],
        "endpoints": [],
        "other_names": [],
        "practiceLocations": [],
    }


class NppesRegistry:
    """The registry: number look-ups and searches with limit/skip, as v2.1 answers them."""

    def __init__(self, records: list[dict[str, object]]) -> None:
        self.records = records

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        if query.get("version") != "2.1":
            return Reply(
                200,
                {
                    "Errors": [
                        {"description": "Invalid version", "field": "version", "number": "00"}
                    ]
                },
            )
        limit = int(query.get("limit", "10"))
        skip = int(query.get("skip", "0"))
        if limit > 200 or skip > 1000:
            return Reply(
                200,
                {
                    "Errors": [
                        {"description": "limit/skip out of range", "field": "limit", "number": "10"}
                    ]
                },
            )
        if "number" in query:
            hits = [r for r in self.records if str(r["number"]).zfill(10) == query["number"]]
        else:
            criteria = {k: v for k, v in query.items() if k not in {"version", "limit", "skip"}}
            if not criteria:
                return Reply(
                    200,
                    {
                        "Errors": [
                            {
                                "description": "No valid search criteria",
                                "field": "generic",
                                "number": "04",
                            }
                        ]
                    },
                )
            hits = [r for r in self.records if self._matches(r, criteria)]
        page = hits[skip : skip + limit]
        return Reply(200, {"result_count": len(page), "results": page})

    @staticmethod
    def _matches(record: dict[str, object], criteria: dict[str, str]) -> bool:
        addresses = record["addresses"]
        assert isinstance(addresses, list)
        for key, value in criteria.items():
            if key == "state":
                if not any(
                    a["state"] == value and a["address_purpose"] == "LOCATION" for a in addresses
                ):
                    return False
            elif key == "enumeration_type":
                if record["enumeration_type"] != value:
                    return False
            else:
                return False
        return True


# --------------------------------------------------------------------------- Clinical Tables


class ClinicalTables:
    """``/api/icd10cm/v3/search``: prefix match on codes (and name words when sf has name)."""

    def __init__(self, codes: list[tuple[str, str]], cap: int = 7500) -> None:
        self.codes = codes
        self.cap = cap

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        if path != "/api/icd10cm/v3/search":
            return Reply(404, b"<html>not found</html>")
        terms = query.get("terms", "").upper()
        fields = query.get("sf", "code").split(",")
        count = min(int(query.get("count", "7")), 500)
        offset = int(query.get("offset", "0"))
        if offset + count > self.cap:
            count = max(0, self.cap - offset)
        hits = [
            (code, name)
            for code, name in self.codes
            if ("code" in fields and code.upper().startswith(terms))
            or ("name" in fields and any(w.upper().startswith(terms) for w in name.split()))
        ]
        page = hits[offset : offset + count]
        return Reply(200, [len(hits), [c for c, _ in page], None, [[c, n] for c, n in page]])
