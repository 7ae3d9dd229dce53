"""Six shortcuts around the Python that dbt runs for every node, for `rcm build` and `rcm docs`.

dbt holds Python's interpreter lock for about 30-40 ms per node (compiling Jinja, building the
node's context, log events), and its worker threads take turns for it: at scale 1 a week's
build costs about what dbt costs to run its 160 nodes (benchmarks/README.md). None of the
shortcuts changes what dbt builds, tests or logs:

- **Debug events that no logger writes are dropped** before dbt turns them into a protobuf
  message and a log line. dbt builds both for every event and only then lets the logger discard
  it by level; at info level (what `rcm build` logs unless DBT_LOG_LEVEL_FILE says otherwise)
  most of a node's events (each statement, its status, connection use) are discarded so. An
  event is dropped only when it is of level debug, no logger writes debug, and the only callback
  is dbt's own, which looks at behaviour-change warnings alone. A debug event builds its
  message when it is first read, so a dropped one never does (a scale-1 week: 6,542 messages
  built in 0.99 s before, 981 in 0.17 s after).
- **Compiled Jinja templates are kept on disk** (`jinja_code.marshal` in the target folder).
  dbt compiles every macro it calls, each node's SQL and each test argument from source in
  every run (about 1 s of a week's build at scale 1). A template's Python code depends only on
  its source and on the environment that compiles it (its class, settings, filters and
  tests), so the file maps a hash of the source and the environment's class and settings to
  the code, for dbt's two environments only (each always has the same filters and tests). It
  is dropped whole when Jinja, dbt, mashumaro or Python changes version. The same file keeps
  the JSON schemas dbt checks its project, profile and flags against (about 0.25 s of every
  run to build, by the class's name and its module file's size and time).
  RCM_JINJA_CACHE=off turns the cache off.
- **A node's macros reach its Jinja context faster** (:func:`flat_macro_namespaces`): dbt
  builds a context for each node it compiles or runs and each macro the adapter calls, and puts
  all 700 macros of the project and dbt in each, one generator and one search at a time; the
  same generators, found by the same precedence, in about 40 % less time (1.3 against 2.1 ms a
  context, about 750 contexts in a scale-1 week).
- **agate's type testers are shared** (:func:`shared_type_testers`): one per set of text
  columns instead of a new one for each query result (0.05 against 0.85 ms a test's result).
- **manifest.json is written once per build**, at its end (:func:`manifest_written_once`).
- **Python's cyclic garbage collector is off while dbt runs** (:func:`collector_paused`): its
  passes over dbt's live objects cost a scale-1 week 1.3-1.5 s with the interpreter lock held.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import marshal
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import CodeType
from typing import Any

JINJA_CACHE_ENV = "RCM_JINJA_CACHE"
JINJA_CACHE_FILE = "jinja_code.marshal"
# entries kept from earlier runs besides this run's own (a project that changes leaves old ones)
MAX_KEPT_ENTRIES = 4000

_lock = threading.Lock()
# the manifest the last graph command parsed, and its project's name (manifest_written_once)
_parsed: dict[str, Any] = {}


def skip_unlogged_debug_events() -> None:
    """Make dbt's event manager drop debug events that none of its loggers would write."""
    from dbt.tracking import track_behavior_change_warn
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.event_manager import EventManager

    fire = EventManager.fire_event
    if getattr(fire, "rcm_drops_unlogged_debug", False):
        return
    written_at_debug = {EventLevel.DEBUG, EventLevel.TEST}

    def writes_debug(logger: Any) -> bool:
        # dbt's loggers hand each line to a Python logger set to their level; one passed in
        # from outside (LoggerConfig.logger) keeps its own level whatever `level` says
        if getattr(logger, "level", None) in written_at_debug:
            return True
        python_logger = getattr(logger, "_python_logger", None)
        return python_logger is not None and python_logger.isEnabledFor(logging.DEBUG)

    def fire_event(
        self: Any,
        e: Any,
        level: Any = None,
        node: Any = None,
        force_warn_or_error_handling: bool = False,
    ) -> None:
        if (
            not force_warn_or_error_handling
            and (level if level is not None else e.level_tag()) == EventLevel.DEBUG
            and not any(writes_debug(logger) for logger in self.loggers)
            and all(callback is track_behavior_change_warn for callback in self.callbacks)
        ):
            return
        fire(self, e, level, node, force_warn_or_error_handling)

    fire_event.rcm_drops_unlogged_debug = True  # type: ignore[attr-defined]
    EventManager.fire_event = fire_event  # type: ignore[method-assign]
    _defer_debug_event_messages()


def _defer_debug_event_messages() -> None:
    """Build a debug event's protobuf message when something first reads the event.

    dbt's events convert their fields to a protobuf message in ``__init__`` (protobuf's
    ParseDict: about 0.06 ms an event, three debug events per SQL statement); a dropped debug
    event is never read, so its message is never built. Events of other levels are built at
    once, as dbt builds them.
    """
    from dbt_common.events.base_types import BaseEvent, DebugLevel

    build: Any = BaseEvent.__init__
    if getattr(build, "rcm_deferred", False):
        return

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(self, DebugLevel):
            object.__setattr__(self, "_rcm_fields", (args, kwargs))
        else:
            build(self, *args, **kwargs)

    def message(self: Any) -> Any:
        try:
            return object.__getattribute__(self, "pb_msg")
        except AttributeError:
            args, kwargs = object.__getattribute__(self, "_rcm_fields")
            build(self, *args, **kwargs)
            return object.__getattribute__(self, "pb_msg")

    def getattr_(self: Any, key: str) -> Any:
        # only asked for what the event itself lacks: its message, or one of the message's fields
        pb_msg = message(self)
        return pb_msg if key == "pb_msg" else getattr(pb_msg, key)

    def setattr_(self: Any, key: str, value: Any) -> None:
        if key == "pb_msg":
            object.__setattr__(self, key, value)
        else:
            setattr(message(self), key, value)

    init.rcm_deferred = True  # type: ignore[attr-defined]
    BaseEvent.__init__ = init  # type: ignore[method-assign]
    BaseEvent.__getattr__ = getattr_  # type: ignore[method-assign]
    BaseEvent.__setattr__ = setattr_  # type: ignore[method-assign]


def add_macro_namespace(context: dict[str, Any], namespace: Any) -> dict[str, Any]:
    """``context`` updated with every name of a dbt ``MacroNamespace``, as dbt's search finds it."""
    from dbt.include.global_project import PROJECT_NAME

    context.update(namespace.global_project_namespace)
    context[PROJECT_NAME] = namespace.global_project_namespace
    context.update(namespace.packages)
    context.update(namespace.global_namespace)
    context.update(namespace.local_namespace)
    return context


def flat_macro_namespaces() -> None:
    """Put a node's macros into its Jinja context with five dict updates, not 700 look-ups.

    dbt builds a context for every node it compiles and runs, and for every macro the adapter
    calls (about 750 in a scale-1 week), and copies every macro of the project and its adapters
    into it (``ManifestContext.to_dict``): a set of every name, then one search of the five
    namespaces per name. Updating a dict with the namespaces in the reverse of dbt's search
    order (internal packages, ``dbt``, other packages, root package, the node's package) gives
    the same name for each macro, since what dbt's search finds first is written last.
    """
    from dbt.context.configured import ConfiguredContext
    from dbt.context.macros import MacroNamespace
    from dbt.context.manifest import ManifestContext

    to_dict: Any = ManifestContext.to_dict
    if getattr(to_dict, "rcm_flat", False):
        return

    def flat_to_dict(self: Any) -> Any:
        if type(self.namespace) is not MacroNamespace:  # a test's namespace: as dbt does it
            return to_dict(self)
        return add_macro_namespace(ConfiguredContext.to_dict(self), self.namespace)

    flat_to_dict.rcm_flat = True  # type: ignore[attr-defined]
    flat_to_dict.rcm_original = to_dict  # type: ignore[attr-defined]
    ManifestContext.to_dict = flat_to_dict  # type: ignore[method-assign]
    _quick_macro_generators()


def _quick_macro_generators() -> None:
    """Make a context's 700 macro generators without three ``__init__`` calls each.

    ``MacroNamespaceBuilder.build_namespace`` adds the macros one by one (a method call, a
    generator made through three constructors, a duplicate check on a dict keyed by name); this
    fills each package's dict in one loop, with generators holding the same four attributes. It
    is left as dbt wrote it if a generator turns out to hold anything else (another dbt).
    """
    from dbt.clients.jinja import MacroGenerator
    from dbt.context.macros import MacroNamespace, MacroNamespaceBuilder

    build: Any = MacroNamespaceBuilder.build_namespace
    if getattr(build, "rcm_quick", False):
        return
    sample = MacroGenerator(None, None, None, None)  # type: ignore[arg-type]
    if set(vars(sample)) != {"context", "macro", "node", "stack"}:
        return
    make = object.__new__

    def build_namespace(
        self: Any, macros_by_package: dict[str, dict[str, Any]], ctx: dict[str, Any]
    ) -> Any:
        if type(self) is not MacroNamespaceBuilder:
            return build(self, macros_by_package, ctx)
        fields = {"context": ctx, "node": self.node, "stack": self.thread_ctx}
        internal = self.internal_package_names
        for package_name, macros in macros_by_package.items():
            generators: dict[str, Any] = {}
            for name, macro in macros.items():
                generator = make(MacroGenerator)
                generator.__dict__.update(fields, macro=macro)
                generators[name] = generator
            if package_name in internal:
                self.internal_packages[package_name] = generators
            else:
                self.packages[package_name] = generators
                if package_name == self.search_package:
                    self.locals.update(generators)
                elif package_name == self.root_package:
                    self.globals.update(generators)
        # as dbt: the internal packages first in its list win
        global_project_namespace: dict[str, Any] = {}
        for package_name in reversed(self.internal_package_names_order):
            global_project_namespace.update(self.internal_packages.get(package_name, {}))
        return MacroNamespace(
            global_namespace=self.globals,
            local_namespace=self.locals,
            global_project_namespace=global_project_namespace,
            packages=self.packages,
        )

    build_namespace.rcm_quick = True  # type: ignore[attr-defined]
    build_namespace.rcm_original = build  # type: ignore[attr-defined]
    MacroNamespaceBuilder.build_namespace = build_namespace  # type: ignore[method-assign]


def shared_type_testers() -> None:
    """Make agate's type tester for a set of text columns once, not once per query result.

    dbt turns every result it fetches (each test's one row, each column listing) into an agate
    table, and builds a new ``TypeTester`` for it first: seven agate types, whose date and time
    types each set up a date parser (0.8 ms of the 0.85 ms a test's result costs). A tester
    holds only its settings, which depend only on the text columns and null values, so one per
    set of them serves every result, as dbt's own default tester already does.
    """
    from dbt_common.clients import agate_helper

    build: Any = agate_helper.build_type_tester
    if getattr(build, "rcm_shared", False):
        return
    cached = functools.lru_cache(maxsize=256)(build)

    def build_type_tester(
        text_columns: Iterable[str], string_null_values: Iterable[str] | None = ("null", "")
    ) -> Any:
        nulls = None if string_null_values is None else tuple(string_null_values)
        return cached(frozenset(text_columns), string_null_values=nulls)

    build_type_tester.rcm_shared = True  # type: ignore[attr-defined]
    build_type_tester.rcm_original = build  # type: ignore[attr-defined]
    agate_helper.build_type_tester = build_type_tester


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep Python's cyclic garbage collector off while dbt runs; restore its state after.

    dbt keeps about 200,000 objects alive through a build (the manifest, its macros and
    nodes) and makes thousands more per node, so the collector's passes keep walking the
    same live objects: in a scale-1 week's build 1,900 passes took 1.3-1.5 s, all of it with
    the interpreter lock held, which is what dbt's worker threads queue for. Objects that
    no cycle holds are freed as before; the cycles a build leaves (node contexts, Jinja
    frames) wait for the collector's next pass once it is on again: 110-140 MB more at the
    peak of a scale-1 week's build, about 250 MB of a full one.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def take_parsed() -> tuple[Any, str, dict[str, Any]] | None:
    """What the last graph command run in :func:`manifest_written_once` parsed: the manifest,
    its project's name and the vars it ran with (project vars, then --vars), for
    ingestion/model_logic.py; none if it parsed nothing. Lets go of them."""
    manifest, project = _parsed.get("manifest"), _parsed.get("project")
    variables = _parsed.get("variables") or {}
    _parsed.clear()
    return (manifest, str(project), variables) if manifest is not None and project else None


@contextlib.contextmanager
def manifest_written_once() -> Iterator[None]:
    """Leave out the manifest.json that dbt writes after parsing, for a graph command; keep the
    parsed manifest for :func:`take_parsed`.

    A graph command (build, run, test, retry) writes target/manifest.json again when it ends,
    with the compiled SQL of what it ran, so the write after parsing (0.2-0.5 s for the 2.4 MB
    file at the start of every build, while nothing else runs) is overwritten unread. Only the
    commands run inside this context are affected; `parse`, `ls` or `docs generate` write as
    usual. (A build that dbt aborts before its end leaves the previous manifest.json.)
    """
    from dbt.cli import requires

    parse: Any = getattr(requires, "parse_manifest")  # noqa: B009 (not exported)

    def parse_manifest(
        runtime_config: Any, write_perf_info: bool, write: bool, write_json: bool, *rest: Any
    ) -> Any:
        manifest = parse(runtime_config, write_perf_info, False, write_json, *rest)
        variables = dict(getattr(getattr(runtime_config, "vars", None), "vars", None) or {})
        variables.update(getattr(runtime_config, "cli_vars", None) or {})
        _parsed.update(
            manifest=manifest,
            project=getattr(runtime_config, "project_name", None),
            variables=variables,
        )
        return manifest

    requires.parse_manifest = parse_manifest  # type: ignore[attr-defined,assignment]
    _parsed.clear()
    try:
        yield
    finally:
        requires.parse_manifest = parse  # type: ignore[attr-defined]


def _versions() -> str:
    names = ("jinja2", "dbt-core", "dbt-common", "dbt-adapters", "mashumaro")
    packages = ",".join(f"{name}={importlib.metadata.version(name)}" for name in names)
    return f"{packages},python={importlib.util.MAGIC_NUMBER.hex()}"


class JinjaCodeCache:
    """Compiled Jinja code by a hash of the template source and its environment's settings;
    beside it, the JSON schemas dbt checks its configuration against (:func:`_patch_json_schema`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.versions = _versions()
        stored = self._load()
        self.earlier: dict[str, CodeType] = self._section(stored, "code")
        self.used: dict[str, CodeType] = {}
        # kept as JSON text: a schema can hold str subclasses (a test's Severity), which marshal
        # refuses; this run's texts by key, and its schemas by class (one look-up per class)
        self.earlier_schemas: dict[str, str] = self._section(stored, "schemas")
        self.schema_texts: dict[str, str] = {}
        self.schemas: dict[type, Any] = {}

    def _load(self) -> dict[str, Any]:
        try:
            # code, like Python's own __pycache__: whoever can write the target folder can change
            # what the build runs (the same holds for the compiled SQL dbt writes there)
            stored = marshal.loads(self.path.read_bytes())  # noqa: S302
        except (OSError, EOFError, ValueError, TypeError):
            return {}  # none yet, or unreadable: compile again
        if not isinstance(stored, dict) or stored.get("versions") != self.versions:
            return {}
        return stored

    @staticmethod
    def _section(stored: dict[str, Any], name: str) -> dict[str, Any]:
        section = stored.get(name)
        return section if isinstance(section, dict) else {}

    @staticmethod
    def key(env: Any, source: str, name: str | None, filename: str | None, defer_init: bool) -> str:
        settings = (
            type(env).__module__,
            type(env).__qualname__,
            env.code_generator_class.__qualname__,
            tuple(sorted(env.extensions)),
            env.block_start_string,
            env.block_end_string,
            env.variable_start_string,
            env.variable_end_string,
            env.comment_start_string,
            env.comment_end_string,
            env.line_statement_prefix,
            env.line_comment_prefix,
            env.trim_blocks,
            env.lstrip_blocks,
            env.newline_sequence,
            env.keep_trailing_newline,
            env.optimized,
            env.is_async,
            env.finalize is not None,
            env.autoescape if isinstance(env.autoescape, bool) else "callable",
            name,
            filename,
            defer_init,
        )
        digest = hashlib.sha256(repr(settings).encode())
        digest.update(b"\0")
        digest.update(source.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def get(self, key: str) -> CodeType | None:
        code = self.used.get(key) or self.earlier.get(key)
        if code is not None:
            self.used[key] = code
        return code

    def put(self, key: str, code: CodeType) -> None:
        self.used[key] = code

    def schema(self, cls: type, build: Any) -> Any:
        """``cls``'s JSON schema: this run's, the file's, or ``build(cls)`` (then kept)."""
        schema = self.schemas.get(cls)
        if schema is not None:
            return schema
        key = _schema_key(cls)
        text = None if key is None else self.earlier_schemas.get(key)
        try:
            schema = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            schema = None
        if not isinstance(schema, dict):
            schema, text = build(cls), None
            with contextlib.suppress(TypeError, ValueError):  # not JSON: the next run builds it
                text = json.dumps(schema)
        if key is not None and text is not None:
            self.schema_texts[key] = text
        self.schemas[cls] = schema
        return schema

    def save(self) -> None:
        """Write this run's entries and, up to MAX_KEPT_ENTRIES, the earlier ones (atomically)."""
        if all(key in self.earlier for key in self.used) and all(
            key in self.earlier_schemas for key in self.schema_texts
        ):
            return  # nothing new
        code = dict(self.used)
        for key, value in self.earlier.items():
            if len(code) >= len(self.used) + MAX_KEPT_ENTRIES:
                break
            code.setdefault(key, value)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            schemas = {**self.earlier_schemas, **self.schema_texts}
            stored = {"versions": self.versions, "code": code, "schemas": schemas}
            partial.write_bytes(marshal.dumps(stored))
            partial.replace(self.path)
        finally:
            partial.unlink(missing_ok=True)  # left only by a failed write


_cache: JinjaCodeCache | None = None


def use_jinja_code_cache(target_path: Path) -> JinjaCodeCache | None:
    """Serve Jinja compilations from ``target_path``/jinja_code.marshal until
    :func:`save_jinja_code_cache`; None when RCM_JINJA_CACHE=off."""
    global _cache
    if os.environ.get(JINJA_CACHE_ENV, "").lower() in {"off", "0", "false", "no"}:
        return None
    _patch_compile()
    _patch_json_schema()
    with _lock:
        _cache = JinjaCodeCache(target_path / JINJA_CACHE_FILE)
        return _cache


def save_jinja_code_cache() -> None:
    """Write the cache that :func:`use_jinja_code_cache` started and stop serving from it."""
    global _cache
    with _lock:
        cache, _cache = _cache, None
    if cache is not None:
        try:
            cache.save()
        except (OSError, ValueError) as error:  # a read-only target folder, or code marshal
            # cannot write: the next run compiles again
            print(f"note: could not keep compiled Jinja in {cache.path}: {error}", file=sys.stderr)


def _patch_compile() -> None:
    import jinja2
    from dbt_common.clients import jinja as dbt_jinja

    # dbt's two environments (text and native) always carry the same filters and tests, which
    # the generated code can depend on; any other environment in the process compiles as usual
    dbt_environment = dbt_jinja.MacroFuzzEnvironment

    compile_: Any = jinja2.Environment.compile
    if getattr(compile_, "rcm_cached", False):
        return

    def compile(
        self: Any,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        cache = _cache
        # dbt's macro debugging names each compiled template's code after a file of its own
        if (
            cache is None
            or raw
            or not isinstance(source, str)
            or not isinstance(self, dbt_environment)
            or dbt_jinja.MACRO_DEBUGGING
        ):
            return compile_(self, source, name, filename, raw, defer_init)
        key = cache.key(self, source, name, filename, defer_init)
        code = cache.get(key)
        if code is None:
            code = compile_(self, source, name, filename, False, defer_init)
            cache.put(key, code)
        return code

    compile.rcm_cached = True  # type: ignore[attr-defined]
    jinja2.Environment.compile = compile  # type: ignore[method-assign]


def _schema_key(cls: type) -> str | None:
    """A class's name and the size and time of its module's file, or None (not cached)."""
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    if not filename:
        return None
    try:
        stat = Path(filename).stat()
    except OSError:
        return None
    return f"{cls.__module__}.{cls.__qualname__}:{stat.st_size}:{stat.st_mtime_ns}"


def _patch_json_schema() -> None:
    """Serve dbt's JSON schemas of its configuration classes from the cache.

    dbt checks the project, profile, credentials and flags against a JSON schema that mashumaro
    builds from each class, making a dataclass (and its code) for every field's default: about
    0.25 s of every `rcm build` before it reads the manifest. A schema depends only on its class:
    it is kept by the class's name and its module file's size and time, in a cache dropped
    whole when dbt, mashumaro or Python changes version.
    """
    from dbt_common.dataclass_schema import dbtClassMixin

    build: Any = dbtClassMixin.__dict__["json_schema"].__func__  # dbt's, cached per process
    if getattr(build, "rcm_cached", False):
        return

    def json_schema(cls: type) -> Any:
        cache = _cache
        return build(cls) if cache is None else cache.schema(cls, build)

    json_schema.rcm_cached = True  # type: ignore[attr-defined]
    json_schema.rcm_original = build  # type: ignore[attr-defined]
    dbtClassMixin.json_schema = classmethod(json_schema)  # type: ignore[assignment]
