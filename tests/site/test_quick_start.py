"""The README's quick start: `make run` and `make serve` install the package and what running
needs, never the development toolchain (the dev extra takes minutes on a cold cache; a run
needs none of it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def planned(target: str, tmp_path: Path, **variables: str) -> list[str]:
    """The commands `make TARGET` would run in a fresh clone (a venv that does not exist yet)."""
    assigned = [
        f"{name}={value}" for name, value in {"VENV": str(tmp_path / "venv"), **variables}.items()
    ]
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", "-C", str(ROOT), target, *assigned],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return done.stdout.splitlines()


def installs(lines: list[str]) -> list[str]:
    """What each editable `pip install -e '...'` line installs: `.`, `.[postgres]`..."""
    return [m for line in lines for m in re.findall(r"pip install .*-e '([^']+)'", line)]


@pytest.mark.parametrize("target", ["run", "serve"])
def test_run_and_serve_install_the_package_without_the_development_extras(target, tmp_path):
    lines = planned(target, tmp_path)
    assert installs(lines) == ["."]
    assert not any(re.search(r"\[(dev|bench)", line) for line in lines)
    assert any(line.endswith(f"bin/covid-etl {target}") for line in lines)


@pytest.mark.parametrize(
    ("url", "extra"),
    [("postgresql://etl@db.example/covid", ".[postgres]"), ("s3://bucket/covid", ".[s3]"),
     ("sqlite:///data/covid.db", ".")],
)  # fmt: skip
def test_run_adds_only_the_extra_its_database_url_needs(url, extra, tmp_path):
    assert installs(planned("run", tmp_path, COVID_ETL_DATABASE_URL=url)) == [extra]


def test_run_offline_passes_the_flag(tmp_path):
    assert planned("run", tmp_path, OFFLINE="1")[-1].endswith("bin/covid-etl run --offline")


def test_readme_leads_with_the_quick_start_and_keeps_the_tests_for_contributors():
    sections = re.findall(r"^## (.+)$", README, flags=re.MULTILINE)
    assert sections[0] == "Quick start"
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make run OFFLINE=1" in quick_start and "make serve" in quick_start
    assert "make test" not in quick_start
    assert "](docs/images/dashboard-desktop.png)" in quick_start
    development = README.split("## Development", 1)[1].split("\n## ", 1)[0]
    assert "make test " in development
    for needs in ("PostgreSQL", "Chromium", "skips"):
        assert needs in development, needs
