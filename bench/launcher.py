"""Spawn and reap measured processes from a small, separate process.

On Linux a child's ``ru_maxrss`` includes the peak RSS of the process it was forked from (the
kernel records the old address space's high-water mark at ``exec``), so a child spawned directly
by the benchmark process could never report less than the benchmark's own peak. This launcher is
started once as a fresh interpreter, stays small (``os``, ``json`` and ``time``; no site-packages),
and reports per-child wall time, CPU time and peak RSS from ``os.wait4``.

Protocol: one JSON request per line on stdin ``{"argv": [...], "env": {...} | null,
"stdout": path, "stderr": path}``, one JSON reply per line on stdout ``{"status", "wall",
"cpu", "rss_kib"}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def spawn(request: dict[str, Any]) -> dict[str, Any]:
    argv = request["argv"]
    env = request["env"] if request["env"] is not None else dict(os.environ)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, request["stdout"], flags, 0o600),
        (os.POSIX_SPAWN_OPEN, 2, request["stderr"], flags, 0o600),
    ]
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    return {
        "status": os.waitstatus_to_exitcode(status),
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_kib": usage.ru_maxrss,
    }


def main() -> None:
    for line in sys.stdin:
        reply = spawn(json.loads(line))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
