"""Docs guard: every model says what it is, column by column, as the README's "Adding a source
or a model" asks (a description that states the grain, every column described).

Fed by what dbt knows and what the build made:
- the manifest: a model without a description, or with a column without one;
- the built warehouse: a column of a model's relation that its YAML does not list (it reaches
  Power BI and the lineage site undescribed), and a column its YAML lists that the relation
  does not have (a typo, or a column since renamed or dropped).
Snapshots and seeds are left out: dbt adds the snapshots' columns, and the seed is a code list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb


def load_manifest(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        unique_id: node
        for unique_id, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") == "model"
    }


def manifest_gaps(manifest: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for unique_id, node in _models(manifest).items():
        where = node.get("original_file_path", "")
        if not str(node.get("description") or "").strip():
            problems.append(f"{unique_id} ({where}): no description in the folder's YAML")
        for name, column in (node.get("columns") or {}).items():
            if not str(column.get("description") or "").strip():
                problems.append(f"{unique_id}: column {name} has no description")
    return problems


def warehouse_gaps(manifest: dict[str, Any], database: Path) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = current_database()"
        ).fetchall()
    built: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in rows:
        built.setdefault((str(schema).lower(), str(table).lower()), set()).add(str(column).lower())
    problems: list[str] = []
    for unique_id, node in _models(manifest).items():
        relation = (str(node["schema"]).lower(), str(node.get("alias") or node["name"]).lower())
        actual = built.get(relation)
        if actual is None:
            continue  # not built (disabled, ephemeral): nothing to compare
        listed = {str(name).lower() for name in node.get("columns") or {}}
        name = ".".join(relation)
        problems += [
            f"{unique_id}: column {column} of {name} is not in the model's YAML"
            for column in sorted(actual - listed)
        ]
        problems += [
            f"{unique_id}: the YAML lists column {column}, which {name} does not have"
            for column in sorted(listed - actual)
        ]
    return problems


def find_documentation_gaps(manifest_path: Path, database: Path) -> list[str]:
    manifest = load_manifest(manifest_path)
    return manifest_gaps(manifest) + warehouse_gaps(manifest, database)
