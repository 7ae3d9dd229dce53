"""PHI guard: no PHI column may reach a schema outside the restricted / internal layers.

Two checks, both fed by what dbt itself knows:
- the manifest: a model, snapshot or seed column tagged ``meta: {phi: true}`` must live in an
  allowed schema, no node outside those schemas may declare a column whose name is a PHI
  column's name anywhere in the project, and none may read a node of the restricted schema,
  directly or through models of the internal layers (a PHI column renamed on the way,
  ``last_name as surname``, has no PHI name to catch; the failure names the path);
- the built warehouse: no column of a relation outside the allowed schemas may carry a PHI
  column's name (this catches columns that were never documented), nor hold one of the
  patients' identifying values (an SSN, phone number or street address of the restricted
  PHI mart): PHI under another name (``ssn as member_ref`` in a CDM model, which a mart passes
  on) has neither a PHI name nor a read of the restricted schema to give it away. Names and
  dates are not compared by value: they recur in other data (a provider shares a patient's
  last name, a service date a birth date); a renamed name column is caught only by review.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from ingestion.phi import INTERNAL_SCHEMAS, column_is_phi

# Schemas where PHI may live: the restricted mart and the internal layers no consumer reads.
ALLOWED_PHI_SCHEMAS = frozenset({"restricted"}) | INTERNAL_SCHEMAS
# The schema of the PHI marts: only PHI roles read it, and no unrestricted node may read from it.
RESTRICTED_SCHEMA = "restricted"
CHECKED_RESOURCE_TYPES = frozenset({"model", "snapshot", "seed"})
# The restricted mart's columns whose values identify a patient alone and do not recur by
# chance elsewhere (measured at scale 1: no value of them in any other schema's text column).
PHI_MART = "restricted.dim_patient_phi"
IDENTIFYING_COLUMNS = ("ssn", "phone_number", "address")


def load_manifest(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def phi_column_names(manifest: dict[str, Any]) -> set[str]:
    """Lower-case names of every column tagged PHI in models, snapshots, seeds and sources."""
    names: set[str] = set()
    nodes: Iterable[dict[str, Any]] = [
        *manifest.get("nodes", {}).values(),
        *manifest.get("sources", {}).values(),
    ]
    for node in nodes:
        for name, column in (node.get("columns") or {}).items():
            if column_is_phi(column):
                names.add(str(name).lower())
    return names


def restricted_reads(nodes: dict[str, Any], unique_id: str) -> list[list[str]]:
    """The shortest path (`unique_id` first, a restricted node last) to each restricted node
    that `unique_id` reads, directly or through the internal layers: a mart that reads a CDM
    model built from a PHI mart reads the PHI mart too. The walk stops at a restricted node
    (what it reads stays inside) and at an unrestricted one (which the guard checks itself,
    so each crossing of the boundary is named once, where it happens)."""
    paths: list[list[str]] = []
    seen = {unique_id}
    queue = [[unique_id]]
    while queue:
        path = queue.pop(0)
        for parent in (nodes.get(path[-1], {}).get("depends_on") or {}).get("nodes") or []:
            if parent in seen or parent not in nodes:
                continue
            seen.add(parent)
            schema = str(nodes[parent].get("schema", "")).lower()
            if schema == RESTRICTED_SCHEMA:
                paths.append([*path, parent])
            elif schema in INTERNAL_SCHEMAS:
                queue.append([*path, parent])
    return paths


def manifest_violations(manifest: dict[str, Any]) -> list[str]:
    phi_names = phi_column_names(manifest)
    nodes = manifest.get("nodes", {})
    problems: list[str] = []
    for unique_id, node in nodes.items():
        if node.get("resource_type") not in CHECKED_RESOURCE_TYPES:
            continue
        schema = str(node.get("schema", "")).lower()
        if schema in ALLOWED_PHI_SCHEMAS:
            continue
        for path in restricted_reads(nodes, unique_id):
            through = "".join(
                f"{' through' if step == 1 else ','} {path[step]} "
                f"(schema {nodes[path[step]].get('schema')})"
                for step in range(1, len(path) - 1)
            )
            problems.append(
                f"{unique_id} (schema {schema}) reads {path[-1]} of schema "
                f"{RESTRICTED_SCHEMA}{through}: only restricted nodes may read PHI marts"
            )
        for name, column in (node.get("columns") or {}).items():
            if column_is_phi(column):
                problems.append(f"{unique_id}: column {name} is tagged PHI in schema {schema}")
            elif str(name).lower() in phi_names:
                problems.append(f"{unique_id}: column {name} has a PHI name in schema {schema}")
    return problems


def warehouse_violations(database: Path, phi_names: set[str]) -> list[str]:
    allowed = ", ".join(f"'{schema}'" for schema in sorted(ALLOWED_PHI_SCHEMAS))
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            f"where lower(table_schema) not in ({allowed}) "
            "and table_catalog = current_database()"
        ).fetchall()
    return [
        f"{schema}.{table}.{column}: PHI column outside the restricted schemas"
        for schema, table, column in rows
        if str(column).lower() in phi_names
    ]


def value_violations(database: Path) -> list[str]:
    """Text columns outside the allowed schemas holding identifying values of the PHI mart."""
    allowed = ", ".join(f"'{schema}'" for schema in sorted(ALLOWED_PHI_SCHEMAS))
    phi_values = " union all ".join(
        f"select '{column}' as phi_column, cast({column} as varchar) as phi_value "
        f"from {PHI_MART} where {column} is not null"
        for column in IDENTIFYING_COLUMNS
    )
    problems = []
    with duckdb.connect(str(database), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            f"where lower(table_schema) not in ({allowed}) "
            "and table_catalog = current_database() and data_type = 'VARCHAR' "
            "order by table_schema, table_name, column_name"
        ).fetchall()
        for schema, table, column in columns:
            found = con.execute(
                f"with phi as ({phi_values}), "
                f'held as (select distinct "{column}" as phi_value from "{schema}"."{table}") '
                "select phi.phi_column, count(distinct held.phi_value) from held "
                "inner join phi on held.phi_value = phi.phi_value "
                "group by phi.phi_column order by phi.phi_column"
            ).fetchall()
            problems += [
                f"{schema}.{table}.{column}: holds {count} {phi_column} value(s) of {PHI_MART}: "
                "PHI outside the restricted schemas"
                for phi_column, count in found
            ]
    return problems


def find_phi_violations(manifest_path: Path, database: Path) -> list[str]:
    manifest = load_manifest(manifest_path)
    return (
        manifest_violations(manifest)
        + warehouse_violations(database, phi_column_names(manifest))
        + value_violations(database)
    )
