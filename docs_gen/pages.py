"""The pages the site build writes from the code and the repository, by path in the site."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import cli_reference, http_reference, settings_reference

ROOT = Path(__file__).resolve().parents[1]


def changelog_page() -> str:
    """The repository's CHANGELOG.md, so the site's changelog is never a copy to keep in step."""
    from .repo_links import site_links

    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return site_links(text, source="CHANGELOG.md", page="docs/changelog.md")


GENERATED: dict[str, Callable[[], str]] = {
    "reference/cli.md": cli_reference.page,
    "reference/settings.md": settings_reference.page,
    "reference/http-api.md": http_reference.page,
    "changelog.md": changelog_page,
}


def generated_pages() -> dict[str, str]:
    """Path in the docs directory -> Markdown, for every generated page."""
    return {path: write() for path, write in GENERATED.items()}
