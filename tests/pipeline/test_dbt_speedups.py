"""The shortcuts `rcm build` takes around dbt's per-node Python (ingestion/dbt_speedups.py).

- Jinja code kept between runs: a second run renders from the stored code (shown by storing
  different code under a template's key), a changed template is compiled afresh, a syntax error
  is still raised and never stored, a damaged or other-version file is ignored, and an
  environment other than dbt's (whose filters may differ) is not served from the file.
- JSON schemas kept between runs: the first run keeps the schema dbt builds, a second run is
  served from the file (shown the same way), a class whose module file changed gets its
  schema built again, and a schema holding a str subclass (a test's severity) is kept.
- Debug events: dropped only while no logger writes debug and no callback other than dbt's
  own listens; a logger at debug level (its own or its Python logger's), or a callback, still
  receives every one. A dropped debug event never builds its protobuf message; one changed
  before it is fired is logged as changed; events of other levels are built at once.
- Macro namespaces: the quick builder and the flat copy give every name the macro that dbt's
  own builder and search give it (a project that overrides one of dbt's macros); a build renders
  the root project's override, and dbt's own stays reachable as `dbt.<name>`.
- Type testers: a shared one gives query results the types and values a new one gives.
- manifest.json: inside `manifest_written_once`, dbt's parse writes none and a build writes it
  at its end with the compiled SQL; outside, parse writes it as usual (a one-model project).
- Garbage collector: off inside `collector_paused`, as it was after; a build run with it off
  lets go of the warehouse file, which another configuration can then open.

Real dbt and Jinja objects throughout: dbt's own template environment and event manager, with
loggers writing to in-memory streams.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import logging
import marshal
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pytest
from dbt.adapters.events.types import SQLQuery
from dbt_common.clients.jinja import get_template
from dbt_common.events.base_types import EventLevel
from dbt_common.events.event_manager import EventManager
from dbt_common.events.logger import LoggerConfig
from dbt_common.events.types import Note
from dbt_common.exceptions import CompilationError

from ingestion import dbt_speedups
from ingestion.dbt_speedups import JINJA_CACHE_FILE


@pytest.fixture
def cache_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    dbt_speedups.save_jinja_code_cache()  # a failed test leaves no cache serving the next one


def _render(source: str, **values: Any) -> str:
    """Render ``source`` the way dbt renders a node's SQL (its sandboxed text environment)."""
    return str(get_template(source, {}).render(values))


def _run(cache_dir: Path, source: str, **values: Any) -> str:
    """One `rcm build`'s worth: serve from the cache, render, keep the cache."""
    assert dbt_speedups.use_jinja_code_cache(cache_dir) is not None
    try:
        return _render(source, **values)
    finally:
        dbt_speedups.save_jinja_code_cache()


def _stored(cache_dir: Path) -> dict[str, Any]:
    stored = marshal.loads((cache_dir / JINJA_CACHE_FILE).read_bytes())
    assert isinstance(stored, dict)
    return stored


def test_a_second_run_renders_from_the_stored_code(cache_dir: Path) -> None:
    template = "select {{ column }} from claims where paid > {{ 10 * 10 }}"
    assert (
        _run(cache_dir, template, column="claim_id")
        == "select claim_id from claims where paid > 100"
    )
    stored = _stored(cache_dir)
    assert stored["code"], "the first run kept the compiled code"

    # put other code under the template's key: a run that renders it shows it came from the file
    other = jinja2.Environment().compile("served from the file: {{ column }}")
    stored["code"] = {key: other for key in stored["code"]}
    (cache_dir / JINJA_CACHE_FILE).write_bytes(marshal.dumps(stored))
    assert _run(cache_dir, template, column="claim_id") == "served from the file: claim_id"

    # a template that changed is compiled from its new source
    changed = "select {{ column }} from claims where paid > {{ 10 * 20 }}"
    assert (
        _run(cache_dir, changed, column="claim_id")
        == "select claim_id from claims where paid > 200"
    )


def _schema_run(cache_dir: Path, cls: Any) -> Any:
    """One `rcm build`'s worth of a class's JSON schema: serve from the cache, keep the cache."""
    assert dbt_speedups.use_jinja_code_cache(cache_dir) is not None
    try:
        return cls.json_schema()
    finally:
        dbt_speedups.save_jinja_code_cache()


def test_a_second_run_reads_dbts_json_schema_from_the_file(cache_dir: Path) -> None:
    from dbt.contracts.project import ProjectFlags

    first = _schema_run(cache_dir, ProjectFlags)
    built_by_dbt = ProjectFlags.json_schema.__func__.rcm_original(ProjectFlags)  # type: ignore[attr-defined]
    assert first == built_by_dbt
    assert first["properties"]["send_anonymous_usage_stats"]["type"] == "boolean"
    stored = _stored(cache_dir)
    [key] = [
        key for key in stored["schemas"] if key.startswith("dbt.contracts.project.ProjectFlags:")
    ]

    stored["schemas"][key] = '{"served": "from the file"}'
    (cache_dir / JINJA_CACHE_FILE).write_bytes(marshal.dumps(stored))
    assert _schema_run(cache_dir, ProjectFlags) == {"served": "from the file"}
    # with no cache in use (outside a build), dbt's own
    assert ProjectFlags.json_schema() == built_by_dbt


@pytest.fixture
def probe_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A module file of dbt configuration classes, importable as ``rcm_probe_settings``."""
    module_file = tmp_path / "rcm_probe_settings.py"
    module_file.write_text(
        "from dataclasses import dataclass\n"
        "from dbt_common.dataclass_schema import dbtClassMixin\n\n\n"
        "@dataclass\nclass ProbeSettings(dbtClassMixin):\n    threads: int = 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module_file
    sys.modules.pop("rcm_probe_settings", None)


def test_a_class_whose_module_changed_gets_its_schema_built_again(
    cache_dir: Path, probe_module: Path
) -> None:
    probe = importlib.import_module("rcm_probe_settings").ProbeSettings
    schema = _schema_run(cache_dir, probe)
    assert schema["properties"]["threads"]["type"] == "integer"
    stored = _stored(cache_dir)
    stored["schemas"] = {key: '{"stale": true}' for key in stored["schemas"]}
    (cache_dir / JINJA_CACHE_FILE).write_bytes(marshal.dumps(stored))
    # the module file changes (a new version of the package that defines the class)
    stamp = probe_module.stat().st_mtime_ns + 1_000_000_000
    os.utime(probe_module, ns=(stamp, stamp))
    assert _schema_run(cache_dir, probe) == schema


def test_a_schema_holding_a_str_subclass_is_kept_and_served(cache_dir: Path) -> None:
    # a test's config defaults to dbt's Severity("ERROR"), a str subclass marshal cannot write
    from dbt.artifacts.resources.v1.config import TestConfig

    schema = _schema_run(cache_dir, TestConfig)
    assert type(schema["properties"]["severity"]["default"]) is not str
    stored = _stored(cache_dir)["schemas"]
    assert any(key.startswith("dbt.artifacts.resources.v1.config.TestConfig:") for key in stored)
    served = _schema_run(cache_dir, TestConfig)
    assert served == schema
    assert served is not schema  # read from the file, not dbt's copy in this process


def test_without_a_cache_templates_compile_as_usual(cache_dir: Path) -> None:
    assert _render("{{ 'no cache' | upper }}") == "NO CACHE"
    assert not (cache_dir / JINJA_CACHE_FILE).exists()


def test_rcm_jinja_cache_off_turns_it_off(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCM_JINJA_CACHE", "off")
    assert dbt_speedups.use_jinja_code_cache(cache_dir) is None
    assert _render("{{ 2 + 3 }}") == "5"
    dbt_speedups.save_jinja_code_cache()
    assert not (cache_dir / JINJA_CACHE_FILE).exists()


def test_a_syntax_error_is_raised_and_not_stored(cache_dir: Path) -> None:
    dbt_speedups.use_jinja_code_cache(cache_dir)
    with pytest.raises(CompilationError, match="unexpected"):
        _render("select {{ column ")
    with pytest.raises(CompilationError, match="unexpected"):
        _render("select {{ column ")  # and again: nothing was stored under its key
    dbt_speedups.save_jinja_code_cache()
    assert not (cache_dir / JINJA_CACHE_FILE).exists()


@pytest.mark.parametrize(
    "content",
    [
        b"not a marshal file",
        marshal.dumps({"versions": "jinja2=0.0,dbt-core=0.0", "code": {}}),
        marshal.dumps(["a list, not the cache's mapping"]),
        b"",
    ],
    ids=["damaged", "other versions", "other shape", "empty"],
)
def test_an_unusable_cache_file_is_ignored_and_replaced(cache_dir: Path, content: bytes) -> None:
    (cache_dir / JINJA_CACHE_FILE).write_bytes(content)
    assert _run(cache_dir, "{{ 6 * 7 }}") == "42"
    stored = _stored(cache_dir)
    assert stored["versions"] == dbt_speedups.JinjaCodeCache(cache_dir / "probe").versions
    assert len(stored["code"]) >= 1


def test_entries_of_earlier_runs_are_kept(cache_dir: Path) -> None:
    _run(cache_dir, "{{ 'first' }}")
    first = set(_stored(cache_dir)["code"])
    _run(cache_dir, "{{ 'second' }}")
    both = set(_stored(cache_dir)["code"])
    assert first < both


# --- debug events -----------------------------------------------------------------------------


class _Recorder:
    """A logger's filter that notes every event name the logger was handed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, msg: Any) -> bool:
        self.seen.append(msg.info.name)
        return True


def _manager(*levels: EventLevel) -> tuple[EventManager, list[_Recorder], list[io.StringIO]]:
    dbt_speedups.skip_unlogged_debug_events()
    manager = EventManager()
    recorders, streams = [], []
    for index, level in enumerate(levels):
        recorder, stream = _Recorder(), io.StringIO()
        manager.add_logger(
            LoggerConfig(
                name=f"speedups-test-{index}-{level.value}",
                level=level,
                filter=recorder,
                output_stream=stream,
            )
        )
        recorders.append(recorder)
        streams.append(stream)
    return manager, recorders, streams


def _debug_event() -> SQLQuery:
    # a statement's text: dbt fires one for every statement it runs, at debug level
    return SQLQuery(conn_name="model.rcm.fct_claims", sql="select 1", node_info={})


def test_debug_events_no_logger_writes_are_dropped() -> None:
    manager, (recorder,), (stream,) = _manager(EventLevel.INFO)
    assert _debug_event().level_tag() == EventLevel.DEBUG
    manager.fire_event(_debug_event())
    manager.fire_event(Note(msg="an info line"), level=EventLevel.INFO)
    manager.fire_event(Note(msg="a debug line"), level=EventLevel.DEBUG)
    assert recorder.seen == ["Note"]
    assert "an info line" in stream.getvalue()
    assert "a debug line" not in stream.getvalue()


def test_a_logger_at_debug_level_still_gets_every_debug_event() -> None:
    manager, (info, debug), (info_stream, debug_stream) = _manager(
        EventLevel.INFO, EventLevel.DEBUG
    )
    manager.fire_event(_debug_event())
    manager.fire_event(Note(msg="a debug line"), level=EventLevel.DEBUG)
    assert debug.seen == info.seen == ["SQLQuery", "Note"]
    assert "select 1" in debug_stream.getvalue()
    assert "a debug line" in debug_stream.getvalue()
    assert "a debug line" not in info_stream.getvalue()


def test_a_callback_still_gets_every_debug_event() -> None:
    manager, (recorder,), _ = _manager(EventLevel.INFO)
    received: list[str] = []
    manager.add_callback(lambda msg: received.append(msg.info.name))
    manager.fire_event(_debug_event())
    assert received == ["SQLQuery"]
    assert recorder.seen == ["SQLQuery"]


def test_an_environment_other_than_dbts_is_not_served_from_the_cache(cache_dir: Path) -> None:
    # Jinja runs a filter on a constant while compiling, so two environments whose filter of
    # the same name differs compile the same source to different code
    dbt_speedups.use_jinja_code_cache(cache_dir)
    plus_one, times_ten = jinja2.Environment(), jinja2.Environment()
    plus_one.filters["scale"] = lambda value: value + 1
    times_ten.filters["scale"] = lambda value: value * 10
    assert plus_one.from_string("{{ 3 | scale }}").render() == "4"
    assert times_ten.from_string("{{ 3 | scale }}").render() == "30"
    dbt_speedups.save_jinja_code_cache()
    assert not (cache_dir / JINJA_CACHE_FILE).exists()


def test_a_logger_whose_python_logger_writes_debug_gets_every_debug_event() -> None:
    # a logger passed in from outside (LoggerConfig.logger) keeps its own level
    dbt_speedups.skip_unlogged_debug_events()
    stream = io.StringIO()
    python_logger = logging.getLogger("speedups-test-external-debug")
    python_logger.handlers[:] = [logging.StreamHandler(stream)]
    python_logger.setLevel(logging.DEBUG)
    python_logger.propagate = False
    manager = EventManager()
    manager.add_logger(LoggerConfig(name="external", logger=python_logger))
    manager.fire_event(_debug_event())
    assert "select 1" in stream.getvalue()


def test_a_dropped_debug_event_never_builds_its_message() -> None:
    manager, (recorder,), _ = _manager(EventLevel.INFO)
    event = _debug_event()
    manager.fire_event(event)
    assert recorder.seen == []
    assert "pb_msg" not in vars(event)
    # read afterwards, it is built from the fields it was made with
    assert event.sql == "select 1"
    assert "pb_msg" in vars(event)


def test_a_debug_event_changed_before_it_is_fired_is_logged_as_changed() -> None:
    manager, _, (stream,) = _manager(EventLevel.DEBUG)
    event = _debug_event()
    event.sql = "select 2"
    manager.fire_event(event)
    assert "select 2" in stream.getvalue()
    assert "select 1" not in stream.getvalue()


def test_events_of_other_levels_are_built_at_once() -> None:
    dbt_speedups.skip_unlogged_debug_events()
    assert "pb_msg" in vars(Note(msg="an info line"))


def _tiny_project(root: Path, macros: str | None = None) -> list[str]:
    """A one-model dbt project on a DuckDB file under ``root``, with ``macros`` in a macro file
    if given; dbt's arguments for it."""
    (root / "models").mkdir(parents=True)
    if macros is not None:
        (root / "macros").mkdir()
        (root / "macros" / "names.sql").write_text(macros)
    (root / "models" / "one.sql").write_text("select 1 as id\n")
    (root / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0'\nconfig-version: 2\nprofile: tiny\n"
    )
    (root / "profiles.yml").write_text(
        "tiny:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        f"      path: {root / 'tiny.duckdb'}\n      threads: 1\n"
    )
    return ["--project-dir", str(root), "--profiles-dir", str(root), "--target-path"]


def test_a_build_writes_its_manifest_once_at_the_end(tmp_path: Path) -> None:
    from dbt.cli import requires
    from dbt.cli.main import dbtRunner

    args = _tiny_project(tmp_path)
    parse = requires.parse_manifest  # type: ignore[attr-defined]
    # inside the context, dbt's parse leaves manifest.json out ...
    with dbt_speedups.manifest_written_once():
        assert dbtRunner().invoke(["parse", *args, str(tmp_path / "parsed")]).success
        assert not (tmp_path / "parsed" / "manifest.json").exists()
        # ... and a build writes it when it ends, with the SQL it ran
        assert dbtRunner().invoke(["build", *args, str(tmp_path / "built")]).success
    manifest = json.loads((tmp_path / "built" / "manifest.json").read_text())
    assert "select 1 as id" in manifest["nodes"]["model.tiny.one"]["compiled_code"]
    # outside it, parse writes as dbt always does
    assert requires.parse_manifest is parse  # type: ignore[attr-defined]
    assert dbtRunner().invoke(["parse", *args, str(tmp_path / "parsed")]).success
    assert (tmp_path / "parsed" / "manifest.json").exists()


def _macro_ids(context: dict[str, Any]) -> dict[str, Any]:
    """What each name of a context is: a macro's id, or a package's namespace of macro ids."""
    return {
        name: value.macro.unique_id if hasattr(value, "macro") else _macro_ids(value)
        for name, value in context.items()
    }


def test_macro_namespaces_are_what_dbt_builds(tmp_path: Path) -> None:
    """The quick builder and the flat copy give every name the macro dbt's own code gives it."""
    from dbt.cli.main import dbtRunner
    from dbt.clients.jinja import MacroStack
    from dbt.context.macros import MacroNamespaceBuilder

    # the root project overrides one of dbt's macros and defines one of its own
    args = _tiny_project(
        tmp_path,
        "{% macro generate_schema_name(custom, node) %}mine{% endmacro %}\n"
        "{% macro tiny_macro() %}tiny{% endmacro %}\n",
    )
    manifest = dbtRunner().invoke(["parse", *args, str(tmp_path / "parsed")]).result
    macros = manifest.get_macros_by_package()
    assert {"tiny", "dbt", "dbt_duckdb"} <= set(macros)
    dbt_speedups.flat_macro_namespaces()
    quick = MacroNamespaceBuilder.build_namespace
    original = quick.rcm_original  # type: ignore[attr-defined]

    def namespace(build: Any, search_package: str) -> Any:
        builder = MacroNamespaceBuilder(
            "tiny", search_package, MacroStack(), ["dbt_duckdb", "dbt"], None
        )
        return build(builder, macros, {"marker": True})

    for search_package in ("tiny", "dbt"):
        theirs, ours = namespace(original, search_package), namespace(quick, search_package)
        # dbt's way of copying a namespace into a context: every name, searched one by one
        expected = _macro_ids(dict(theirs))
        assert _macro_ids(dict(ours)) == expected
        flat = dbt_speedups.add_macro_namespace({}, ours)
        assert _macro_ids(flat) == expected
        assert flat["generate_schema_name"].macro.package_name == "tiny"
        assert flat["dbt"]["generate_schema_name"].macro.package_name == "dbt"
        assert flat["tiny_macro"].context == {"marker": True}


def test_a_build_renders_the_root_projects_override(tmp_path: Path) -> None:
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    args = _tiny_project(
        tmp_path,
        "{% macro current_label() %}{{ return('root') }}{% endmacro %}\n"
        "{% macro generate_schema_name(custom, node) %}{{ return('tinyschema') }}{% endmacro %}\n",
    )
    (tmp_path / "models" / "one.sql").write_text(
        "select '{{ current_label() }}' as label, '{{ dbt.generate_schema_name(none, model) }}'"
        " as dbt_schema\n"
    )
    dbt_speedups.flat_macro_namespaces()
    assert dbtRunner().invoke(["build", *args, str(tmp_path / "built")]).success
    DuckDBConnectionManager.close_all_connections()  # dbt-duckdb's handle on the file
    with duckdb.connect(str(tmp_path / "tiny.duckdb"), read_only=True) as connection:
        rows = connection.sql("select label, dbt_schema from tinyschema.one").fetchall()
    # the root project's macros win by name; dbt's own stays reachable as dbt.<name>
    assert rows == [("root", "main")]


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_off_while_paused_and_as_it_was_after(enabled: bool) -> None:
    before = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with dbt_speedups.collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), dbt_speedups.collector_paused():
            raise RuntimeError("a failed build")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if before else gc.disable)()


def test_a_build_without_the_collector_lets_go_of_the_warehouse(tmp_path: Path) -> None:
    from ingestion.build import _invoke

    args = _tiny_project(tmp_path)
    before = gc.isenabled()
    gc.disable()  # as in `rcm build`: nothing collects dbt-duckdb's handle on the file
    try:
        assert _invoke(["build", *args, str(tmp_path / "built")], tmp_path / "built").success
        # another configuration of the same file: refused while the build's handle is open
        with duckdb.connect(str(tmp_path / "tiny.duckdb"), read_only=True) as connection:
            assert connection.sql("select id from main.one").fetchall() == [(1,)]
    finally:
        (gc.enable if before else gc.disable)()


def test_a_shared_type_tester_types_results_as_a_new_one_does() -> None:
    from dbt_common.clients import agate_helper

    dbt_speedups.shared_type_testers()
    shared = agate_helper.build_type_tester
    rows = [
        {"id": "005", "n": 1, "day": "2024-01-31", "flag": True, "note": "null", "blank": ""},
        {"id": "7", "n": 2, "day": "2024-02-29", "flag": False, "note": "x", "blank": ""},
    ]
    names = list(rows[0])

    def table() -> tuple[list[str], list[Any]]:
        result = agate_helper.table_from_data_flat(rows, names)
        return [type(kind).__name__ for kind in result.column_types], [
            list(row.values()) for row in result.rows
        ]

    with_shared = [table(), table()]  # the second from the shared tester
    agate_helper.build_type_tester = shared.rcm_original  # type: ignore[attr-defined]
    try:
        fresh = table()
    finally:
        agate_helper.build_type_tester = shared
    assert with_shared == [fresh, fresh]
    # strings stay as they came (no '005' -> 5, no 'null' -> None)
    assert fresh[1][0] == ["005", 1, "2024-01-31", True, "null", ""]
    assert shared({"id", "note"}, string_null_values=()) is shared(
        ["note", "id"], string_null_values=[]
    )
