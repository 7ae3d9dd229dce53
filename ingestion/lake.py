"""The lake: where Bronze Parquet, rejected rows and the audit log live.

Paths are lake-relative POSIX strings (``bronze/hospital_a/patients/load_id=.../part-0.parquet``).
Two implementations share one protocol: :class:`LocalLake` (a folder, the default) and
``ingestion.lake_adls.AdlsLake`` (ADLS Gen2, ``abfss://container@account.dfs.core.windows.net/path``).
Both publish data with an atomic rename, so a reader never sees a half-written file or load.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

# the file at a local lake's root that one ingest run holds locked while it loads
INGEST_LOCK = ".ingest.lock"


@runtime_checkable
class Lake(Protocol):
    """What the loaders need from a lake."""

    @property
    def uri(self) -> str:
        """Where the lake is, for people and for dbt (a folder path or an ``abfss://`` URI)."""
        ...

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically: readers see the old state or the whole file."""
        ...

    def read_bytes(self, path: str) -> bytes: ...

    def exists(self, path: str) -> bool: ...

    def list_files(self, prefix: str) -> list[str]:
        """Every file below ``prefix`` (recursive), lake-relative, sorted."""
        ...

    def list_dirs(self, prefix: str) -> list[str]:
        """The immediate sub-folders of ``prefix``, lake-relative, sorted."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Move a file or a whole folder; atomic; fails if ``dst`` exists."""
        ...

    def delete(self, path: str) -> None:
        """Remove a file or a folder tree (used only for abandoned temporary loads)."""
        ...


class LocalLake:
    """A lake in a local folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    @property
    def uri(self) -> str:
        return str(self.root)

    def _abs(self, path: str) -> Path:
        target = (self.root / path).resolve()
        if target != self.root and self.root not in target.parents:
            raise ValueError(f"lake path {path!r} escapes the lake root {self.root}")
        return target

    def write_bytes(self, path: str, data: bytes) -> None:
        target = self._abs(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(target)

    def read_bytes(self, path: str) -> bytes:
        return self._abs(path).read_bytes()

    def exists(self, path: str) -> bool:
        return self._abs(path).exists()

    def list_files(self, prefix: str) -> list[str]:
        base = self._abs(prefix)
        if not base.exists():
            return []
        if base.is_file():
            return [prefix]
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())

    def list_dirs(self, prefix: str) -> list[str]:
        base = self._abs(prefix)
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.iterdir() if p.is_dir())

    def rename(self, src: str, dst: str) -> None:
        source, target = self._abs(src), self._abs(dst)
        if target.exists():
            raise FileExistsError(f"cannot move {src} to {dst}: the target exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)

    def delete(self, path: str) -> None:
        target = self._abs(path)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


class LakeBusyError(RuntimeError):
    """Another ingest run is loading into the lake: this one must not start."""


class LakeUnwritableError(RuntimeError):
    """The lake folder cannot be made or written (permissions, a read-only mount, a file in
    its place): checked before anything is read or moved, so nothing is half done."""


@contextlib.contextmanager
def ingest_lock(lake: Lake, warn: Callable[[str], None] = print) -> Iterator[None]:
    """Hold a local lake for one ingest run, or raise :class:`LakeBusyError` at once.

    Two runs at once read the same high-water marks and load the same rows twice, and each
    run's recovery removes the other's loads in progress as abandoned. The lock is an
    ``flock`` on ``<lake>/.ingest.lock``: the kernel lets go of it when the run ends, however
    it ends, so a killed run leaves nothing to clean; the forked workers inherit it, so a run
    killed while its workers still load keeps the lake until they end (within a second:
    ``ingestion.ingest._end_with_parent``). An ADLS lake is held through a lease on the same
    file (:meth:`ingestion.lake_adls.AdlsLake.ingest_lease`)."""
    if not isinstance(lake, LocalLake):
        lease = getattr(lake, "ingest_lease", None)
        with lease(INGEST_LOCK, warn) if lease is not None else contextlib.nullcontext():
            yield
        return
    path = lake.root / INGEST_LOCK
    try:
        lake.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise LakeUnwritableError(
            f"cannot write to the lake {lake.root}: {error.strerror} ({error.filename}); "
            "nothing was loaded. Make the folder writable by the user that runs `rcm ingest` "
            "and check its disk has free space, or pass --lake (or set RCM_LAKE_DIR to) a "
            "folder that is"
        ) from error
    try:
        if _lock(fd, lake.root, warn):
            holder = {"pid": os.getpid(), "started_at": datetime.now(UTC).isoformat()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)


def _lock(fd: int, root: Path, warn: Callable[[str], None]) -> bool:
    """Lock the open lock file ``fd``: True when locked, False on a file system that keeps
    no locks (said with ``warn``); :class:`LakeBusyError` when another run holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise LakeBusyError(_busy_message(root, os.pread(fd, 4096, 0))) from None
    except OSError as error:
        if error.errno not in _NO_LOCKS:
            raise
        # a network share without locks: load as before, and say what is not guarded
        warn(
            f"warning: the lake {root} cannot be locked ({error.strerror}): make sure no "
            "other `rcm ingest` or `rcm run` loads into it at the same time"
        )
        return False
    return True


# flock's errors on a file system that keeps no locks (some NFS and SMB mounts)
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS})


def _busy_message(root: Path, holder_json: bytes) -> str:
    try:
        holder = json.loads(holder_json)
        pid, started = int(holder["pid"]), str(holder["started_at"])
    except (ValueError, KeyError, TypeError):
        who = "another run"
    else:
        who = f"the run of pid {pid}, started {started}"
        if not _alive(pid):
            who += ", has ended; its worker processes stop within a second"
    return (
        f"another `rcm ingest` or `rcm run` is loading into the lake {root} ({who}): wait "
        "for it to end, then run again. Two runs at once would load the same rows twice"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


DISK_FULL = "No space left on device"


def disk_full_hint(error: BaseException, lake: str) -> str:
    """What to add to the message of an error that a full disk caused, else ``""``. A failed
    write names no file, so the hint names the one the error names, else the ``lake``. Only
    file-system errors count: a source database's own "no space" is not this machine's disk."""
    if not isinstance(error, OSError):
        return ""
    if error.errno != errno.ENOSPC and DISK_FULL not in str(error):
        return ""
    where = error.filename or lake
    return (
        f" (the disk that holds {where} is full: free space on it, or move the whole lake "
        "folder to a larger disk and point --lake or RCM_LAKE_DIR at it, then run `rcm "
        "ingest` again; a file that failed stays in landing and an EMR table's high-water mark "
        "moves only with its audit row, so the next run reads what this one could not load)"
    )


def open_lake(location: str | os.PathLike[str]) -> Lake:
    """Open the lake at ``location``: a local folder, or an ``abfss://`` URI for ADLS Gen2."""
    text = os.fspath(location)
    if text.startswith("abfss://"):
        from ingestion.lake_adls import AdlsLake  # imported lazily: Azure SDK only when used

        lake: Lake = AdlsLake.from_uri(text)
        return lake
    return LocalLake(text)
