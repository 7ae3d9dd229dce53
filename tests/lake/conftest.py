"""An in-memory stand-in for the ADLS Gen2 service, and the lakes the contract tests run on.

Azurite emulates the Blob API but has no ``dfs`` endpoint, so ``AdlsLake`` is tested with the
real Azure SDK against this small HTTP server. It implements the few REST calls the SDK sends
for what the lake uses, on an honest in-memory hierarchical namespace (files and directories,
parents created on path creation, atomic rename of files and whole directories):

- ``PUT ?restype=container`` / ``PUT ?resource=filesystem``: create a file system;
- ``PUT ?resource=file|directory``: create a path (``If-None-Match: *`` -> 409 if it exists);
- ``PATCH ?action=append&position=N`` and ``PATCH ?action=flush&position=N``: stage, commit;
- ``PUT`` with ``x-ms-rename-source``: rename (``If-None-Match: *`` on the target, the target's
  parent must exist);
- ``GET ?resource=filesystem&directory=&recursive=`` (JSON ``{"paths": [...]}``, paged with
  ``x-ms-continuation``);
- ``HEAD`` and ``GET`` (with ``x-ms-range``) the blob way, as the SDK reads and stats paths
  through the blob endpoint (directories carry ``x-ms-meta-hdi_isfolder: true``);
- ``DELETE ?recursive=``;
- ``PUT ?comp=metadata`` the blob way (``x-ms-meta-*``, returned by ``HEAD``);
- ``PUT ?comp=lease`` the blob way (``x-ms-lease-action`` acquire, renew, release; a lease of
  15-60 s or -1, ``LeaseAlreadyPresent`` while another holds it). A leased file cannot be
  replaced or deleted without its lease id (``LeaseIdMissing``); ``Store.expire_leases`` ends
  every lease at once, as time would.

Requests are signed by the SDK with a dummy account key; the server does not verify them.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from ingestion.lake import Lake, LocalLake
from ingestion.lake_adls import AdlsLake

ACCOUNT = "rcmtestaccount"
FILE_SYSTEM = "lake"
DUMMY_KEY = "ZHVtbXkta2V5LWZvci10ZXN0cy1vbmx5LW5vdC1hLXJlYWwtc2VjcmV0"  # base64 of a dummy


@dataclass
class Node:
    kind: str  # "file" | "directory"
    data: bytes = b""
    staged: bytearray = field(default_factory=bytearray)
    etag: str = field(default_factory=lambda: f'"0x{uuid.uuid4().hex[:16].upper()}"')
    metadata: dict[str, str] = field(default_factory=dict)
    lease_id: str | None = None
    lease_seconds: int = -1
    lease_ends: float = 0.0  # time.monotonic(); inf for a lease that does not end

    def touch(self) -> None:
        self.etag = f'"0x{uuid.uuid4().hex[:16].upper()}"'

    def leased(self) -> bool:
        return self.lease_id is not None and time.monotonic() < self.lease_ends


class Store:
    """File systems of path -> Node; a path's parents are always directories that exist."""

    def __init__(self, list_page_size: int = 3) -> None:
        self.file_systems: dict[str, dict[str, Node]] = {}
        self.lock = threading.Lock()
        self.list_page_size = list_page_size
        self.requests: list[tuple[str, str]] = []
        self.renewals = 0  # lease renewals answered
        self.refuse_leases: set[str] = set()  # e.g. {"renew"}: answer 403 to that lease action
        self.refuse_actions: set[str] = set()  # e.g. {"flush"}: answer 403 to that PATCH action
        self.refuse_metadata = False  # answer 403 to a metadata write

    def expire_leases(self) -> None:
        with self.lock:
            for nodes in self.file_systems.values():
                for node in nodes.values():
                    node.lease_ends = 0.0

    @staticmethod
    def parents(path: str) -> list[str]:
        parts = path.split("/")
        return ["/".join(parts[:i]) for i in range(1, len(parts))]

    @staticmethod
    def below(nodes: dict[str, Node], path: str) -> list[str]:
        return [p for p in nodes if p.startswith(path + "/")]


def _lease_end(seconds: int) -> float:
    return time.monotonic() + seconds if seconds > 0 else float("inf")


def _now() -> str:
    return email.utils.formatdate(usegmt=True)


class AdlsError(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.status, self.code, self.message = status, code, message or code


def _handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        # ---------------------------------------------------------- plumbing

        def _target(self) -> tuple[str, str, dict[str, str]]:
            parts = urlsplit(self.path)
            segments = [unquote(s) for s in parts.path.split("/") if s]
            assert segments and segments[0] == ACCOUNT, f"unexpected account in {self.path}"
            fs = segments[1] if len(segments) > 1 else ""
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            return fs, "/".join(segments[2:]), query

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            all_headers = {
                "x-ms-request-id": str(uuid.uuid4()),
                "x-ms-version": self.headers.get("x-ms-version", "2025-01-05"),
                "Date": email.utils.formatdate(usegmt=True),
                **(headers or {}),
            }
            all_headers.setdefault("Content-Length", str(len(body)))
            for key, value in all_headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _node_headers(self, node: Node) -> dict[str, str]:
            headers = {
                "ETag": node.etag,
                "Last-Modified": email.utils.formatdate(usegmt=True),
                "x-ms-resource-type": node.kind,
                "x-ms-blob-type": "BlockBlob",
                "x-ms-creation-time": email.utils.formatdate(usegmt=True),
                "Content-Type": "application/octet-stream",
            }
            if node.kind == "directory":
                headers["x-ms-meta-hdi_isfolder"] = "true"
            headers.update({f"x-ms-meta-{key}": value for key, value in node.metadata.items()})
            return headers

        def _run(self) -> None:
            body = self._body()
            try:
                fs, path, query = self._target()
                with store.lock:
                    store.requests.append((self.command, self.path))
                    getattr(self, f"_{self.command.lower()}")(fs, path, query, body)
            except AdlsError as err:
                payload = json.dumps({"error": {"code": err.code, "message": err.message}})
                self._send(
                    err.status,
                    payload.encode() if self.command != "HEAD" else b"",
                    {"x-ms-error-code": err.code, "Content-Type": "application/json"},
                )

        def do_PUT(self) -> None:
            self._run()

        def do_PATCH(self) -> None:
            self._run()

        def do_GET(self) -> None:
            self._run()

        def do_HEAD(self) -> None:
            self._run()

        def do_DELETE(self) -> None:
            self._run()

        def _nodes(self, fs: str) -> dict[str, Node]:
            if fs not in store.file_systems:
                raise AdlsError(
                    404, "FilesystemNotFound", "The specified filesystem does not exist."
                )
            return store.file_systems[fs]

        def _conditions(self, node: Node | None) -> None:
            if self.headers.get("If-None-Match") == "*" and node is not None:
                raise AdlsError(409, "PathAlreadyExists", "The specified path already exists.")
            if_match = self.headers.get("If-Match")
            if if_match and (node is None or if_match not in {"*", node.etag}):
                raise AdlsError(412, "ConditionNotMet", "The condition specified was not met.")

        # ---------------------------------------------------------- verbs

        def _put(self, fs: str, path: str, query: dict[str, str], body: bytes) -> None:
            if not path and (query.get("restype") == "container" or "resource" in query):
                if fs in store.file_systems:
                    raise AdlsError(409, "ContainerAlreadyExists", "already exists")
                store.file_systems[fs] = {}
                self._send(201, headers={"ETag": '"0x1"', "Last-Modified": _now()})
                return
            nodes = self._nodes(fs)
            if query.get("comp") == "lease":
                self._lease(nodes.get(path))
                return
            if query.get("comp") == "metadata":
                self._metadata(nodes.get(path))
                return
            source_header = self.headers.get("x-ms-rename-source")
            if source_header:
                self._rename(fs, nodes, path, source_header)
                return
            kind = query.get("resource")
            if kind not in {"file", "directory"}:
                raise AdlsError(400, "InvalidQueryParameterValue", f"resource={kind}")
            existing = nodes.get(path)
            self._conditions(existing)
            self._lease_allows(existing)
            if existing is not None and existing.kind != kind:
                raise AdlsError(409, "PathConflict", "a path of the other kind exists")
            for parent in store.parents(path):
                if parent in nodes and nodes[parent].kind == "file":
                    raise AdlsError(409, "PathConflict", f"{parent} is a file")
                nodes.setdefault(parent, Node("directory"))
            if kind == "file" or existing is None:
                nodes[path] = Node(kind)
            node = nodes[path]
            self._send(201, headers={"ETag": node.etag, "Last-Modified": _now()})

        def _lease(self, node: Node | None) -> None:
            if node is None or node.kind != "file":
                raise AdlsError(404, "BlobNotFound", "The specified blob does not exist.")
            action = self.headers.get("x-ms-lease-action")
            given = self.headers.get("x-ms-lease-id")
            if action in store.refuse_leases:
                raise AdlsError(403, "AuthorizationFailure", f"lease {action} refused")
            if action == "acquire":
                duration = int(self.headers.get("x-ms-lease-duration", "-1"))
                if duration != -1 and not 15 <= duration <= 60:
                    raise AdlsError(400, "InvalidHeaderValue", "x-ms-lease-duration")
                if node.leased():
                    raise AdlsError(409, "LeaseAlreadyPresent", "There is already a lease.")
                node.lease_id = self.headers.get("x-ms-proposed-lease-id") or str(uuid.uuid4())
                node.lease_seconds = duration
                node.lease_ends = _lease_end(duration)
                self._send(201, headers={"x-ms-lease-id": node.lease_id, "ETag": node.etag})
            elif action in {"renew", "release"}:
                if given is None or given != node.lease_id:
                    raise AdlsError(
                        409, "LeaseIdMismatchWithLeaseOperation", "The lease ID does not match."
                    )
                if action == "renew":
                    store.renewals += 1
                    node.lease_ends = _lease_end(node.lease_seconds)
                else:
                    node.lease_id, node.lease_ends = None, 0.0
                self._send(200, headers={"x-ms-lease-id": given, "ETag": node.etag})
            else:
                raise AdlsError(400, "InvalidHeaderValue", f"x-ms-lease-action={action}")

        def _metadata(self, node: Node | None) -> None:
            if node is None:
                raise AdlsError(404, "BlobNotFound", "The specified blob does not exist.")
            self._lease_allows(node)
            if store.refuse_metadata:
                raise AdlsError(403, "AuthorizationFailure", "metadata write refused")
            node.metadata = {
                key.lower().removeprefix("x-ms-meta-"): value
                for key, value in self.headers.items()
                if key.lower().startswith("x-ms-meta-")
            }
            node.touch()
            self._send(200, headers={"ETag": node.etag, "Last-Modified": _now()})

        def _lease_allows(self, node: Node | None) -> None:
            if node is None or not node.leased():
                return
            if self.headers.get("x-ms-lease-id") != node.lease_id:
                raise AdlsError(412, "LeaseIdMissing", "There is a lease on the blob.")

        def _rename(self, fs: str, nodes: dict[str, Node], dst: str, header: str) -> None:
            source = unquote(header.split("?", 1)[0]).strip("/")
            src_fs, _, src = source.partition("/")
            if src_fs != fs:
                raise AdlsError(400, "InvalidRenameSourcePath", "cross file-system rename")
            if src not in nodes:
                raise AdlsError(404, "SourcePathNotFound", "The source path does not exist.")
            self._conditions(nodes.get(dst))
            parent = dst.rsplit("/", 1)[0] if "/" in dst else ""
            if parent and (parent not in nodes or nodes[parent].kind != "directory"):
                raise AdlsError(
                    404,
                    "RenameDestinationParentPathNotFound",
                    "The parent of the target is missing.",
                )
            if dst == src or dst.startswith(src + "/"):
                raise AdlsError(400, "InvalidDestinationPath", "cannot move a path below itself")
            if dst in nodes and nodes[dst].kind == "directory":
                raise AdlsError(409, "DestinationPathIsBeingDeleted", "target is a directory")
            moved = {src: nodes.pop(src)}
            for child in store.below(nodes, src):
                moved[child] = nodes.pop(child)
            for old, node in moved.items():
                nodes[dst + old[len(src) :]] = node
            self._send(201, headers={"ETag": moved[src].etag, "Last-Modified": _now()})

        def _patch(self, fs: str, path: str, query: dict[str, str], body: bytes) -> None:
            node = self._nodes(fs).get(path)
            if node is None or node.kind != "file":
                raise AdlsError(404, "PathNotFound", "The specified path does not exist.")
            action = query.get("action")
            if action in store.refuse_actions:
                raise AdlsError(403, "AuthorizationPermissionMismatch", f"{action} refused")
            position = int(query.get("position", "-1"))
            if action == "append":
                if position != len(node.staged):
                    raise AdlsError(400, "InvalidFlushPosition", "append position mismatch")
                node.staged.extend(body)
                self._send(202)
            elif action == "flush":
                self._conditions(node)
                if position != len(node.staged):
                    raise AdlsError(400, "InvalidFlushPosition", "flush position mismatch")
                node.data = bytes(node.staged)
                node.touch()
                self._send(200, headers={"ETag": node.etag, "Last-Modified": _now()})
            else:
                raise AdlsError(400, "InvalidQueryParameterValue", f"action={action}")

        def _get(self, fs: str, path: str, query: dict[str, str], body: bytes) -> None:
            nodes = self._nodes(fs)
            if query.get("resource") == "filesystem":
                self._list(nodes, query)
                return
            node = nodes.get(path)
            if node is None:
                raise AdlsError(404, "BlobNotFound", "The specified blob does not exist.")
            if node.kind == "directory":
                self._send(200, b"", self._node_headers(node))
                return
            data = node.data
            headers = self._node_headers(node)
            wanted = self.headers.get("x-ms-range") or self.headers.get("Range")
            if wanted:
                start_text, _, end_text = wanted.removeprefix("bytes=").partition("-")
                start = int(start_text)
                if start >= len(data):
                    raise AdlsError(416, "InvalidRange", "The range specified is invalid.")
                end = min(int(end_text) if end_text else len(data) - 1, len(data) - 1)
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                self._send(206, data[start : end + 1], headers)
            else:
                self._send(200, data, headers)

        def _list(self, nodes: dict[str, Node], query: dict[str, str]) -> None:
            directory = query.get("directory", "").strip("/")
            recursive = query.get("recursive", "false").lower() == "true"
            if directory and (directory not in nodes or nodes[directory].kind != "directory"):
                raise AdlsError(404, "PathNotFound", "The specified path does not exist.")
            base = directory + "/" if directory else ""
            names = sorted(
                p for p in nodes if p.startswith(base) and (recursive or "/" not in p[len(base) :])
            )
            start = int(query.get("continuation") or 0)
            page = names[start : start + store.list_page_size]
            paths = []
            for name in page:
                node = nodes[name]
                entry = {
                    "name": name,
                    "contentLength": str(len(node.data)),
                    "etag": node.etag,
                    "lastModified": email.utils.formatdate(usegmt=True),
                }
                if node.kind == "directory":
                    entry["isDirectory"] = "true"
                paths.append(entry)
            headers = {"Content-Type": "application/json"}
            if start + len(page) < len(names):
                headers["x-ms-continuation"] = str(start + len(page))
            self._send(200, json.dumps({"paths": paths}).encode(), headers)

        def _head(self, fs: str, path: str, query: dict[str, str], body: bytes) -> None:
            nodes = self._nodes(fs)
            node = nodes.get(path)
            if node is None:
                raise AdlsError(404, "BlobNotFound", "The specified blob does not exist.")
            headers = self._node_headers(node)
            headers["Content-Length"] = str(len(node.data))
            self._send(200, b"", headers)

        def _delete(self, fs: str, path: str, query: dict[str, str], body: bytes) -> None:
            nodes = self._nodes(fs)
            node = nodes.get(path)
            if node is None:
                raise AdlsError(404, "PathNotFound", "The specified path does not exist.")
            self._lease_allows(node)
            children = store.below(nodes, path)
            if children and query.get("recursive", "").lower() != "true":
                raise AdlsError(409, "DirectoryNotEmpty", "The recursive query parameter is false.")
            for child in children:
                del nodes[child]
            del nodes[path]
            self._send(200)

    return Handler


@dataclass
class AdlsServer:
    store: Store
    endpoint: str


@pytest.fixture
def adls_server() -> Iterator[AdlsServer]:
    store = Store()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(store))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield AdlsServer(store, f"http://127.0.0.1:{server.server_address[1]}/{ACCOUNT}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def open_adls(server: AdlsServer, root: str = "warehouse/lake") -> AdlsLake:
    uri = f"abfss://{FILE_SYSTEM}@{ACCOUNT}.dfs.core.windows.net/{root}"
    lake = AdlsLake.from_uri(
        uri,
        endpoint=server.endpoint,
        credential={"account_name": ACCOUNT, "account_key": DUMMY_KEY},
    )
    lake.create_file_system()
    return lake


@pytest.fixture(params=["local", "adls"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """The same contract tests run on both implementations."""
    if request.param == "local":
        return LocalLake(tmp_path / "lake")
    server: AdlsServer = request.getfixturevalue("adls_server")
    return open_adls(server)
