"""Tests that keep the documentation honest.

The README is the short front door: the full lists of commands and settings live in the site's
generated reference pages, which tests/site/test_docs_site.py checks against the code. Here: the
README stays short, names those pages, links to every docs page, and each link leads to a file
that exists in the repository."""

from __future__ import annotations

import re
from pathlib import Path

from covid_etl.settings import setting_docs
from docs_gen.pages import GENERATED

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()

# Relative Markdown links ``[text](target)``; web addresses are not the repository's to check.
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(text: str) -> list[str]:
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_readme_is_short() -> None:
    assert len(README.splitlines()) < 150


def test_every_readme_link_leads_to_a_file_in_the_repository() -> None:
    """Read on a code host, the README links only to files that exist there: the generated
    reference pages exist in the built site alone, so it names them without a link."""
    links = relative_links(README)
    assert len(links) >= 15
    missing = [target for target in links if not (ROOT / target.split("#", 1)[0]).exists()]
    assert missing == []
    generated = {f"docs/{page}" for page in GENERATED}
    assert [t for t in links if t.split("#", 1)[0] in generated] == []


def test_readme_names_the_generated_reference() -> None:
    for words in ("command-line reference", "settings reference", "the HTTP API"):
        assert words in " ".join(README.split()), words


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
