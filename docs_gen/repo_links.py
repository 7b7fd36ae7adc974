"""Links between the repository's Markdown files, made to work on the site as well as on GitHub.

A page may link to a repository file outside docs/ (`[the settings](../src/covid_etl/settings.py)`)
and CHANGELOG.md, included as a page, links into docs/ from the root (`docs/reliability.md`).
Both read well in the repository; on the site the first has no page to go to and the second
points one directory too deep. The site keeps such a link's text and names the file instead
(`the settings (`src/covid_etl/settings.py`)`), and moves links into docs/ to where the page is.
A repository file the site shows as a page of its own (CHANGELOG.md, as changelog.md) is linked
to that page. A link to a file that does not exist is left alone, so the strict build still
reports it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = "docs"
# An inline link (not an image): [text](target "optional title").
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]\n]+)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)
FENCE = re.compile(r"^\s*(```|~~~)")
# Repository files outside docs/ that the site shows as a page, and where that page lands.
SITE_PAGES = {"CHANGELOG.md": "docs/changelog.md"}


def prose_lines(markdown: str) -> Iterator[tuple[str, bool]]:
    """Each line of ``markdown`` (its newline kept), and whether it is prose: outside fenced code
    blocks, where a link is a link."""
    fence = None
    for line in markdown.splitlines(keepends=True):
        opened = FENCE.match(line)
        if opened and fence is None:
            fence = opened.group(1)
        elif opened and opened.group(1) == fence:
            fence = None
        elif fence is None:
            yield line, True
            continue
        yield line, False


def site_links(markdown: str, source: str, page: str, root: Path = ROOT) -> str:
    """``markdown`` of the repository file ``source`` (a path from the repository root), as the
    site page that lands at ``page`` (also from the root, under docs/) should link."""
    return "".join(
        LINK.sub(lambda m: _link(m, source, page, root), line) if prose else line
        for line, prose in prose_lines(markdown)
    )


def _link(match: re.Match[str], source: str, page: str, root: Path) -> str:
    text, target = match["text"], match["target"]
    if EXTERNAL.match(target):
        return match[0]
    path, _, anchor = target.partition("#")
    in_repo = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    if in_repo.startswith("../") or not (root / in_repo).exists():
        return match[0]  # outside the repository or missing: the build reports it
    if in_repo in SITE_PAGES:
        moved = posixpath.relpath(SITE_PAGES[in_repo], posixpath.dirname(page))
        return f"[{text}]({moved}{'#' + anchor if anchor else ''}{match['title'] or ''})"
    if in_repo == DOCS or in_repo.startswith(DOCS + "/"):
        if source == page:
            return match[0]
        moved = posixpath.relpath(in_repo, posixpath.dirname(page))
        return f"[{text}]({moved}{'#' + anchor if anchor else ''}{match['title'] or ''})"
    return text if in_repo in text else f"{text} (`{in_repo}`)"
