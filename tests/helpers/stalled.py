"""A real ``covid-etl run`` stopped inside its load transaction, for crash tests."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.stall_load import MARKER

ROOT = Path(__file__).parents[2]


@contextmanager
def stalled_run(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``covid-etl run --json`` with ``env`` and yield (the process, its marker line) once
    it has written its first batch of rows and not committed; SIGKILL it on leaving the block
    (or earlier, if the test does), and wait for it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.stall_load", "run", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, _marker(proc, timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _marker(proc: subprocess.Popen[str], timeout: float) -> str:
    """The marker line, or an assertion with the process's stderr when it never comes."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.startswith(MARKER):
                return line
            if not line and proc.poll() is not None:
                break
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"the stalled load never reached its first batch: {err}")
