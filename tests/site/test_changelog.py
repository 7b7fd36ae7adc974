"""CHANGELOG.md is cut into released versions, and the package's version is one of them."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

import covid_etl
from covid_etl.cli import app

ROOT = Path(__file__).parents[2]
CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Keep a Changelog's headings: "## [Unreleased]" and "## [0.5.0] - 2026-12-06".
HEADING = re.compile(r"^## \[(?P<name>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?$", re.MULTILINE)


def released() -> list[tuple[tuple[int, ...], dt.date]]:
    """(version, date) of every release heading, in the file's order."""
    found = []
    for match in HEADING.finditer(CHANGELOG):
        if match["name"] == "Unreleased":
            continue
        assert re.fullmatch(r"\d+\.\d+\.\d+", match["name"]), match[0]
        assert match["date"], f"{match[0]}: a release heading needs its date"
        version = tuple(int(part) for part in match["name"].split("."))
        found.append((version, dt.date.fromisoformat(match["date"])))
    return found


def test_the_package_version_has_its_release_in_the_changelog() -> None:
    version = PYPROJECT["project"]["version"]
    assert covid_etl.__version__ == version
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", CHANGELOG, re.M)


def test_releases_are_newest_first_with_unreleased_on_top() -> None:
    headings = HEADING.findall(CHANGELOG)
    assert headings[0][0] == "Unreleased"
    assert all(name != "Unreleased" for name, _ in headings[1:])
    versions = [version for version, _ in released()]
    dates = [day for _, day in released()]
    assert len(versions) >= 2
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    assert dates == sorted(dates, reverse=True)
    # Every change is under a heading: before the first one there is only the preamble.
    assert "### " not in CHANGELOG.split("## [", 1)[0]


def test_covid_etl_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"covid-etl, version {covid_etl.__version__}\n"
