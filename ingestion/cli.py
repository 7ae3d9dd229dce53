"""The `rcm` command line: one sub-command per stage of the pipeline.

Each stage lives in its own module and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` to a handler ``(argparse.Namespace) -> int`` (the exit code).
A command imports only the module of its sub-command: the others bring SQLAlchemy, pandas,
numpy and requests, about 0.7 s of start-up that every `rcm build` would otherwise pay.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

# Each sub-command and the module that adds it, in the order of `rcm --help`.
COMMANDS: dict[str, str] = {
    "generate": "ingestion.generate.cli",
    "ingest": "ingestion.ingest",
    "build": "ingestion.build",
    "docs": "ingestion.build",
    "run": "ingestion.pipeline",
    "bench": "ingestion.bench",
    "profile": "ingestion.profile",
    "alerts": "ingestion.alerts",
    "export": "ingestion.export",
}

# The sub-commands that are dbt's work from start to end: the executable (``run`` below, not
# `rcm run`) turns Python's cyclic garbage collector off for them (why:
# ingestion.dbt_speedups.collector_paused), since the process ends without its last pass.
WITHOUT_COLLECTOR = frozenset({"build", "docs"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` alone when it is a known sub-command, else of them all (for
    `rcm --help` and for the error that lists the valid ones)."""
    parser = argparse.ArgumentParser(
        prog="rcm",
        description="Healthcare RCM warehouse: generate sources, ingest to Bronze, build marts.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for name in dict.fromkeys(modules):
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # only the expected kinds are handled here (see _expected)
        if not _expected(error):
            raise
        print(f"rcm {args.command}: {error}", file=sys.stderr)
        return 1


def _expected(error: BaseException) -> bool:
    """An error whose message is meant for the user: a file-system error (it names the path:
    a folder that is a file, a file that is missing, no permission) or one of this package's own
    error classes, which say what went wrong and what to do. Anything else is a bug, and keeps
    its traceback."""
    if isinstance(error, OSError):
        return True
    return any(kind.__module__.startswith("ingestion.") for kind in type(error).__mro__[:-2])


def run() -> NoReturn:
    """The `rcm` executable: ``main``, then leave without freeing every object one by one.

    After a build the interpreter holds dbt's manifest and graph, some 200,000 objects; Python's
    teardown took 0.45-0.6 s after the summary was printed (benchmarks/README.md). By then every
    warehouse handle is closed and every file written, so ``run`` does what that teardown needs
    to do (the exit handlers, the log handlers, the output buffers) and ends the process. With
    another thread still running it leaves the usual way, which waits for it. ``main`` stays an
    ordinary function for callers in the same process (the tests)."""
    if sys.argv[1:2] and sys.argv[1] in WITHOUT_COLLECTOR:
        gc.disable()
    code = main()
    if threading.active_count() > 1:
        raise SystemExit(code)
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a closed pipe: nothing more can be said
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
