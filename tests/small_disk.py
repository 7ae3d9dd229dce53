"""A real full disk for a test: a command run with a small tmpfs mounted over one folder, in a
mount namespace of its own (``unshare``), so the kernel answers its writes there with ENOSPC
as a full disk does. Nothing outside the command sees the mount."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest


def on_small_disk(folder: Path, kilobytes: int) -> list[str]:
    """The prefix that runs a command with a ``kilobytes`` tmpfs mounted on ``folder`` (made
    here); the test is skipped, with the reason, where the machine allows no such mount."""
    folder.mkdir(parents=True, exist_ok=True)
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("a full disk needs util-linux's unshare, which this machine lacks")
    mount = [unshare, "--map-root-user", "--mount", "sh", "-c"]
    probe = subprocess.run(
        [*mount, f"mount -t tmpfs -o size={kilobytes}k tmpfs '{folder}'"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"this machine allows no private tmpfs mount: {probe.stderr.strip()}")
    script = f'mount -t tmpfs -o size={kilobytes}k tmpfs "$0" && exec "$@"'
    return [*mount, script, str(folder)]


def run_on_small_disk(
    folder: Path, kilobytes: int, command: Sequence[str], **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """``command`` run with ``folder`` on a ``kilobytes`` disk; its output captured as text."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*on_small_disk(folder, kilobytes), *command],
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )
