"""Name the incremental models whose logic changed after their rows were built.

An incremental model keeps the rows that earlier builds made. After an edit to its SQL, to a
project macro it calls, to its incremental settings or to a model or seed it reads, `rcm build`
adds the new rows by the new logic, but the rows it held keep what the old logic made, until
the model is rebuilt in full. Nothing in dbt says so.

After each build, :func:`check` compares the logic behind each incremental model's rows with
the record of the logic that built them, and names the models that differ. The record is a
JSON file: next to the local warehouse, or in dbt's target folder for another target. A model's
record changes only when its rows are all rebuilt by the logic it has now: a full refresh that
ran it, or its first build. Comments and white space do not count as an edit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORD_NAME = "incremental-logic.json"
RECORD_VERSION = 1
# the settings that decide which rows an incremental run replaces
_SETTINGS = ("unique_key", "incremental_strategy", "incremental_predicates")
_COMMENTS = re.compile(r"\{#.*?#\}|/\*.*?\*/|--[^\n]*", re.DOTALL)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class LogicCheck:
    """The incremental models whose logic differs from the logic that built their rows."""

    changed: tuple[str, ...]
    record: Path


def record_path(warehouse: Path | None, target_path: Path) -> Path:
    """Where the record lives: beside the local warehouse file, else in dbt's target folder."""
    if warehouse is not None:
        return warehouse.with_name(f"{warehouse.name}.{RECORD_NAME}")
    return target_path / RECORD_NAME


def _normalized(code: str) -> str:
    return _SPACE.sub(" ", _COMMENTS.sub(" ", code)).strip()


def _project_macros(manifest: Any, macro_ids: Iterable[str], project: str) -> list[str]:
    """The project's own macros among ``macro_ids`` and the macros they call, sorted."""
    found: set[str] = set()
    pending = [m for m in macro_ids if m.startswith(f"macro.{project}.")]
    while pending:
        macro_id = pending.pop()
        if macro_id in found or macro_id not in manifest.macros:
            continue
        found.add(macro_id)
        calls = manifest.macros[macro_id].depends_on.macros
        pending += [m for m in calls if m.startswith(f"macro.{project}.")]
    return sorted(found)


def _own_logic(manifest: Any, node: Any, project: str) -> str:
    """A node's own logic: its SQL (a seed: its file's checksum), the project macros it calls
    (directly or not) and its incremental settings, without comments and white space."""
    if str(node.resource_type) == "seed":
        return f"seed {node.checksum.checksum}"
    digest = hashlib.sha256(_normalized(node.raw_code).encode())
    for macro_id in _project_macros(manifest, node.depends_on.macros, project):
        macro_sql = _normalized(manifest.macros[macro_id].macro_sql)
        digest.update(f"\0{macro_id}\0{macro_sql}".encode())
    settings = {name: node.config.get(name) for name in _SETTINGS}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _is_incremental(node: Any) -> bool:
    return str(node.resource_type) == "model" and node.config.materialized == "incremental"


def logic_versions(manifest: Any, project: str) -> dict[str, str]:
    """A hash of the logic behind each incremental model's rows, by model name: its own logic
    and that of every model, snapshot and seed it reads, directly or not."""
    memo: dict[str, str] = {}

    def logic(unique_id: str) -> str:
        if unique_id not in memo:
            node = manifest.nodes[unique_id]
            parents = sorted(p for p in node.depends_on.nodes if p in manifest.nodes)
            digest = hashlib.sha256(_own_logic(manifest, node, project).encode())
            for parent in parents:
                digest.update(f"\0{parent}\0{logic(parent)}".encode())
            memo[unique_id] = digest.hexdigest()
        return memo[unique_id]

    return {
        str(node.name): logic(unique_id)
        for unique_id, node in manifest.nodes.items()
        if _is_incremental(node)
    }


def first_of(manifest: Any, changed: Iterable[str]) -> tuple[str, ...]:
    """The models of ``changed`` that read none of the others: rebuilding each with what reads
    it (`<model>+`) rebuilds them all."""
    names = set(changed)
    by_name = {str(n.name): uid for uid, n in manifest.nodes.items() if str(n.name) in names}
    ancestors: dict[str, set[str]] = {}

    def above(unique_id: str) -> set[str]:
        if unique_id not in ancestors:
            ancestors[unique_id] = set()
            for parent in manifest.nodes[unique_id].depends_on.nodes:
                if parent in manifest.nodes:
                    ancestors[unique_id] |= {parent, *above(parent)}
        return ancestors[unique_id]

    ids = set(by_name.values())
    return tuple(sorted(name for name, uid in by_name.items() if not above(uid) & ids))


def _load(path: Path) -> dict[str, str]:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict) or stored.get("version") != RECORD_VERSION:
        return {}
    models = stored.get("models")
    return {str(k): str(v) for k, v in models.items()} if isinstance(models, dict) else {}


def _save(path: Path, models: Mapping[str, str]) -> None:
    body = {"version": RECORD_VERSION, "models": dict(sorted(models.items()))}
    temporary = path.with_name(path.name + ".tmp")
    temporary.parent.mkdir(parents=True, exist_ok=True)
    temporary.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def check(
    current: Mapping[str, str], built: Iterable[str], *, full_refresh: bool, record: Path
) -> LogicCheck:
    """Update the record after a build and name the models whose logic differs from it.

    ``current`` is :func:`logic_versions` of the project; ``built`` the models this build ran
    with success. A built model takes its current logic into the record when the build was a
    full refresh or the record has no entry for it (its first build, or a warehouse built
    before this record existed). Models no longer in the project leave the record.
    """
    recorded = _load(record)
    updated = {name: value for name, value in recorded.items() if name in current}
    for name in built:
        if name in current and (full_refresh or name not in updated):
            updated[name] = current[name]
    changed = tuple(sorted(name for name, value in updated.items() if current[name] != value))
    if updated != recorded:
        _save(record, updated)
    return LogicCheck(changed, record)


def advice(changed: Iterable[str], first: Iterable[str]) -> str:
    """What happened to ``changed`` and what to run: rebuild ``first`` (see :func:`first_of`)
    and what reads them."""
    selection = " ".join(f"{name}+" for name in first)
    return (
        f"incremental model(s) {', '.join(changed)}: the SQL behind their rows changed (theirs, "
        "or that of a model, seed or macro they read) after the rows were built, and the rows "
        f"built before keep what the old SQL made; run `rcm build --full-refresh --select "
        f"{selection}` to rebuild them and what reads them"
    )
