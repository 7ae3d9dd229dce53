"""The `rcm` front door: every sub-command is listed and reachable, and a command loads only
its own module (the others' imports are start-up that every `rcm build` would pay), and the
executable's exit, which skips Python's teardown, still runs the exit handlers, delivers the
output and waits for a running thread; `rcm build` and `rcm docs` run with Python's cyclic
garbage collector off, every other command with it on. Every option of every command has a
help text, and one whose default is an environment variable says what is used without it.

Each case runs `python -m ingestion.cli` in a fresh interpreter, so that what is imported is
what a user's command imports (the help texts are read from the parsers, in this process).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from ingestion.cli import COMMANDS, build_parser


def _rcm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingestion.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _imported_after(command: str | None) -> set[str]:
    """The modules loaded once the parser for ``command`` is built (the command is not run)."""
    probe = (
        "import sys; from ingestion.cli import build_parser; "
        f"build_parser({command!r}); "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(done.stdout.split())


def test_help_lists_every_command() -> None:
    result = _rcm("--help")
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command in result.stdout, f"`rcm --help` does not list {command}"


def test_each_command_parses_its_own_help() -> None:
    for command in COMMANDS:
        result = _rcm(command, "--help")
        assert result.returncode == 0, f"rcm {command} --help: {result.stderr}"
        assert result.stdout.startswith(f"usage: rcm {command}"), result.stdout[:200]


def test_unknown_command_names_the_valid_ones() -> None:
    result = _rcm("biuld")
    assert result.returncode == 2
    assert "invalid choice: 'biuld'" in result.stderr
    for command in COMMANDS:
        assert f"'{command}'" in result.stderr


def test_no_command_prints_help_and_fails() -> None:
    result = _rcm()
    assert result.returncode == 2
    assert "COMMAND" in result.stdout


def test_build_does_not_load_the_other_commands() -> None:
    loaded = _imported_after("build")
    assert "ingestion.build" in loaded
    others = {COMMANDS[name] for name in COMMANDS} - {COMMANDS["build"]}
    assert not loaded & others, f"`rcm build` imported {sorted(loaded & others)}"
    for heavy in ("sqlalchemy", "pandas", "numpy", "requests"):
        assert heavy not in loaded, f"`rcm build` imported {heavy}"


def test_help_loads_every_command() -> None:
    loaded = _imported_after(None)
    assert set(COMMANDS.values()) <= loaded


def _run_rcm_after(setup: str) -> subprocess.CompletedProcess[str]:
    """`rcm` with no command (prints help, exit code 2) through ``run``, the executable's entry
    point, after ``setup`` ran in the same interpreter."""
    script = f"import sys\nfrom ingestion import cli\n{setup}\nsys.argv = ['rcm']\ncli.run()\n"
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )


def test_executable_runs_exit_handlers_and_keeps_its_output() -> None:
    # run() ends the process without Python's teardown: the exit handlers must still run and
    # the piped (block-buffered) output must still arrive, with main's exit code
    result = _run_rcm_after("import atexit\natexit.register(print, 'exit handler ran')")
    assert result.returncode == 2
    assert "COMMAND" in result.stdout
    assert result.stdout.rstrip().endswith("exit handler ran")


def test_executable_waits_for_a_running_thread() -> None:
    setup = (
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.5), print('thread finished'))).start()"
    )
    result = _run_rcm_after(setup)
    assert result.returncode == 2
    assert "thread finished" in result.stdout


@pytest.mark.parametrize(
    ("command", "collector"), [("build", False), ("docs", False), ("ingest", True), ("run", True)]
)
def test_the_collector_is_off_for_dbts_commands(command: str, collector: bool) -> None:
    # the command's handler is replaced by one that reports the collector's state when called
    script = (
        "import gc, sys\n"
        "from ingestion import cli\n"
        "cli.main = lambda: print('collector', gc.isenabled()) or 0\n"
        f"sys.argv = ['rcm', {command!r}]\n"
        "cli.run()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["collector", str(collector)]


def test_every_option_has_help_and_an_environment_default_names_its_fallback() -> None:
    """`rcm run --sources` and `rcm bench --results` printed no line of help, and `rcm alerts
    --warehouse` said "default $RCM_WAREHOUSE_PATH" without the file used when it is unset."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, subparser in commands.choices.items():
        for action in subparser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            option = f"rcm {command} {'/'.join(action.option_strings)}"
            assert action.help, f"{option} has no help text"
            if re.search(r"default:? \$RCM_\w+", action.help):
                assert re.search(r"default: \$RCM_\w+, else \S", action.help), (
                    f"{option}: {action.help!r} does not say what is used when the variable "
                    "is unset (write 'default: $VARIABLE, else VALUE')"
                )


@pytest.mark.parametrize("command", ["ingest", "build"])
def test_help_says_what_to_run_for_a_rerun_a_backfill_and_a_full_refresh(command: str) -> None:
    # the person paged at night reads `--help`, not the README: what to run for each case is
    # there, and every option it names is one the command has
    parser = build_parser(command)
    (sub,) = (
        action.choices[command]
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    epilog = sub.epilog or ""
    for case in ("re-run", "backfill", "full" if command == "ingest" else "full refresh"):
        assert case in epilog, f"rcm {command} --help says nothing of {case}"
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", epilog))
    assert named, epilog
    options = {flag for action in sub._actions for flag in action.option_strings}
    assert named <= options, f"rcm {command} --help names options it lacks: {named - options}"
    shown = _rcm(command, "--help")
    assert shown.returncode == 0 and epilog.splitlines()[0] in shown.stdout
