"""Which columns hold PHI: those tagged ``meta: {phi: true}`` (or with the tag ``phi``) in the
dbt project's YAML, as dbt's manifest records them. The PHI guard (tests/dbt/phi_guard.py)
keeps them out of the unrestricted schemas; `rcm build`'s summary shows no row of a test that
reads a model holding them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def column_is_phi(column: Mapping[str, Any]) -> bool:
    """Whether a manifest column entry is tagged PHI (its meta, its config's meta, its tags)."""
    meta = dict(column.get("meta") or {})
    meta.update((column.get("config") or {}).get("meta") or {})
    return bool(meta.get("phi")) or "phi" in (column.get("tags") or [])


# The internal layers: their PHI columns are tagged where they are, and a column there may share
# a PHI column's name without being one (a provider's first_name).
INTERNAL_SCHEMAS = frozenset({"staging", "cdm", "quarantine", "snapshots"})


def nodes_with_phi(manifest: Mapping[str, Any]) -> set[str]:
    """The unique ids of the manifest's nodes and sources with a column tagged PHI, and of the
    nodes outside the internal layers with a column named as one (a new mart's ``birth_date``
    that its YAML does not tag: the PHI guard fails on it, but only in `make test`)."""
    nodes = {**(manifest.get("nodes") or {}), **(manifest.get("sources") or {})}
    names = {
        str(name).lower()
        for node in nodes.values()
        for name, column in (node.get("columns") or {}).items()
        if column_is_phi(column)
    }
    return {
        str(unique_id)
        for unique_id, node in nodes.items()
        if any(
            column_is_phi(column)
            or (
                str(name).lower() in names
                and str(node.get("schema", "")).lower() not in INTERNAL_SCHEMAS
            )
            for name, column in (node.get("columns") or {}).items()
        )
    }
