"""MkDocs hook (``hooks:`` in mkdocs.yml): adds the generated pages to the site's files and
fits links to repository files outside docs/ to the site.

The pages exist only in the build, never in docs/, so there is nothing to regenerate by hand and
nothing that can go stale.
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

from docs_gen.pages import GENERATED, generated_pages  # noqa: E402
from docs_gen.repo_links import site_links  # noqa: E402


def on_files(files: Files, config: Any) -> Files:
    for path, markdown in generated_pages().items():
        if files.get_file_from_path(path) is not None:
            raise ValueError(f"docs/{path} is generated at build time; delete the file in docs/")
        files.append(File.generated(config, path, content=markdown))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Links to repository files outside docs/ name the file instead (see repo_links)."""
    if page.file.src_uri in GENERATED:
        return markdown
    path = f"docs/{page.file.src_uri}"
    return site_links(markdown, source=path, page=path)
