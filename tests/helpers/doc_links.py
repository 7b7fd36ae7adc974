"""The relative links of the repository's Markdown files, and whether each leads somewhere: to a
file that exists in the repository and, for a link with an anchor, to a heading of that file.

Headings get the ids the documentation site gives them (Python-Markdown's ``toc`` extension, as
configured in mkdocs.yml): an explicit ``{#id}``, or the heading's text made a slug.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

# The site's own slug function, so that the ids here stay the site's (Markdown ships no types).
from markdown.extensions.toc import slugify  # type: ignore[import-untyped]

from docs_gen.repo_links import prose_lines

# The target of an inline link or image, ``](target)`` or ``](target "title")``.
TARGET = re.compile(r"\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"(`+).+?\1")
WEB = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
HEADING = re.compile(r"^(#{1,6})\s+(?P<text>.+?)\s*#*\s*$")
EXPLICIT_ID = re.compile(r"\s*\{:?\s*#(?P<id>[\w-]+)[^}]*\}$")
INLINE_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def relative_links(markdown: str) -> list[str]:
    """Every link target in the prose of ``markdown`` (not in code) that is not a web address:
    a path, a path with an anchor, or an anchor alone."""
    found = []
    for line, prose in prose_lines(markdown):
        if prose:
            text = INLINE_CODE.sub("", line)
            found += [m["target"] for m in TARGET.finditer(text) if not WEB.match(m["target"])]
    return found


def heading_ids(markdown: str) -> set[str]:
    """The ids of the headings of ``markdown``, as the site makes them (a repeated id gets
    ``_1``, ``_2``, ... as Python-Markdown numbers them)."""
    ids: set[str] = set()
    for line, prose in prose_lines(markdown):
        heading = HEADING.match(line.rstrip("\n")) if prose else None
        if heading is None:
            continue
        text = heading["text"]
        explicit = EXPLICIT_ID.search(text)
        base = explicit["id"] if explicit else slugify(INLINE_LINK.sub(r"\1", text), "-")
        unique, n = base, 0
        while unique in ids:
            n += 1
            unique = f"{base}_{n}"
        ids.add(unique)
    return ids


def broken_links(path: Path, root: Path) -> list[str]:
    """The links of the Markdown file ``path`` that lead nowhere in the repository at ``root``,
    each as ``file: target (why)``."""
    source = path.relative_to(root).as_posix()
    broken = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file_part, _, anchor = target.partition("#")
        resolved = source
        if file_part:
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), file_part))
        linked = root / resolved
        if resolved.startswith("../") or not linked.exists():
            broken.append(f"{source}: {target} (no file {resolved})")
        elif anchor and linked.suffix == ".md" and anchor not in heading_ids(linked.read_text()):
            broken.append(f"{source}: {target} (no heading #{anchor} in {resolved})")
    return broken
