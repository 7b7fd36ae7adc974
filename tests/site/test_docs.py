"""Tests that keep the documentation honest.

The README is the short front door: the full lists of commands and settings live in the
reference pages written from the code (docs/reference/), which tests/site/test_docs_site.py checks
against the code. Here: the README stays short, names those pages and links to every docs page;
tests/site/test_links.py checks that each link of every doc leads to a file in the repository."""

from __future__ import annotations

import re
from pathlib import Path

from covid_etl.settings import setting_docs
from docs_gen.pages import REFERENCE
from tests.helpers.doc_links import relative_links

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_is_short() -> None:
    assert len(README.splitlines()) < 150


def test_readme_links_to_every_reference_page() -> None:
    """The reference pages are committed (docs/reference/), so the README links to them."""
    linked = {t.split("#", 1)[0] for t in relative_links(README)}
    assert {f"docs/{page}" for page in REFERENCE} - linked == set()


def test_readme_links_to_every_guide() -> None:
    linked = {t.split("#", 1)[0] for t in relative_links(README)}
    pages = {
        f"docs/{name}.md"
        for name in (
            "index",
            "how-it-works",
            "self-hosted",
            "configuration",
            "postgresql",
            "deploy-aws",
            "notifications",
            "operations",
            "api",
            "data-contract",
            "reliability",
            "benchmarks",
            "write-up",
        )
    }
    assert pages - linked == set()
    assert {"CHANGELOG.md", "CONTRIBUTING.md"} <= linked


def test_readme_names_every_top_level_command() -> None:
    """One line each; their options are the CLI reference's job."""
    from covid_etl.cli import app

    missing = [name for name in app.commands if f"`covid-etl {name}" not in README]
    assert missing == []


def test_readme_shows_how_to_build_and_preview_the_site() -> None:
    assert "make docs " in README and "make docs-serve" in README


def test_every_setting_has_a_description() -> None:
    assert all(doc.strip() for _, _, doc in setting_docs())


def test_changelog_and_contributing_exist() -> None:
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    assert "make test" in (ROOT / "CONTRIBUTING.md").read_text()


def test_every_test_the_documentation_names_exists() -> None:
    """The fault matrix and the other pages cite tests by id (`tests/x.py::test_name`): each
    names a test function of that file."""
    cited = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)")
    missing, checked = [], 0
    for page in sorted((ROOT / "docs").glob("*.md")):
        for path, name in cited.findall(page.read_text(encoding="utf-8")):
            checked += 1
            test_file = ROOT / path
            if not test_file.exists() or not re.search(
                rf"^(?:async )?def {name}\(", test_file.read_text(encoding="utf-8"), re.MULTILINE
            ):
                missing.append(f"{page.name}: {path}::{name}")
    assert missing == [] and checked > 150
