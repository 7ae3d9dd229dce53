"""The lake on Azure Data Lake Storage Gen2 (hierarchical namespace), through the Azure SDK.

``AdlsLake.from_uri("abfss://<container>@<account>.dfs.core.windows.net/<root>")`` opens the
folder ``<root>`` of file system ``<container>``. Credentials come only from the environment:

- ``AZURE_STORAGE_ACCOUNT_KEY``: shared key of ``<account>``;
- else ``AZURE_STORAGE_SAS_TOKEN``: a SAS token (with or without the leading ``?``);
- else ``azure.identity.DefaultAzureCredential`` (managed identity, workload identity,
  ``az login``, ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET``...).

``RCM_ADLS_ENDPOINT`` (or the ``endpoint`` argument) replaces the account URL
``https://<account>.dfs.core.windows.net``, e.g. with a local test server
``http://127.0.0.1:<port>/<account>``.

Atomicity rests on the hierarchical namespace's atomic rename: :meth:`AdlsLake.write_bytes`
uploads to a hidden temporary file beside the target and renames it over the target;
:meth:`AdlsLake.rename` moves a file or a whole folder in one operation, conditional on the
target not existing (``If-None-Match: *``), so two writers cannot both win. One ingest at a
time holds the lake through a lease on its lock file (:meth:`AdlsLake.ingest_lease`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import posixpath
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.filedatalake import DataLakeServiceClient, FileSystemClient

from ingestion.lake import LakeBusyError

ENDPOINT_ENV = "RCM_ADLS_ENDPOINT"
# An ingest holds the lake through a lease on its lock file: this long (the service allows 15 to
# 60 s, or none that ends), renewed every RENEW_SECONDS while the run lasts. A run killed
# without releasing it holds the lake until the lease runs out.
LEASE_SECONDS = 60
RENEW_SECONDS = 20.0
RETRY_SECONDS = 5.0  # after a renewal that failed
# a lease request tries once and waits a few seconds at most (the SDK's retries take minutes)
_ONE_TRY: dict[str, Any] = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 10}
# With no renewal for this long the lease may run out before a load being published is done:
# the run then publishes no more loads (rename refuses; each such load fails, and the next run
# loads its rows) until a renewal gets through again.
LOST_AFTER_SECONDS = 50.0
# lake URI -> when its lease was last known renewed (time.monotonic(), the time a renewal was
# sent): shared memory, so the forked workers that publish loads with lakes of their own
# compare the same clock, which Linux keeps for the whole system
_renewed_at: dict[str, Any] = {}
ACCOUNT_KEY_ENV = "AZURE_STORAGE_ACCOUNT_KEY"
SAS_TOKEN_ENV = "AZURE_STORAGE_SAS_TOKEN"  # noqa: S105 - the name of a variable, not a secret


def parse_abfss_uri(uri: str) -> tuple[str, str, str, str]:
    """``abfss://fs@account.dfs.core.windows.net/a/b`` -> (fs, account, host, "a/b")."""
    parts = urlsplit(uri)
    if parts.scheme != "abfss" or "@" not in parts.netloc:
        raise ValueError(
            f"{uri!r} is not an ADLS Gen2 URI: expected "
            "abfss://<container>@<account>.dfs.core.windows.net/<path>"
        )
    file_system, host = parts.netloc.split("@", 1)
    account = host.split(".", 1)[0]
    if not file_system or not account:
        raise ValueError(f"{uri!r} names no container or no storage account")
    return file_system, account, host, parts.path.strip("/")


def credential_from_env(account: str) -> Any:
    """The credential the environment provides for ``account`` (see the module docstring)."""
    key = os.environ.get(ACCOUNT_KEY_ENV)
    if key:
        return {"account_name": account, "account_key": key}
    sas = os.environ.get(SAS_TOKEN_ENV)
    if sas:
        return sas.lstrip("?")
    from azure.identity import DefaultAzureCredential  # imported lazily: slow to import

    return DefaultAzureCredential()


def _acquire(lock: Any, lock_path: str, uri: str) -> Any:
    """A lease of LEASE_SECONDS on the file ``lock``; LakeBusyError when another holds one,
    naming it from the file's metadata (written by the holder once it has the lease)."""
    try:
        return lock.acquire_lease(lease_duration=LEASE_SECONDS)
    except HttpResponseError as error:
        if getattr(error, "error_code", None) != "LeaseAlreadyPresent":
            raise
    who = "it"
    with contextlib.suppress(AzureError):
        holder = lock.get_file_properties().metadata or {}
        if {"host", "pid", "started_at"} <= set(holder):
            who = (
                f"the run of pid {holder['pid']} on {holder['host']}, started "
                f"{holder['started_at']},"
            )
    raise LakeBusyError(
        f"another `rcm ingest` or `rcm run` is loading into the lake {uri} ({who} holds the "
        f"lease on {lock_path}): wait for it to end, then run again. A run that was killed "
        f"holds it for at most {LEASE_SECONDS} s. Two runs at once would load the same rows "
        "twice"
    )


def _clean(path: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in {"", "."}]
    if ".." in parts:
        raise ValueError(f"lake path {path!r} may not contain '..'")
    return "/".join(parts)


class AdlsLake:
    """A lake in a folder of an ADLS Gen2 file system."""

    def __init__(
        self,
        account_url: str,
        file_system: str,
        root: str = "",
        credential: Any = None,
        *,
        uri: str | None = None,
    ) -> None:
        self._service = DataLakeServiceClient(account_url=account_url, credential=credential)
        self._fs: FileSystemClient = self._service.get_file_system_client(file_system)
        self.file_system = file_system
        self.root = _clean(root)
        self._uri = uri or f"{account_url.rstrip('/')}/{file_system}/{self.root}".rstrip("/")

    @classmethod
    def from_uri(cls, uri: str, *, endpoint: str | None = None, credential: Any = None) -> AdlsLake:
        """Open ``abfss://container@account.dfs.core.windows.net/path`` (see module docstring)."""
        file_system, account, host, root = parse_abfss_uri(uri)
        account_url = endpoint or os.environ.get(ENDPOINT_ENV) or f"https://{host}"
        if credential is None:
            credential = credential_from_env(account)
        return cls(account_url, file_system, root, credential, uri=uri.rstrip("/"))

    @property
    def uri(self) -> str:
        return self._uri

    # ------------------------------------------------------------------ paths

    def _full(self, path: str) -> str:
        rel = _clean(path)
        return posixpath.join(self.root, rel) if self.root and rel else self.root or rel

    def _rel(self, full: str) -> str:
        if not self.root:
            return full
        return full[len(self.root) + 1 :] if full.startswith(self.root + "/") else full

    def _kind(self, full: str) -> str | None:
        """``"file"``, ``"directory"`` or None when nothing is at ``full``."""
        if not full:
            return "directory"
        try:
            props = self._fs.get_file_client(full).get_file_properties()
        except ResourceNotFoundError:
            return None
        metadata = props.metadata or {}
        return "directory" if str(metadata.get("hdi_isfolder", "")).lower() == "true" else "file"

    def create_file_system(self) -> None:
        """Create the file system if it does not exist (deployments usually do this once)."""
        with contextlib.suppress(ResourceExistsError):
            self._fs.create_file_system()

    @contextlib.contextmanager
    def ingest_lease(self, lock_path: str, warn: Callable[[str], None]) -> Iterator[None]:
        """Hold the lake for one ingest run through a lease on the file ``lock_path``, or raise
        :class:`~ingestion.lake.LakeBusyError` at once when another run holds it. The lease
        lasts LEASE_SECONDS and a thread renews it every RENEW_SECONDS (sooner again after a
        renewal that failed: each try waits at most a few seconds and is not retried by the
        SDK, so a network cut is said while the lease still runs); it is released when the run
        ends, and runs out by itself after a run that was killed. A lease that could not be
        renewed for LOST_AFTER_SECONDS makes the run publish no more loads (see rename)."""
        renewed = multiprocessing.Value("d", time.monotonic(), lock=False)  # before the request
        lock = self._fs.get_file_client(self._full(lock_path))
        try:
            lease = _acquire(lock, lock_path, self.uri)
        except ResourceNotFoundError:  # the lake's first run: make the file, then lease it
            with contextlib.suppress(ResourceExistsError):
                lock.create_file(match_condition=MatchConditions.IfMissing)
            renewed.value = time.monotonic()
            lease = _acquire(lock, lock_path, self.uri)
        holder = {
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with contextlib.suppress(AzureError):  # for a refused run's message only
            lock.set_metadata(holder, lease=lease.id, **_ONE_TRY)
        ended = threading.Event()

        def renew() -> None:
            wait = RENEW_SECONDS
            while not ended.wait(wait):
                sent = time.monotonic()
                try:
                    lease.renew(**_ONE_TRY)
                except AzureError as error:
                    since = time.monotonic() - renewed.value
                    if since >= LOST_AFTER_SECONDS:
                        state = (
                            "it may run out before a load is published: this run publishes no "
                            "more loads until a renewal gets through (the next run loads them)"
                        )
                    else:
                        state = (
                            f"it runs out in {LEASE_SECONDS - since:.0f} s; without a renewal "
                            f"within {LOST_AFTER_SECONDS - since:.0f} s this run stops "
                            "publishing loads"
                        )
                    warn(
                        f"warning: could not renew the lease on {self.uri}/{lock_path} "
                        f"({type(error).__name__}: {error}); {state}"
                    )
                    wait = RETRY_SECONDS
                else:
                    renewed.value = sent
                    wait = RENEW_SECONDS

        renewer = threading.Thread(target=renew, name="rcm-lake-lease", daemon=True)
        outer = _renewed_at.get(self.uri)
        _renewed_at[self.uri] = renewed
        renewer.start()
        try:
            yield
        finally:
            ended.set()
            renewer.join()
            if outer is None:
                _renewed_at.pop(self.uri, None)
            else:
                _renewed_at[self.uri] = outer
            # the holder's name goes with its lease: a later run whose own metadata write
            # fails is then refused as "it", not in the name of this ended run
            with contextlib.suppress(AzureError):
                lock.set_metadata({}, lease=lease.id, **_ONE_TRY)
            with contextlib.suppress(AzureError):  # it runs out by itself
                lease.release(**_ONE_TRY)

    # ------------------------------------------------------------------ the Lake protocol

    def write_bytes(self, path: str, data: bytes) -> None:
        target = self._full(path)
        if not _clean(path):
            raise ValueError("write_bytes needs a file path, got the lake root")
        parent, name = posixpath.split(target)
        tmp = posixpath.join(parent, f".{name}.{uuid.uuid4().hex}.tmp")
        tmp_client = self._fs.get_file_client(tmp)
        try:
            if data:
                tmp_client.upload_data(data, length=len(data), overwrite=True)
            else:  # the SDK uploads nothing for empty data: create the empty file explicitly
                tmp_client.create_file()
            tmp_client.rename_file(f"{self.file_system}/{target}")
        except Exception:
            with contextlib.suppress(AzureError):  # best effort: never hide the first error
                tmp_client.delete_file()
            raise

    def read_bytes(self, path: str) -> bytes:
        full = self._full(path)
        try:
            data: bytes = self._fs.get_file_client(full).download_file().readall()
        except ResourceNotFoundError as exc:
            raise FileNotFoundError(f"{self.uri}: no file {path}") from exc
        return data

    def exists(self, path: str) -> bool:
        return self._kind(self._full(path)) is not None

    def list_files(self, prefix: str) -> list[str]:
        full = self._full(prefix)
        kind = self._kind(full)
        if kind is None:
            return []
        if kind == "file":
            return [_clean(prefix)]
        paths = self._fs.get_paths(path=full or None, recursive=True)
        return sorted(self._rel(p.name) for p in paths if not p.is_directory)

    def list_dirs(self, prefix: str) -> list[str]:
        full = self._full(prefix)
        if self._kind(full) != "directory":
            return []
        paths = self._fs.get_paths(path=full or None, recursive=False)
        return sorted(self._rel(p.name) for p in paths if p.is_directory)

    def rename(self, src: str, dst: str) -> None:
        renewed = _renewed_at.get(self.uri)
        if renewed is not None and time.monotonic() - renewed.value >= LOST_AFTER_SECONDS:
            raise LakeBusyError(
                f"cannot publish {dst}: this run's lease on the lake {self.uri} was not renewed "
                f"for {LOST_AFTER_SECONDS:.0f} s, so another run may be loading into it; the "
                "next run loads these rows"
            )
        source, target = self._full(src), self._full(dst)
        kind = self._kind(source)
        if kind is None:
            raise FileNotFoundError(f"cannot move {src} to {dst}: {src} does not exist")
        if self._kind(target) is not None:
            raise FileExistsError(f"cannot move {src} to {dst}: the target exists")
        parent = posixpath.dirname(target)
        if parent and self._kind(parent) is None:
            self._fs.get_directory_client(parent).create_directory()
        new_name = f"{self.file_system}/{target}"
        try:
            if kind == "directory":
                self._fs.get_directory_client(source).rename_directory(
                    new_name, match_condition=MatchConditions.IfMissing
                )
            else:
                self._fs.get_file_client(source).rename_file(
                    new_name, match_condition=MatchConditions.IfMissing
                )
        except ResourceExistsError as exc:
            raise FileExistsError(f"cannot move {src} to {dst}: the target exists") from exc

    def delete(self, path: str) -> None:
        full = self._full(path)
        if not _clean(path):
            raise ValueError("refusing to delete the lake root")
        kind = self._kind(full)
        try:
            if kind == "directory":
                self._fs.get_directory_client(full).delete_directory()
            elif kind == "file":
                self._fs.get_file_client(full).delete_file()
        except ResourceNotFoundError:
            pass
