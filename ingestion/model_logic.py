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
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORD_NAME = "incremental-logic"
# beside the local warehouse: <warehouse file name><RECORD_SUFFIX>
RECORD_SUFFIX = f".{RECORD_NAME}.json"
RECORD_VERSION = 2
# the settings that decide which rows an incremental run replaces, and a snapshot's
_SETTINGS = (
    "unique_key",
    "incremental_strategy",
    "incremental_predicates",
    "strategy",
    "check_cols",
    "updated_at",
    "hard_deletes",
    "invalidate_hard_deletes",
)
_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_VAR = re.compile(r"\bvar\(\s*['\"]([A-Za-z0-9_]+)['\"]")
# ref('model'), ref('package', 'model'), ref('model', v=2)
_REF = re.compile(r"\bref\(\s*(?:['\"][\w.]+['\"]\s*,\s*)?['\"](\w+)['\"]\s*(?:,[^)]*)?\)")
_DISPATCH = re.compile(r"\bdispatch\(\s*(?:macro_name\s*=\s*)?['\"](\w+)['\"]")
# vars that say where the data is or how the project compiles, not what the models compute
_SETTING_VARS = frozenset(
    {
        "lake_root",
        "bronze_schema",
        "incremental_lookback_days",
        "offline_compile",
        "offline_incremental",
        "replace_scope_by_merge",
    }
)
# a quoted string (kept: '--' or '/*' in it starts no comment), else a comment (dropped)
_COMMENTS = re.compile(
    r"""('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")|\{#.*?#\}|/\*.*?\*/|--[^\n]*""", re.DOTALL
)
_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"\W")


@dataclass(frozen=True)
class LogicCheck:
    """The incremental models whose logic differs from the logic that built their rows."""

    changed: tuple[str, ...]
    record: Path


def record_path(warehouse: Path | None, target_path: Path, target: str | None) -> Path:
    """Where the record lives: beside the local warehouse file, else in dbt's target folder,
    one per target (the engines' builds from one checkout share that folder)."""
    if warehouse is not None:
        return warehouse.with_name(warehouse.name + RECORD_SUFFIX)
    name = target or os.environ.get("RCM_TARGET") or "local"  # the profile's choice
    return target_path / f"{RECORD_NAME}.{name}.json"


def _normalized(code: str) -> str:
    uncommented = _COMMENTS.sub(lambda found: found.group(1) or " ", code)
    return _SPACE.sub(" ", uncommented).strip()


def _dispatch_prefixes(manifest: Any) -> set[str] | None:
    """The macro prefixes dbt's dispatch may pick on the manifest's adapter (its own, its
    parents', default); None when the adapter is unknown (then every prefix counts)."""
    adapter = getattr(getattr(manifest, "metadata", None), "adapter_type", None)
    if not adapter:
        return None
    try:
        from dbt.adapters.factory import get_adapter_type_names

        names = list(get_adapter_type_names(str(adapter)))
    except Exception:  # the adapter's plugin is not loaded in this process
        names = [str(adapter)]
    return {*names, "default"}


class _Project:
    """What the logic of a node is made of, looked up in dbt's parsed manifest by the text of
    the SQL, never by dbt's dependency lists: dbt adds to a model's macros the ones it called
    in the run's mode (a macro called only under ``is_incremental()`` appears after an
    incremental run only), and to its parents the refs in ``-- depends_on:`` comments, which
    order the run without feeding data."""

    def __init__(self, manifest: Any, project: str, variables: Mapping[str, Any]) -> None:
        self.manifest = manifest
        self.variables = variables
        # the project's macros by name; a dispatched one (duckdb__x, default__x) also under x
        # when dispatch may pick it on this adapter (a Synapse variant is no DuckDB logic)
        prefixes = _dispatch_prefixes(manifest)
        self.macros: dict[str, list[str]] = {}
        for macro_id, macro in manifest.macros.items():
            if getattr(macro, "package_name", project) != project:
                continue
            name = str(macro.name)
            self.macros.setdefault(name, []).append(macro_id)
            prefix, dispatched, base = name.partition("__")
            if dispatched and (prefixes is None or prefix in prefixes):
                self.macros.setdefault(base, []).append(macro_id)
        self.by_name = {str(node.name): uid for uid, node in manifest.nodes.items()}

    def macros_used(self, text: str, config: Mapping[str, Any]) -> list[str]:
        """The project macros ``text`` calls, the ones named in ``config`` (a scope macro, the
        incremental strategy's macro), and the ones those call, as macro ids, sorted."""
        names = {*_CALL.findall(text), *_DISPATCH.findall(text)}
        names |= {str(value) for value in config.values() if isinstance(value, str)}
        strategy = config.get("incremental_strategy")
        if strategy:  # dbt's name for it: delete+insert -> get_incremental_delete_insert_sql
            names.add("get_incremental_" + _NON_WORD.sub("_", str(strategy)) + "_sql")
        found: set[str] = set()
        pending = [m for name in names for m in self.macros.get(name, ())]
        while pending:
            macro_id = pending.pop()
            if macro_id in found:
                continue
            found.add(macro_id)
            body = _normalized(self.manifest.macros[macro_id].macro_sql)
            called = {*_CALL.findall(body), *_DISPATCH.findall(body)}
            pending += [m for name in called for m in self.macros.get(name, ())]
        return sorted(found)

    def own_logic(self, node: Any) -> tuple[str, list[str]]:
        """A node's own logic as a hash (its SQL, a seed's file checksum; the project macros it
        uses, directly or not; its incremental settings; the vars they read), and the nodes
        whose data it reads (its refs, outside comments)."""
        if str(node.resource_type) == "seed":
            types = json.dumps(node.config.get("column_types"), sort_keys=True, default=str)
            return f"seed {node.checksum.checksum} {types}", []
        code = _normalized(node.raw_code)
        config = {
            key: value
            for key, value in (getattr(node.config, "_extra", None) or {}).items()
            if isinstance(value, str)
        }
        config.update({name: node.config.get(name) for name in _SETTINGS})
        macros = self.macros_used(code, config)
        digest = hashlib.sha256(f"v{RECORD_VERSION}\0{code}".encode())
        texts = [code]
        for macro_id in macros:
            body = _normalized(self.manifest.macros[macro_id].macro_sql)
            texts.append(body)
            digest.update(f"\0{macro_id}\0{body}".encode())
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
        read = sorted({name for text in texts for name in _VAR.findall(text)} - _SETTING_VARS)
        values = {name: self.variables.get(name) for name in read}
        digest.update(json.dumps(values, sort_keys=True, default=str).encode())
        refs = {name for text in texts for name in _REF.findall(text)}
        parents = sorted(self.by_name[name] for name in refs if name in self.by_name)
        return digest.hexdigest(), parents


def _is_incremental(node: Any) -> bool:
    return str(node.resource_type) == "model" and node.config.materialized == "incremental"


def logic_versions(
    manifest: Any, project: str, variables: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """A hash of the logic behind each incremental model's rows, by model name: its own logic
    and that of every model, snapshot and seed it reads, directly or not. ``variables``: the
    project's vars as the build saw them."""
    lookup = _Project(manifest, project, variables or {})
    memo: dict[str, str] = {}

    def logic(unique_id: str) -> str:
        if unique_id not in memo:
            memo[unique_id] = ""  # a cycle (none in a dbt DAG) ends here
            own, parents = lookup.own_logic(manifest.nodes[unique_id])
            digest = hashlib.sha256(own.encode())
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
            # a seed's depends_on lists macros only
            for parent in getattr(manifest.nodes[unique_id].depends_on, "nodes", ()):
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
    current: Mapping[str, str],
    built: Iterable[str],
    *,
    full_refresh: bool,
    record: Path,
    new_warehouse: bool = False,
) -> LogicCheck:
    """Update the record after a build and name the models whose logic differs from it.

    ``current`` is :func:`logic_versions` of the project; ``built`` the models this build ran
    with success. A built model takes its current logic into the record when the build was a
    full refresh or the record has no entry for it (its first build, or a warehouse built
    before this record existed). Models no longer in the project leave the record. A build
    into a ``new_warehouse`` (none before it) starts a new record.
    """
    recorded = {} if new_warehouse else _load(record)
    updated = {name: value for name, value in recorded.items() if name in current}
    for name in built:
        if name in current and (full_refresh or name not in updated):
            updated[name] = current[name]
    changed = tuple(sorted(name for name, value in updated.items() if current[name] != value))
    if updated != recorded or (new_warehouse and record.exists()):
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
