"""Building the documentation site the way `make docs` does, into a directory of the test's."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# What a clean strict build says, and nothing else: any other line (a warning, a link MkDocs
# could not resolve, a page left out of the navigation) is something to fix.
CLEAN_BUILD_LINES = (
    "INFO    -  Cleaning site directory",
    "INFO    -  Building documentation to directory: ",
    "INFO    -  Documentation built in ",
)


def build_site(site_dir: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of the repository's mkdocs.yml into ``site_dir``."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def unexpected_lines(output: str) -> list[str]:
    return [
        line
        for line in output.splitlines()
        if line.strip() and not line.startswith(CLEAN_BUILD_LINES)
    ]


def session_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built once for the test session: the build succeeded and printed nothing but
    its usual lines. The xdist workers of a session share one build (the first to ask makes it,
    under a lock, and keeps its output beside it for every caller's checks); pages are only
    read."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # this session's directory, which holds each worker's
    shared = base / "docs-site"
    shared.mkdir(exist_ok=True)
    site_dir, report = shared / "site", shared / "build.json"
    with open(shared / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not report.exists():
            built = build_site(site_dir)
            output = {"returncode": built.returncode, "stderr": built.stderr}
            report.write_text(json.dumps({**output, "output": built.stdout + built.stderr}))
    result = json.loads(report.read_text())
    assert result["returncode"] == 0, result["stderr"]
    assert unexpected_lines(result["output"]) == []
    return site_dir
