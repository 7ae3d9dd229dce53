"""The `rcm` command line: one sub-command per stage of the pipeline.

Each stage lives in its own module and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` to a handler ``(argparse.Namespace) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add sub-commands, in the order they appear in `rcm --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "ingestion.generate.cli",
    "ingestion.ingest",
    "ingestion.build",
    "ingestion.pipeline",
    "ingestion.bench",
    "ingestion.alerts",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rcm",
        description="Healthcare RCM warehouse: generate sources, ingest to Bronze, build marts.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
