"""Skip a `dbt build` that cannot change anything.

A successful whole-project ``rcm build`` on the local DuckDB target writes a small state file
next to the warehouse (``<warehouse>.build-state.json``): a fingerprint of everything the build
read, and the size and modification time of the warehouse file it left. The next ``rcm build``
computes the fingerprint again; when it and the warehouse file are unchanged, the build is
skipped with a message that says so (``--force`` builds anyway).

The fingerprint covers:

- the project: ``dbt_project.yml``, every file under ``dbt_project/`` (models, macros, seeds,
  snapshots, tests) and the profiles folder, by content;
- the settings that change what is built: the target, the lake and warehouse locations,
  ``RCM_BRONZE_SCHEMA``, and the versions of dbt-core, dbt-duckdb and DuckDB;
- the Bronze data: every file under ``<lake>/bronze`` by path, size and modification time.
  The audit log is not part of it: a no-change ingest appends audit rows but no Bronze data,
  and the audit staging model is a view, so it never goes stale.

Anything the check cannot see (a remote lake, another target, a partial ``--select`` build)
means no skip, and any build that is not a successful whole-project build removes the state
file, so a failed or partial build is never mistaken for an up-to-date warehouse.

The same record scopes the Bronze reconciliation test (every Bronze row is in staging or
superseded): when the project and settings are unchanged since a successful build that left
the warehouse as it is, and every Bronze load that build read is still there unchanged, only
the new loads need checking; ``reconcile_scope`` names them. Anything else means a full check.
In such a build, ``unchanged_sources`` names the declared dbt sources whose Bronze folder got no
new load: `rcm build` leaves out the nodes that read only those (ingestion/build.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import yaml

STATE_SUFFIX = ".build-state.json"
# in the message of a skipped build (the bench looks for it in `rcm build`'s output)
UP_TO_DATE = "is up to date:"
STATE_VERSION = 2
# The env variable through which `rcm build` tells the reconciliation test what to check
# (macro reconcile_scope): "all", or a comma-separated list of Bronze load ids.
RECONCILE_ENV = "RCM_RECONCILE_LOADS"
RECONCILE_ALL = "all"
RECONCILE_NONE = "none"
_VERSIONED_PACKAGES = ("dbt-core", "dbt-duckdb", "duckdb")
# libyaml's safe loader where PyYAML has it: the project's YAML takes 0.5 s with the pure-Python
# one, 0.1 s with it, on every scoped build
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SETTING_VARIABLES = ("RCM_BRONZE_SCHEMA",)
DBT_USER_FILE = ".user.yml"


@dataclass(frozen=True)
class BuildInputs:
    """Where a local build reads from and writes to, and the fingerprint of what it reads."""

    warehouse: Path
    lake: Path
    fingerprint: str
    bronze_files: int
    # everything but the Bronze data (project files, profiles, settings, versions)
    project_fingerprint: str = ""
    # Bronze load id -> fingerprint of its files (path, size, modification time; a rewrite
    # that keeps both, such as `cp -p` of a same-size file, goes unnoticed: `--force`)
    bronze_loads: Mapping[str, str] = field(default_factory=dict)
    # Bronze load id -> the folder of the table it loaded, under the Bronze root
    # ("hospital_a/claims"); a dbt source reads the folder named <source>/<table>
    load_tables: Mapping[str, str] = field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        return self.warehouse.with_name(self.warehouse.name + STATE_SUFFIX)


def _hash_files(digest: hashlib._Hash, root: Path, files: Iterable[Path]) -> None:
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [name for name in dirnames if name != "__pycache__"]
        found.extend(Path(dirpath) / name for name in filenames)
    return found


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def local_warehouse(target: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The DuckDB file of the local target, or None when the build targets another engine."""
    env = os.environ if env is None else env
    if (target or env.get("RCM_TARGET") or "local") != "local":
        return None
    return Path(env.get("RCM_WAREHOUSE_PATH") or "warehouse/rcm.duckdb").resolve()


# a DuckDB database file has these bytes at offset 8; a SQLite file starts with its own header
_DUCKDB_MAGIC = (8, b"DUCK")
_SQLITE_HEADER = b"SQLite format 3\x00"


def not_a_warehouse(path: Path) -> str | None:
    """Why the existing file ``path`` is not a DuckDB warehouse (a SQLite EMR file, another
    file), or None when it is one, is empty or cannot be read here (DuckDB then says why).
    DuckDB opens a SQLite file through its sqlite extension, which it would try to download."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    offset, magic = _DUCKDB_MAGIC
    if not head or head[offset : offset + len(magic)] == magic:
        return None
    kind = "a SQLite database, not" if head.startswith(_SQLITE_HEADER) else "not"
    return f"{path} is {kind} a DuckDB warehouse (the file `rcm build` writes)"


def local_lake(env: Mapping[str, str] | None = None) -> Path | None:
    """The lake folder dbt reads Bronze from (RCM_LAKE_DIR), or None for a remote lake."""
    env = os.environ if env is None else env
    location = env.get("RCM_LAKE_DIR") or "lake"
    return None if "://" in location else Path(location).resolve()


def local_build_inputs(
    *,
    project_dir: Path,
    profiles_dir: Path,
    target: str | None,
    env: Mapping[str, str] | None = None,
) -> BuildInputs | None:
    """The fingerprint of a build on the local DuckDB target; None when it cannot be known."""
    env = os.environ if env is None else env
    lake = local_lake(env)
    warehouse = local_warehouse(target, env)
    if warehouse is None or lake is None:
        return None

    digest = hashlib.sha256()
    # the target is the local one (local_warehouse): named as it always was in the digest
    digest.update(f"state {STATE_VERSION}\0target local\0".encode())
    digest.update(f"lake {lake}\0warehouse {warehouse}\0".encode())
    for variable in _SETTING_VARIABLES:
        digest.update(f"{variable}={env.get(variable, '')}\0".encode())
    for package in _VERSIONED_PACKAGES:
        digest.update(f"{package}=={_package_version(package)}\0".encode())
    project_files = [project_dir / "dbt_project.yml", *_walk(project_dir / "dbt_project")]
    _hash_files(digest, project_dir, [path for path in project_files if path.is_file()])
    # not dbt's own .user.yml (an id it writes beside the profiles on its first run)
    profiles = [
        path for path in _walk(profiles_dir) if path.is_file() and path.name != DBT_USER_FILE
    ]
    _hash_files(digest, profiles_dir, profiles)

    project_fingerprint = digest.hexdigest()

    bronze = lake / "bronze"
    bronze_files = sorted(_walk(bronze)) if bronze.is_dir() else []
    loads: dict[str, hashlib._Hash] = {}
    load_tables: dict[str, str] = {}
    for path in bronze_files:
        stat = path.stat()
        relative = path.relative_to(bronze)
        entry = f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode()
        digest.update(entry)
        # a file outside a load folder is kept under "" (it makes the next check a full one)
        load_id, table = _load_of(relative) or ("", "")
        loads.setdefault(load_id, hashlib.sha256()).update(entry)
        if load_id:
            load_tables.setdefault(load_id, table)
    return BuildInputs(
        warehouse,
        lake,
        digest.hexdigest(),
        len(bronze_files),
        project_fingerprint,
        {load_id: load.hexdigest() for load_id, load in sorted(loads.items())},
        load_tables,
    )


def _load_of(path: Path) -> tuple[str, str] | None:
    """The load a Bronze file belongs to and the table it loaded: the id of its
    ``load_id=...`` folder and the folders above that ("hospital_a/claims"); None outside a load
    folder. ``path`` is relative to the Bronze root."""
    for index, part in enumerate(path.parts):
        if part.startswith("load_id="):
            return part.removeprefix("load_id="), "/".join(path.parts[:index])
    return None


def _warehouse_stamp(warehouse: Path) -> dict[str, int] | None:
    if not warehouse.is_file() or warehouse.with_name(warehouse.name + ".wal").exists():
        return None  # missing, or a write not checkpointed yet: never up to date
    stat = warehouse.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _valid_state(inputs: BuildInputs) -> dict[str, object] | None:
    """The record of the last successful build, if it left the warehouse as it is now."""
    try:
        state = json.loads(inputs.state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    stamp = _warehouse_stamp(inputs.warehouse)
    if (
        not isinstance(state, dict)
        or state.get("version") != STATE_VERSION
        or stamp is None
        or state.get("warehouse") != stamp
    ):
        return None
    return state


def up_to_date(inputs: BuildInputs) -> str | None:
    """A message saying why the warehouse is up to date, or None when it must be built."""
    state = _valid_state(inputs)
    if state is None or state.get("fingerprint") != inputs.fingerprint:
        return None
    # the lake is named: a build pointed at another lake than the one ingested into says
    # "up to date" of what it checked, not of the data just loaded
    return (
        f"the warehouse {inputs.warehouse} {UP_TO_DATE} no Bronze file of the lake "
        f"{inputs.lake} ({inputs.bronze_files:,} checked), project file or setting has changed "
        f"since the successful build of {state.get('built_at', 'an earlier run')}; nothing to "
        "do (`rcm build --force` builds anyway)"
    )


def reconcile_scope(inputs: BuildInputs | None) -> str:
    """What the Bronze reconciliation test must check in the coming build: ``RECONCILE_ALL``,
    ``RECONCILE_NONE``, or the comma-separated ids of the loads that the last successful build
    did not read."""
    state = None if inputs is None else _valid_state(inputs)
    if inputs is None or state is None:
        return RECONCILE_ALL
    checked = state.get("bronze_loads")
    if state.get("project_fingerprint") != inputs.project_fingerprint or not isinstance(
        checked, dict
    ):
        return RECONCILE_ALL
    if any(inputs.bronze_loads.get(load_id) != files for load_id, files in checked.items()):
        return RECONCILE_ALL  # a load it checked was removed or rewritten
    new = set(inputs.bronze_loads) - set(checked)
    if "" in new:
        return RECONCILE_ALL  # Bronze files outside a load folder: no load id to name
    return ",".join(sorted(new)) or RECONCILE_NONE


def declared_sources(project_dir: Path) -> list[str] | None:
    """The source tables the dbt project declares, as ``source.table``; None when a YAML file
    of the project cannot be read (dbt will say why)."""
    declared: set[str] = set()
    folder = project_dir / "dbt_project"
    for path in sorted([*folder.rglob("*.yml"), *folder.rglob("*.yaml")]):
        try:
            text = path.read_text(encoding="utf-8")
            document = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
        except (OSError, yaml.YAMLError):
            return None
        sources = document.get("sources") if isinstance(document, dict) else None
        for source in sources if isinstance(sources, list) else []:
            tables = source.get("tables") if isinstance(source, dict) else None
            for table in tables if isinstance(tables, list) else []:
                if isinstance(table, dict) and table.get("name"):
                    declared.add(f"{source.get('name')}.{table['name']}")
    return sorted(declared)


def unchanged_sources(inputs: BuildInputs, scope: str, declared: Iterable[str]) -> list[str]:
    """The declared sources that a build scoped to ``scope`` (reconcile_scope's load ids) need
    not read: Bronze tables (``<lake>/bronze/<source>/<table>``) with no new load since the last
    successful build. Nothing when every load must be checked; a source outside the Bronze
    (the audit log) is never unchanged."""
    if scope == RECONCILE_ALL:
        return []
    new = set() if scope == RECONCILE_NONE else set(scope.split(","))
    untouched = set(inputs.load_tables.values()) - {
        inputs.load_tables.get(load_id) for load_id in new
    }
    return [name for name in declared if name.replace(".", "/", 1) in untouched]


def forget(inputs: BuildInputs | None) -> None:
    """Remove the state file: the warehouse is about to change."""
    if inputs is not None:
        inputs.state_file.unlink(missing_ok=True)


def remember(inputs: BuildInputs) -> None:
    """Record a successful whole-project build of ``inputs`` (written atomically)."""
    stamp = _warehouse_stamp(inputs.warehouse)
    if stamp is None:
        return
    state = {
        "version": STATE_VERSION,
        "fingerprint": inputs.fingerprint,
        "project_fingerprint": inputs.project_fingerprint,
        "bronze_loads": dict(inputs.bronze_loads),
        "warehouse": stamp,
        "bronze_files": inputs.bronze_files,
        "built_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    temporary = inputs.state_file.with_name(inputs.state_file.name + ".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    temporary.replace(inputs.state_file)


# The outcome of the last whole-project `rcm build` of a local warehouse, next to it, for its
# readers (alerts, the dashboard): "running" from the start of a build to its end, then "ok" or
# "failed". A build that stopped half way leaves "running"; a build skipped as up to date, and
# one with --select or --exclude (it rebuilds part of the warehouse), change nothing.
OUTCOME_SUFFIX = ".last-build.json"


@dataclass(frozen=True)
class BuildOutcome:
    state: str  # running, ok or failed
    at: datetime | None
    failed: tuple[str, ...] = ()

    def local_time(self) -> str:
        return "an unknown time" if self.at is None else f"{self.at.astimezone():%Y-%m-%d %H:%M %Z}"


def outcome_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + OUTCOME_SUFFIX)


def record_outcome(warehouse: Path, state: str, failed: Sequence[str] = ()) -> None:
    """Write the last build's ``state`` (running, ok, failed) and its failed nodes, atomically;
    upkeep only: a folder that cannot be written leaves the record as it was."""
    record = {"state": state, "at": datetime.now(UTC).isoformat(), "failed": list(failed)}
    path = outcome_path(warehouse)
    temporary = path.with_name(path.name + ".tmp")
    with contextlib.suppress(OSError):
        temporary.write_text(json.dumps(record), encoding="utf-8")
        temporary.replace(path)


def last_outcome(warehouse: Path) -> BuildOutcome | None:
    """The recorded outcome of the last whole-project build, or None (no record: a warehouse
    built before the record existed, or one never built by `rcm build`)."""
    try:
        record = json.loads(outcome_path(warehouse).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("state") not in ("running", "ok", "failed"):
        return None
    try:
        at: datetime | None = datetime.fromisoformat(str(record.get("at")))
    except ValueError:
        at = None
    failed = tuple(str(name) for name in record.get("failed") or [])
    return BuildOutcome(str(record["state"]), at, failed)


def _messages(warehouse: Path) -> tuple[str, str, str] | None:
    """When the last build did not end OK: the command line's warning (path, failed nodes),
    and for readers of the figures a headline and a sentence (neither); else None."""
    outcome = last_outcome(warehouse)
    if outcome is None or outcome.state == "ok":
        return None
    when = outcome.local_time()
    if outcome.state == "running":
        return (
            f"an `rcm build` of {warehouse} started at {when} has not ended: the figures may be "
            "partly updated (if no build is running, it was stopped: run `rcm build`)",
            "A warehouse build is in progress.",
            f"It started at {when}; figures may change when it ends. If it does not end, ask "
            "the data team: it may have been stopped.",
        )
    failed = outcome.failed
    named = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    return (
        f"the last `rcm build` of {warehouse} ({when}) failed{f' ({named})' if named else ''}: "
        "the figures may be out of date or partly updated; fix the failure and run `rcm build`",
        "The last warehouse build failed.",
        f"It ended at {when}; some figures may be out of date. The data team can see why in "
        "the build's summary.",
    )


def stale_warning(warehouse: Path) -> str | None:
    """For the command line: what a reader of ``warehouse`` should know when its last build
    did not end OK (with the failed nodes), or None."""
    messages = _messages(warehouse)
    return None if messages is None else messages[0]


def reader_notice(warehouse: Path) -> tuple[str, str] | None:
    """For readers of the figures (the dashboard, posted alerts): a headline and a sentence when
    the last build did not end OK, without paths or node names; None when it did."""
    messages = _messages(warehouse)
    return None if messages is None else (messages[1], messages[2])
