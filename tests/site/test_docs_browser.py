"""The documentation site in real headless Chromium: built with `mkdocs build --strict` into a
temporary directory and served by a plain static HTTP server on loopback, as any web server
would. Nothing may be fetched from another origin and no script may fail. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.docs_site import ROOT, session_site
from tests.helpers.screenshots import ARTIFACTS
from tests.web import test_dashboard_browser as dashboard

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = dashboard.browser  # the same Chromium fixture


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_site(tmp_path_factory)  # one build for both docs modules


@pytest.fixture(scope="module")
def site_url(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Visit:
    """A page of the site plus what it did that a test may object to."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


# The theme draws each diagram into a closed shadow root, out of reach of the test; opened here
# so the test can look at the SVG it drew.
OPEN_SHADOW_ROOTS = """
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attach.call(this, { ...init, mode: "open" });
};
"""


def visit(browser: Any, site_url: str, path: str, width: int = 1280) -> Visit:
    context = browser.new_context(service_workers="block", viewport={"width": width, "height": 900})
    page = context.new_page()
    page.add_init_script(OPEN_SHADOW_ROOTS)
    seen = Visit(page)

    def route(route: Any) -> None:
        if route.request.url.startswith(site_url + "/"):
            route.continue_()
        else:  # nothing may leave the site; record and refuse
            seen.outside.append(route.request.url)
            route.abort()

    context.route("**/*", route)

    def on_console(message: Any) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text)

    def on_response(response: Any) -> None:
        if response.status >= 400:
            seen.failed.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: seen.console_errors.append(str(e)))
    page.on("requestfailed", lambda r: seen.failed.append(r.url))
    page.on("response", on_response)
    page.goto(f"{site_url}/{path}", wait_until="networkidle")
    return seen


def assert_clean(seen: Visit) -> None:
    assert seen.console_errors == []
    assert seen.outside == []
    assert [url for url in seen.failed if url not in seen.outside] == []


def screenshot(seen: Visit, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    seen.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_home_page_shows_the_quick_start_and_the_navigation(browser: Any, site_url: str) -> None:
    seen = visit(browser, site_url, "index.html")
    page = seen.page
    assert page.locator("article h1").inner_text().rstrip("¶").strip() == "covid-etl"
    assert "make run" in page.locator("article").inner_text()
    nav = page.locator("nav.md-nav--primary").inner_text()
    for title in ("Self-hosted", "Notifications", "Command line", "HTTP API", "Write-up"):
        assert title in nav
    fonts = page.evaluate("() => [...document.fonts].map(f => f.family)")
    assert fonts == []  # the system's fonts; none are downloaded
    screenshot(seen, "docs-home.png")
    assert_clean(seen)


def test_write_up_draws_its_mermaid_diagram_from_the_site(browser: Any, site_url: str) -> None:
    seen = visit(browser, site_url, "write-up.html")
    page = seen.page
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mermaid')].every(d => d.shadowRoot"
        " && d.shadowRoot.querySelector('svg'))",
        timeout=15_000,
    )
    boxes = page.evaluate(
        "() => [...document.querySelectorAll('.mermaid')].map(d => {"
        " const r = d.shadowRoot.querySelector('svg').getBoundingClientRect();"
        " return [r.width, r.height, d.shadowRoot.querySelectorAll('.node').length]; })"
    )
    assert boxes
    assert all(width > 100 and height > 20 and nodes > 0 for width, height, nodes in boxes)
    figures = page.locator("article img")
    for index in range(figures.count()):  # the write-up's figures, each loaded and drawn
        drawn = "img => img.complete && img.getBoundingClientRect().width > 100"
        assert figures.nth(index).evaluate(drawn), figures.nth(index).get_attribute("src")
    mermaid = [u for u in page.evaluate("() => performance.getEntries().map(e => e.name)")
               if "mermaid" in u]  # fmt: skip
    assert mermaid and all(u.startswith(site_url) for u in mermaid)
    screenshot(seen, "docs-write-up.png")
    assert_clean(seen)


# The pages that draw Mermaid diagrams, found from their sources so a new diagram is checked too.
MERMAID_FENCE = re.compile(r"^ *```mermaid *$", re.MULTILINE)
MERMAID_PAGES = sorted(
    page.relative_to(ROOT / "docs").with_suffix(".html").as_posix()
    for page in (ROOT / "docs").rglob("*.md")
    if MERMAID_FENCE.search(page.read_text(encoding="utf-8"))
)
# The smallest label size a reader can read without zooming: a diagram wider than the column is
# scaled down to fit it, its labels with it.
READABLE_LABEL_PX = 11

# Per diagram: the smallest label as drawn (its font size times the factor the SVG is scaled by
# to fit the column), that label's text, and how far the SVG reaches past the article's edge.
DRAWN_LABELS = """() => {
  const article = document.querySelector("article").getBoundingClientRect();
  return [...document.querySelectorAll(".mermaid")].map(diagram => {
    const svg = diagram.shadowRoot.querySelector("svg");
    const box = svg.getBoundingClientRect();
    const scale = box.width / svg.viewBox.baseVal.width;
    const labels = [...diagram.shadowRoot.querySelectorAll(
      ".nodeLabel, .edgeLabel, .cluster-label, text")].filter(e => e.textContent.trim());
    const sizes = labels.map(e => [parseFloat(getComputedStyle(e).fontSize) * scale,
                                   e.textContent.trim()]);
    sizes.sort((a, b) => a[0] - b[0]);
    return {smallest: sizes[0], labels: sizes.length, overflow: box.right - article.right};
  });
}"""


@pytest.mark.parametrize("width", [1280, 390])  # a desktop window and a phone
def test_mermaid_diagrams_are_readable_at_the_column_width(
    browser: Any, site_url: str, width: int
) -> None:
    assert "write-up.html" in MERMAID_PAGES
    for path in MERMAID_PAGES:
        seen = visit(browser, site_url, path, width=width)
        page = seen.page
        page.wait_for_function(
            "() => [...document.querySelectorAll('.mermaid')].every(d => d.shadowRoot"
            " && d.shadowRoot.querySelector('svg'))",
            timeout=15_000,
        )
        for index, drawn in enumerate(page.evaluate(DRAWN_LABELS)):
            (size, text), where = drawn["smallest"], f"{path}, diagram {index + 1}"
            assert drawn["labels"] > 0, where
            assert size >= READABLE_LABEL_PX, (
                f"{where}: '{text}' is drawn at {size:.1f} px in a {width} px window "
                f"(at least {READABLE_LABEL_PX}): make the diagram narrower (flowchart TB, "
                "shorter labels, or two diagrams)"
            )
            assert drawn["overflow"] <= 1, f"{where} reaches past the column"
        screenshot(seen, f"docs-{Path(path).stem}-{width}.png")
        assert_clean(seen)


def test_http_api_reference_lists_every_endpoint(browser: Any, site_url: str) -> None:
    seen = visit(browser, site_url, "reference/http-api.html")
    page = seen.page
    headings = page.locator("article h2 code").all_inner_texts()
    assert "GET /api/v1/records" in headings and "GET /healthz" in headings
    page.click("article a[href='#get-api-v1-records']")
    page.wait_for_function("() => location.hash === '#get-api-v1-records'")
    assert page.locator("#get-api-v1-records").is_visible()
    screenshot(seen, "docs-http-api.png")
    assert_clean(seen)


def test_search_finds_a_setting_in_the_generated_reference(browser: Any, site_url: str) -> None:
    seen = visit(browser, site_url, "index.html")
    page = seen.page
    page.click("input.md-search__input")
    page.keyboard.type("COVID_ETL_NOTIFY_RETRIES")
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    assert "Settings" in page.locator(".md-search-result").inner_text()
    assert_clean(seen)


def test_site_opened_from_the_file_system_searches_and_draws(browser: Any, site: Path) -> None:
    """`make docs` then site/index.html in a browser, no server: the search runs in the theme's
    worker shim, the diagram is drawn, and nothing is fetched from anywhere."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: None if r.url.startswith("file://") else elsewhere.append(r.url))
    page.goto((site / "index.html").as_uri())
    page.click("input.md-search__input")
    page.keyboard.type("COVID_ETL_NOTIFY_RETRIES")
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    assert "COVID_ETL_NOTIFY_RETRIES" in page.locator(".md-search-result__item").first.inner_text()
    page.goto((site / "write-up.html").as_uri())
    page.wait_for_function(
        "() => document.querySelector('.mermaid').getBoundingClientRect().height > 20",
        timeout=15_000,
    )
    assert errors == []
    assert elsewhere == []
