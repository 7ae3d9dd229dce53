"""An analyst edits the SQL of an incremental model, or of a macro or model it reads: the rows
it held keep what the old SQL made, so `rcm build` names the model and the full refresh that
rebuilds it, until that refresh runs. An edit of comments or white space is not a change.

A small real project (tests/pipeline/small_project.py): a view, an incremental model reading it
whose logic is in a project macro (as several of the project's are), and a table reading that.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ingestion import model_logic
from tests.pipeline.small_project import build, make_project

# the view reads a seed, as the project's models do (a seed's dependencies are macros only)
STAGE = "select 1 as visit_id from {{ ref('visit_codes') }}\n"
SEED = "code\nA\n"
# its macro visit_since is called only by an incremental run: dbt lists it among the model's
# macros after such a run only, which must not read as an edit
MODEL = (
    "{{ config(materialized='incremental') }}\n"
    "select visit_id, {{ visit_year() }} as visit_year from {{ ref('stg_visits') }}\n"
    "{% if is_incremental() %}where visit_id > {{ visit_since() }}{% endif %}\n"
)
MACRO = (
    "{% macro visit_year() %}{{ return(YEAR) }}{% endmacro %}\n"
    "{% macro visit_since() %}{{ return(0) }}{% endmacro %}\n"
)
READER = "{{ config(materialized='table') }}\nselect * from {{ ref('int_visits') }}\n"
FLAGGED = "CHANGED  incremental model(s) int_visits: the SQL behind their rows changed"
FIX = "`rcm build --full-refresh --select int_visits+`"


def test_an_edited_incremental_model_is_named_until_rebuilt_in_full(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        {"stg_visits.sql": STAGE, "int_visits.sql": MODEL, "rpt_visits.sql": READER},
        {"visit_year.sql": MACRO.replace("YEAR", "2024")},
        {"visit_codes.csv": SEED},
    )
    code, out = build(tmp_path)
    assert code == 0, out
    assert "CHANGED" not in out, out
    record = tmp_path / "target" / f"{model_logic.RECORD_NAME}.other.json"  # target other
    assert set(json.loads(record.read_text())["models"]) == {"int_visits"}

    # comments and white space only: not a change
    (tmp_path / "models" / "int_visits.sql").write_text(
        "-- the visits\n" + MODEL.replace("select ", "select\n    ") + "{# checked #}\n"
    )
    code, out = build(tmp_path)
    assert code == 0 and "CHANGED" not in out, out

    # the macro it calls changes what it computes
    (tmp_path / "macros" / "visit_year.sql").write_text(MACRO.replace("YEAR", "2025"))
    for _ in range(2):  # named at every build, not only the first after the edit
        code, out = build(tmp_path)
        assert code == 0, out
        assert FLAGGED in out and FIX in out, out

    assert build(tmp_path, "int_visits+")[0] == 0  # the full refresh it names
    code, out = build(tmp_path)
    assert code == 0 and "CHANGED" not in out, out

    # the view it reads changes
    (tmp_path / "models" / "stg_visits.sql").write_text(STAGE.replace("1", "2"))
    code, out = build(tmp_path)
    assert code == 0, out
    assert FLAGGED in out and FIX in out, out


def test_the_record_takes_new_models_and_full_refreshes_and_drops_removed_ones(
    tmp_path: Path,
) -> None:
    record = tmp_path / "logic.json"
    first = model_logic.check({"a": "1", "b": "1"}, ["a", "b"], full_refresh=False, record=record)
    assert first.changed == ()
    # b edited and built incrementally; c new (its first build); a removed from the project
    second = model_logic.check({"b": "2", "c": "1"}, ["b", "c"], full_refresh=False, record=record)
    assert second.changed == ("b",)
    assert json.loads(record.read_text())["models"] == {"b": "1", "c": "1"}
    # a full refresh that did not run b leaves it named
    third = model_logic.check({"b": "2", "c": "1"}, ["c"], full_refresh=True, record=record)
    assert third.changed == ("b",)
    assert model_logic.check({"b": "2", "c": "1"}, ["b"], full_refresh=True, record=record) == (
        model_logic.LogicCheck((), record)
    )


def _node(
    name: str, sql: str, parents: list[str], extra: dict[str, str] | None = None, **config: object
) -> Any:
    settings = {"materialized": "table", **config}
    return SimpleNamespace(
        resource_type="model",
        name=name,
        raw_code=sql,
        depends_on=SimpleNamespace(nodes=parents),
        config=SimpleNamespace(
            materialized=settings["materialized"], get=settings.get, _extra=extra or {}
        ),
    )


def _macro(name: str, sql: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, package_name="p", macro_sql=sql)


def _manifest(
    inner: str = "1", stage: str = "select 1", unique_key: str = "id", order_only: str = "t"
) -> Any:
    """A stand-in for dbt's parsed manifest, with only the attributes model_logic reads: view
    s <- incremental a (calling macro outer, which calls inner, dispatched; reading var v)
    <- incremental b <- table r; a runs after ``order_only`` (a `-- depends_on:` comment)."""
    incremental = {"materialized": "incremental", "unique_key": unique_key}
    a_sql = (
        f"-- depends_on: {{{{ ref('{order_only}') }}}}\n"
        "select {{ outer() }}, {{ var('v') }} from {{ ref('s') }}"
    )
    return SimpleNamespace(
        nodes={
            "model.p.s": _node("s", stage + " from {{ ref('codes') }}", ["seed.p.codes"]),
            # a seed's depends_on has no nodes (dbt's MacroDependsOn)
            "seed.p.codes": SimpleNamespace(
                resource_type="seed",
                name="codes",
                checksum=SimpleNamespace(checksum="c1"),
                depends_on=SimpleNamespace(macros=[]),
                config=SimpleNamespace(materialized="seed", get={}.get),
            ),
            "model.p.a": _node("a", a_sql, ["model.p.s", f"model.p.{order_only}"], **incremental),
            "model.p.b": _node("b", "select * from {{ ref('a') }}", ["model.p.a"], **incremental),
            "model.p.r": _node("r", "select * from {{ ref('b') }}", ["model.p.b"]),
            "model.p.t": _node("t", "select 1", []),
            "model.p.u": _node("u", "select 2", []),
        },
        macros={
            "macro.p.outer": _macro("outer", "{{ inner() }} {{ dbt.x() }}"),
            "macro.p.default__inner": _macro("default__inner", inner),
        },
    )


def test_the_logic_covers_macros_called_by_macros_settings_vars_and_what_a_model_reads() -> None:
    def versions(manifest: Any, v: int = 1) -> dict[str, str]:
        return model_logic.logic_versions(manifest, "p", {"v": v})

    base = versions(_manifest())
    assert set(base) == {"a", "b"}  # the incremental models only
    assert base == versions(_manifest(inner="  1 /* one */ "))
    # a model it only runs after (a comment) is not what it reads
    assert base == versions(_manifest(order_only="u"))
    for edited in (versions(_manifest(inner="2")), versions(_manifest(stage="select 2"))):
        assert edited.keys() == base.keys()
        assert all(v != base[k] for k, v in edited.items())
    for changed in (versions(_manifest(unique_key="other_id")), versions(_manifest(), v=2)):
        assert changed["a"] != base["a"] and changed["b"] != base["b"]
    # rebuilding a and what reads it rebuilds b too
    assert model_logic.first_of(_manifest(), ["a", "b"]) == ("a",)
    assert model_logic.first_of(_manifest(), ["b"]) == ("b",)


def _scoped(**bodies: str) -> Any:
    """A stand-in manifest on DuckDB: incremental model a, its scope macro named in its config,
    its strategy's macro, a macro dispatched per adapter, and view s, which a reads after a
    `'--'` in a string."""
    macros = {
        "scope_m": "1",
        "get_incremental_replace_scope_sql": "2",
        "duckdb__helper": "3",
        "synapse__helper": "4",
    } | bodies
    a_sql = "select '--', {{ helper() }}, {{ var('lake_root') }} from {{ ref('s') }}"
    incremental = {"materialized": "incremental", "incremental_strategy": "replace_scope"}
    return SimpleNamespace(
        metadata=SimpleNamespace(adapter_type="duckdb"),
        nodes={
            "model.p.s": _node("s", bodies.get("s", "select 1"), []),
            "model.p.a": _node(
                "a", a_sql, ["model.p.s"], {"replace_scope_macro": "scope_m"}, **incremental
            ),
        },
        macros={f"macro.p.{name}": _macro(name, body) for name, body in macros.items()},
    )


def test_the_logic_covers_config_named_macros_and_this_adapters_dispatch_only() -> None:
    def version(manifest: Any, lake_root: str = "lake") -> str:
        return model_logic.logic_versions(manifest, "p", {"lake_root": lake_root})["a"]

    base = version(_scoped())
    for edit in ("scope_m", "get_incremental_replace_scope_sql", "duckdb__helper", "s"):
        assert version(_scoped(**{edit: "select 9"})) != base, edit
    # another engine's variant, and where the data is, are not this warehouse's logic
    assert version(_scoped(synapse__helper="9")) == base
    assert version(_scoped(), lake_root="abfss://lake") == base


def test_a_new_warehouse_or_a_record_of_another_version_starts_a_new_record(
    tmp_path: Path,
) -> None:
    record = tmp_path / "logic.json"
    model_logic.check({"a": "1"}, ["a"], full_refresh=False, record=record)
    # the warehouse was removed and is built from nothing: its tables are new
    fresh = model_logic.check(
        {"a": "2"}, ["a"], full_refresh=False, record=record, new_warehouse=True
    )
    assert fresh.changed == ()
    assert json.loads(record.read_text())["models"] == {"a": "2"}
    # a record another version of the check wrote hashed otherwise: not compared
    record.write_text(json.dumps({"version": model_logic.RECORD_VERSION - 1, "models": {"a": "1"}}))
    assert model_logic.check({"a": "2"}, ["a"], full_refresh=False, record=record).changed == ()
