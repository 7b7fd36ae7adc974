"""Every relative link in the repository's Markdown documentation leads to a file that exists in
the repository, and to a heading of it when the link names one: the pages read on a code host as
on the site (whose strict build checks its own links, but not the README's or CONTRIBUTING's,
and not links to a page that exists only in the built site)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.doc_links import broken_links, heading_ids, relative_links

ROOT = Path(__file__).parents[2]


def documentation() -> list[Path]:
    docs = ROOT / "docs"
    pages = sorted(docs.glob("*.md")) + sorted((docs / "reference").glob("*.md"))
    return pages + [ROOT / name for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")]


@pytest.mark.parametrize("path", documentation(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_and_heading_in_the_repository(path: Path) -> None:
    assert broken_links(path, ROOT) == []


def test_the_documentation_is_all_there_and_links_widely() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in documentation()}
    assert {"docs/index.md", "docs/examples.md", "docs/reference/database.md"} <= names
    assert sum(len(relative_links(p.read_text(encoding="utf-8"))) for p in documentation()) > 200


def test_site_pages_name_their_links_in_words() -> None:
    """On the site a link reads as its text: "the data contract", not "data-contract.md". (A
    link to a repository file outside docs/ shows its path on purpose: it has no page.)"""
    bare = re.compile(r"(?<!!)\[([\w.-]+\.md)\]\(([\w.-]+\.md)(?:#[^)]*)?\)")
    named = [
        f"{page.name}: [{m[1]}]"
        for page in sorted((ROOT / "docs").glob("*.md"))
        for m in bare.finditer(page.read_text(encoding="utf-8"))
    ]
    assert named == []


def write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text, encoding="utf-8")


def test_broken_links_names_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "docs/a.md": "# A\n\n## Only here\n",
            "docs/b.md": "[ok](a.md) [ok](a.md#only-here) [ok](#b) [file](gone.md) "
            "[heading](a.md#elsewhere) [out](../../outside.md) [self](#nowhere)\n\n# B\n",
        },
    )
    assert broken_links(tmp_path / "docs" / "b.md", tmp_path) == [
        "docs/b.md: gone.md (no file docs/gone.md)",
        "docs/b.md: a.md#elsewhere (no heading #elsewhere in docs/a.md)",
        "docs/b.md: ../../outside.md (no file ../outside.md)",
        "docs/b.md: #nowhere (no heading #nowhere in docs/b.md)",
    ]


def test_links_in_code_and_web_addresses_are_not_checked() -> None:
    text = (
        "[web](https://example.com/x.md) [mail](mailto:a@example.com) `[code](gone.md)`\n"
        "```markdown\n[block](gone.md)\n```\n"
        '[kept](here.md "title") ![image](figures/x.svg)\n'
    )
    assert relative_links(text) == ["here.md", "figures/x.svg"]


def test_heading_ids_are_the_sites() -> None:
    text = (
        "# Using the data\n"
        "## `GET /api/v1/runs?limit=20`\n"
        "#### As of a day: `as_of`\n"
        "## `COVID_ETL_PORT` {#covid_etl_port}\n"
        "## [Linked](x.md) heading\n"
        "## Notes\n## Notes\n"
        "```sh\n# not a heading\n```\n"
    )
    assert heading_ids(text) == {
        "using-the-data",
        "get-apiv1runslimit20",
        "as-of-a-day-as_of",
        "covid_etl_port",
        "linked-heading",
        "notes",
        "notes_1",
    }
