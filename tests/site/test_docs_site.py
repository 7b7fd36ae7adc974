"""The documentation site: every page in the navigation exists, the strict build is clean and
offline, and the generated reference covers every command, setting and endpoint."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from covid_etl.cli import app
from covid_etl.settings import Settings
from docs_gen import cli_reference, http_reference, settings_reference
from docs_gen.pages import BUILD_ONLY, changelog_page, generated_pages
from docs_gen.repo_links import site_links
from tests.helpers.docs_site import ROOT, session_site

DOCS = ROOT / "docs"


def nav_pages(nav: Any) -> Iterator[str]:
    """Every page path named in an MkDocs navigation tree."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_pages(value)


@pytest.fixture(scope="module")
def config() -> Any:
    from mkdocs.config import load_config

    return load_config(str(ROOT / "mkdocs.yml"))


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return generated_pages()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_site(tmp_path_factory)  # one build for both docs modules


def test_every_page_in_the_navigation_exists_or_is_written_at_build(config: Any) -> None:
    listed = list(nav_pages(config["nav"]))
    missing = [p for p in listed if not (DOCS / p).is_file() and p not in BUILD_ONLY]
    assert missing == []
    expected = {"index.md", "write-up.md", "changelog.md", "reference/cli.md", "examples.md"}
    assert expected | {"reference/database.md"} <= set(listed)


def test_every_page_in_docs_is_in_the_navigation(config: Any) -> None:
    listed = set(nav_pages(config["nav"]))
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "vendor" not in p.parts}
    assert on_disk - listed == set()


def test_pages_written_at_build_have_no_copy_in_docs() -> None:
    assert [p for p in BUILD_ONLY if (DOCS / p).exists()] == []


def command_lines(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
    """Walked here, independently of the page writer, so a command it skips is caught."""
    for name, command in group.commands.items():
        yield f"{prefix} {name}", command
        if isinstance(command, click.Group):
            yield from command_lines(command, f"{prefix} {name}")


def section(page: str, heading: str) -> str:
    """The text under ``## heading``, up to the next level-two heading."""
    start = page.index(f"## {heading}")
    end = page.find("\n## ", start + 1)
    return page[start : end if end != -1 else len(page)]


def test_cli_reference_has_every_command_and_option(pages: dict[str, str]) -> None:
    page = pages["reference/cli.md"]
    commands = list(command_lines(app, "covid-etl"))
    assert "covid-etl db copy" in dict(commands)
    for line, command in [("covid-etl", app), *commands]:
        text = section(page, f"`{line}`")
        assert f"Usage: {line} " in text
        for param in command.params:
            if isinstance(param, click.Option):
                assert any(opt in text for opt in param.opts), (line, param.name)
        if command.help:
            assert command.help.split("\n")[0].split(".")[0] in " ".join(text.split())


def test_cli_reference_help_does_not_depend_on_the_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = cli_reference.page()
    monkeypatch.setenv("COLUMNS", "200")
    assert cli_reference.page() == narrow


def test_settings_reference_has_every_setting_with_its_description(
    pages: dict[str, str],
) -> None:
    page = pages["reference/settings.md"]
    headings = re.findall(r"^## `(COVID_ETL_\w+)`", page, flags=re.MULTILINE)
    fields = dataclasses.fields(Settings)
    assert headings == [f.metadata["env"] for f in fields]
    for f in fields:
        text = section(page, f"`{f.metadata['env']}`")
        assert f.metadata["doc"] in text
        assert f"{{#{f.metadata['env'].lower()}}}" in text


def test_settings_reference_shows_defaults_as_they_are_written() -> None:
    rows = {row.env: row for row in settings_reference.setting_rows(Settings)}
    assert rows["COVID_ETL_OFFLINE"].default == "false"
    assert rows["COVID_ETL_CONNECT_TIMEOUT"].default == "10"
    assert rows["COVID_ETL_NOTIFY"].default == ""
    assert rows["COVID_ETL_SCHEDULE"].default == "0 21 * * *"


def test_http_reference_has_every_operation_parameter_and_response(
    pages: dict[str, str],
) -> None:
    page = pages["reference/http-api.md"]
    document = http_reference.openapi_document()
    count = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            count += 1
            text = section(page, f"`{method.upper()} {path}`")
            for parameter in operation.get("parameters", []):
                assert f"| `{parameter['name']}` | {parameter['in']} |" in text
            for status in operation["responses"]:
                assert f"| `{status}` |" in text
    assert count >= 10
    for name in document["components"]["schemas"]:
        assert f"### {name} {{#schema-{name.lower()}}}" in page


def test_http_reference_describes_types_in_words() -> None:
    describe = http_reference.describe_type
    assert describe({"type": "integer", "minimum": 1, "maximum": 5}) == "integer (1 to 5)"
    assert describe({"anyOf": [{"enum": ["json", "csv"]}, {"type": "null"}]}) == (
        "one of `json`, `csv` or null"
    )
    assert describe({"type": "array", "items": {"$ref": "#/components/schemas/RunOut"}}) == (
        "array of [RunOut](#schema-runout)"
    )
    optional_date = {"anyOf": [{"type": "string"}, {"type": "null"}], "format": "date"}
    assert describe(optional_date) == "string (date) or null"


def test_changelog_page_is_the_repository_changelog(pages: dict[str, str]) -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert pages["changelog.md"] == site_links(changelog, "CHANGELOG.md", "docs/changelog.md")
    assert changelog_page().startswith("# Changelog")


def test_site_builds_strict_with_every_page(site: Path, config: Any) -> None:
    for page in nav_pages(config["nav"]):
        assert (site / page.replace(".md", ".html")).is_file(), page
    cli = (site / "reference" / "cli.html").read_text()
    assert "covid-etl db copy" in cli


# A tag that makes the browser fetch something: scripts, stylesheets, fonts, images, frames.
FETCHING = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"")


def test_built_site_fetches_nothing_from_another_origin(site: Path) -> None:
    outside = {
        (str(page.relative_to(site)), url)
        for page in site.rglob("*.html")
        for url in FETCHING.findall(page.read_text())
        if re.match(r"(?:[a-z]+:)?//", url)
    }
    assert outside == set()
    assert not list(site.rglob("*.woff*")), "fonts come from the system, none are shipped"
    assert (site / "assets" / "vendor" / "mermaid" / "mermaid.min.js").is_file()
    assert (site / "assets" / "vendor" / "mermaid" / "LICENSE").is_file()


def test_link_to_a_repository_file_outside_docs_names_the_file_on_the_site() -> None:
    page = "docs/write-up.md"
    text = (
        "See [the settings module](../src/covid_etl/settings.py#L1) and [`Makefile`](../Makefile)."
    )
    assert site_links(text, page, page) == (
        "See the settings module (`src/covid_etl/settings.py`) and `Makefile`."
    )


def test_links_the_site_can_follow_or_must_report_are_left_alone() -> None:
    page = "docs/write-up.md"
    kept = [
        "[data](data-contract.md#change-log)",  # a page of the site: MkDocs checks it
        "[gone](../src/covid_etl/gone.py)",  # missing: the strict build reports it
        "![figure](figures/x.svg)",  # an image
        "[NYT](https://github.com/nytimes/covid-19-data)",
        "[top](#quick-start)",
        "```markdown\n[example](../README.md)\n```\n",  # inside a code block
    ]
    for text in kept:
        assert site_links(text, page, page) == text


def test_links_to_the_changelog_lead_to_its_site_page() -> None:
    text = "[what changed](../CHANGELOG.md#unreleased) and [again](../../CHANGELOG.md)"
    assert site_links(text, "docs/upgrading.md", "docs/upgrading.md") == (
        "[what changed](changelog.md#unreleased) and [again](../../CHANGELOG.md)"
    )  # the second leaves the repository: the strict build reports it
    nested = "[what changed](../../CHANGELOG.md)"
    assert site_links(nested, "docs/reference/cli.md", "docs/reference/cli.md") == (
        "[what changed](../changelog.md)"
    )


def test_changelog_links_into_docs_point_at_the_site_pages() -> None:
    text = "[the fault matrix](docs/reliability.md#sources) and [README](README.md)"
    assert site_links(text, "CHANGELOG.md", "docs/changelog.md") == (
        "[the fault matrix](reliability.md#sources) and README (`README.md`)"
    )
