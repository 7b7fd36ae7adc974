"""Where the browser tests put their screenshots.

Every screenshot goes to test-artifacts/ (not committed), the whole page. With
COVID_ETL_DOCS_SCREENSHOTS=1 (`make screenshots`) the ones the write-up shows are also written to
docs/images/: the visible viewport, or just the element the write-up is about. The tests fix the
viewport's size, which keeps the files small and the framing the same from one capture to the
next.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_IMAGES = ROOT / "docs" / "images"
DOCS_SCREENSHOTS = "COVID_ETL_DOCS_SCREENSHOTS"


def save_screenshot(
    page: Any, name: str, *, for_docs: bool = False, element: str | None = None
) -> list[Path]:
    """Save ``name``.png of the page to test-artifacts/ and, when asked, to docs/images/: the
    element matching the CSS selector ``element``, or the viewport."""
    ARTIFACTS.mkdir(exist_ok=True)
    saved = [ARTIFACTS / f"{name}.png"]
    page.screenshot(path=str(saved[0]), full_page=True)
    if for_docs and os.environ.get(DOCS_SCREENSHOTS) == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        saved.append(DOCS_IMAGES / f"{name}.png")
        target = page.locator(element) if element else page
        target.screenshot(path=str(saved[1]))
    return saved
