"""The pages written from the code and the repository, by path under docs/.

The reference pages are committed under docs/reference/, so that they read in the repository as
on the site: ``python -m docs_gen`` (``make reference``) writes them, and
tests/site/test_reference_pages.py fails when a committed page is not what the code writes. The
changelog page is written at each site build only (docs_gen/hooks.py): it is CHANGELOG.md itself,
which the repository already shows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import cli_reference, database_reference, http_reference, settings_reference

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def changelog_page() -> str:
    """The repository's CHANGELOG.md, so the site's changelog is never a copy to keep in step."""
    from .repo_links import site_links

    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return site_links(text, source="CHANGELOG.md", page="docs/changelog.md")


# Committed under docs/, written by `make reference`.
REFERENCE: dict[str, Callable[[], str]] = {
    "reference/cli.md": cli_reference.page,
    "reference/settings.md": settings_reference.page,
    "reference/http-api.md": http_reference.page,
    "reference/database.md": database_reference.page,
}
# Written into the site at each build, never into docs/.
BUILD_ONLY: dict[str, Callable[[], str]] = {"changelog.md": changelog_page}
GENERATED: dict[str, Callable[[], str]] = {**REFERENCE, **BUILD_ONLY}


def as_file(markdown: str) -> bytes:
    """A page's bytes as committed: UTF-8, one newline at the end, none doubled there."""
    return (markdown.rstrip("\n") + "\n").encode("utf-8")


def reference_pages() -> dict[str, bytes]:
    """Path under docs/ -> the bytes of each reference page, as the code writes it now."""
    return {path: as_file(write()) for path, write in REFERENCE.items()}


def build_only_pages() -> dict[str, str]:
    return {path: write() for path, write in BUILD_ONLY.items()}


def generated_pages() -> dict[str, str]:
    """Path under docs/ -> Markdown, for every page written from the code."""
    return {path: write() for path, write in GENERATED.items()}


def stale_pages(docs: Path = DOCS) -> list[str]:
    """The reference pages under ``docs`` that are missing or differ from what the code writes."""
    return [
        path
        for path, content in reference_pages().items()
        if not (docs / path).is_file() or (docs / path).read_bytes() != content
    ]


def write_reference(docs: Path = DOCS) -> list[str]:
    """Write every reference page under ``docs`` that differs from what the code writes; the
    pages written."""
    written = []
    for path, content in reference_pages().items():
        target = docs / path
        if target.is_file() and target.read_bytes() == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(path)
    return written
