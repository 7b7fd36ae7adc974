"""Building the documentation site the way `make docs` does, into a directory of the test's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def built_site(site_dir: Path) -> Path:
    """``site_dir`` with the site built into it: the build succeeded and printed nothing but
    its usual lines."""
    built = build_site(site_dir)
    assert built.returncode == 0, built.stderr
    assert unexpected_lines(built.stdout + built.stderr) == []
    return site_dir
