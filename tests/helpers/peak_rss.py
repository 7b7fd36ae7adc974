"""Run a command and report its peak resident set size, as the kernel counts it.

On Linux a child's ``ru_maxrss`` includes the peak of the process it was spawned from (the old
address space's high-water mark is kept at ``exec``), so a command started straight from the test
process could never report less than pytest's own size. A bare interpreter (no site-packages)
spawns the command instead and reports what ``wait4`` says.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

LAUNCHER = """
import json, os, sys
argv = json.loads(sys.argv[1])
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[2], "w") as report:
    json.dump({"exit": os.waitstatus_to_exitcode(status), "rss_kib": usage.ru_maxrss}, report)
"""


class Measured(NamedTuple):
    exit_code: int
    peak_rss: int  # bytes
    stdout: str
    stderr: str


def run_measured(argv: list[str], env: dict[str, str], workdir: Path) -> Measured:
    report = workdir / "peak-rss.json"
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(argv), str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(report.read_text())
    return Measured(result["exit"], result["rss_kib"] * 1024, proc.stdout, proc.stderr)
