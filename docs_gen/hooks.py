"""MkDocs hook (``hooks:`` in mkdocs.yml): adds the changelog page to the site's files and fits
links to repository files outside docs/ to the site.

The reference pages are committed under docs/reference/ (``make reference`` writes them; a test
fails when one is stale), so the build reads them like any other page. The changelog page is
CHANGELOG.md itself, written into the site only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# MkDocs loads this file by path; the package beside it needs the repository root importable.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from mkdocs.structure.files import File, Files  # noqa: E402

from docs_gen.pages import BUILD_ONLY, build_only_pages  # noqa: E402
from docs_gen.repo_links import site_links  # noqa: E402


def on_files(files: Files, config: Any) -> Files:
    for path, markdown in build_only_pages().items():
        if files.get_file_from_path(path) is not None:
            raise ValueError(f"docs/{path} is written at build time; delete the file in docs/")
        files.append(File.generated(config, path, content=markdown))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Links to repository files outside docs/ name the file instead (see repo_links)."""
    if page.file.src_uri in BUILD_ONLY:
        return markdown
    path = f"docs/{page.file.src_uri}"
    return site_links(markdown, source=path, page=path)
