"""Which incremental models a project edit left with rows of the old SQL.

An incremental run reads only the rows its upstream wrote since its last run: after a model's
SQL (or a macro it calls) changes, rows written before keep what the old SQL computed, and
`rcm build` still ends OK. Comparing the manifest the previous dbt run left in the target
folder with the new one names the models whose SQL changed and the incremental models built
from them, so the summary can say which full refresh re-derives those rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _macro_sql(manifest: Mapping[str, Any], roots: list[str]) -> list[str]:
    macros = manifest.get("macros") or {}
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen or name not in macros:
            continue
        seen.add(name)
        pending += (macros[name].get("depends_on") or {}).get("macros") or []
    return [str(macros[name].get("macro_sql") or "") for name in sorted(seen)]


def _fingerprints(manifest: Mapping[str, Any]) -> dict[str, str]:
    """By model unique id: a hash of its SQL file and of every macro it calls, directly or not."""
    found: dict[str, str] = {}
    for unique_id, node in (manifest.get("nodes") or {}).items():
        if node.get("resource_type") != "model":
            continue
        digest = hashlib.sha256(str((node.get("checksum") or {}).get("checksum")).encode())
        for sql in _macro_sql(manifest, (node.get("depends_on") or {}).get("macros") or []):
            digest.update(b"\0" + sql.encode())
        found[str(unique_id)] = digest.hexdigest()
    return found


def stale_incremental(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of the models whose SQL changed between the two manifests, and of the
    incremental models that are one of them or read one of them (through any number of
    models): those hold rows of the old SQL. A model new in ``after`` is neither."""
    old, new = _fingerprints(before), _fingerprints(after)
    nodes = after.get("nodes") or {}
    changed = {uid for uid, digest in new.items() if uid in old and old[uid] != digest}
    if not changed:
        return (), ()
    reached = set(changed)
    growing = True
    while growing:
        growing = False
        for uid in new:
            parents = (nodes[uid].get("depends_on") or {}).get("nodes") or []
            if uid not in reached and reached.intersection(parents):
                reached.add(uid)
                growing = True
    incremental = {
        uid
        for uid in reached
        if uid in old and (nodes[uid].get("config") or {}).get("materialized") == "incremental"
    }
    if not incremental:
        return (), ()

    def names(uids: set[str]) -> tuple[str, ...]:
        return tuple(sorted(str(nodes[uid].get("name")) for uid in uids))

    return names(changed), names(incremental)
