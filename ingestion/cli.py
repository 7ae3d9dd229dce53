"""The `rcm` command line: one sub-command per stage of the pipeline.

Each stage lives in its own module and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` to a handler ``(argparse.Namespace) -> int`` (the exit code).
A command imports only the module of its sub-command: the others bring SQLAlchemy, pandas,
numpy and requests, about 0.7 s of start-up that every `rcm build` would otherwise pay.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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
}


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


if __name__ == "__main__":
    raise SystemExit(main())
