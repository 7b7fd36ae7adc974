"""The dashboard in real headless Chromium, served by a real ``covid-etl serve`` subprocess.

Uses Debian's /usr/bin/chromium (Playwright's own browser download is never used). Skipped when
it is missing, unless COVID_ETL_REQUIRE_BROWSER=1 makes that a failure. Screenshots go to
test-artifacts/; with COVID_ETL_DOCS_SCREENSHOTS=1 (`make screenshots`) the write-up's also go to
docs/images/ (tests/helpers/screenshots.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.env import cli_env
from tests.helpers.loaded import LoadedStores
from tests.helpers.screenshots import ARTIFACTS, save_screenshot
from tests.helpers.serve import Served, serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Records when the dashboard declares itself drawn, on the page's own clock.
READY_PROBE = """
new MutationObserver(function (changes, observer) {
  if (document.body && document.body.dataset.state === "ready") {
    window.__readyAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-state"] });
"""

# Functions, not expressions: Playwright evaluates string expressions with eval(), which the
# page's Content-Security-Policy (rightly) forbids.
ALL_PRESSED = (
    "() => document.querySelector(\"[data-range='all']\").getAttribute('aria-pressed') === 'true'"
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("COVID_ETL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and COVID_ETL_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium to run browser tests)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def served(
    loaded_stores: LoadedStores,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """One server for the module over a store after one offline run: the tests only read."""
    url = loaded_stores.sqlite_copy(request, tmp_path_factory.mktemp("served"))
    with serving(cli_env(url), "--no-schedule") as running:
        yield running


@dataclass
class Watched:
    """A page plus everything it tried to do that a test may object to."""

    page: Any
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def open_page(browser: Any, served: Served, **context_options: Any) -> Watched:
    context = browser.new_context(service_workers="block", **context_options)
    page = context.new_page()
    watched = Watched(page, served.base_url)
    local = served.base_url + "/"

    def route(route: Any) -> None:
        url = route.request.url
        watched.requests.append(url)
        if url.startswith(local):
            route.continue_()
        else:  # nothing may leave the server; record and refuse
            watched.outside.append(url)
            route.abort()

    context.route("**/*", route)

    def on_console(message: Any) -> None:
        if message.type == "error":
            watched.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: watched.console_errors.append(str(e)))
    page.add_init_script(READY_PROBE)
    return watched


def load_dashboard(watched: Watched) -> None:
    watched.page.goto(watched.base_url + "/")
    watched.page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=15_000)


def assert_clean(watched: Watched) -> None:
    assert watched.console_errors == []
    assert watched.outside == []
    assert all(url.startswith("http://127.0.0.1:") for url in watched.requests)


def test_dashboard_desktop_draws_charts_from_local_data_only(browser: Any, served: Served) -> None:
    watched = open_page(browser, served, viewport={"width": 1280, "height": 900})
    load_dashboard(watched)
    page = watched.page
    for chart in ("chart-cumulative", "chart-daily"):
        assert page.locator(f"#{chart} canvas").count() >= 1
        box = page.locator(f"#{chart} canvas").first.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    assert page.inner_text("#headline-cases").strip() == "101,795,726"  # 2023-01-24
    assert page.inner_text("#data-through").strip() not in ("", "…")
    assert page.inner_text("#last-run").strip() not in ("", "…")
    ready_ms = page.evaluate("window.__readyAt")
    assert ready_ms is not None and ready_ms < 5_000  # the benchmark holds it to 1 s
    static = {url for url in watched.requests if "/api/" not in url}
    sizes = {
        url: len(httpx.get(url, headers={"Accept-Encoding": "identity"}).content) for url in static
    }
    assert sum(sizes.values()) < 150 * 1024, sizes  # HTML, JS and CSS, uncompressed
    assert any("/api/v1/records" in url for url in watched.requests)
    assert any("/api/v1/summary" in url for url in watched.requests)
    save_screenshot(page, "dashboard-desktop", for_docs=True)
    assert_clean(watched)


def test_dashboard_log_toggle_redraws_on_log_scale(browser: Any, served: Served) -> None:
    watched = open_page(browser, served, viewport={"width": 1280, "height": 900})
    load_dashboard(watched)
    page = watched.page
    page.check("#scale-toggle")
    page.wait_for_function("() => document.body.dataset.scale === 'log'", timeout=5_000)
    assert page.locator("#chart-cumulative canvas").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "dashboard-log.png"), full_page=True)
    page.uncheck("#scale-toggle")
    page.wait_for_function("() => document.body.dataset.scale === 'linear'", timeout=5_000)
    assert_clean(watched)


def test_dashboard_drag_zoom_and_reset(browser: Any, served: Served) -> None:
    watched = open_page(browser, served, viewport={"width": 1280, "height": 900})
    load_dashboard(watched)
    page = watched.page
    all_button = page.locator("[data-range='all']")
    assert all_button.get_attribute("aria-pressed") == "true"
    over = page.locator("#chart-cumulative .u-over").bounding_box()
    assert over is not None
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.6, y, steps=8)
    page.mouse.up()
    page.wait_for_function(
        ALL_PRESSED.replace("true", "false"),
        timeout=5_000,
    )
    page.screenshot(path=str(ARTIFACTS / "dashboard-zoomed.png"), full_page=True)
    page.click("#reset-zoom")
    page.wait_for_function(
        ALL_PRESSED,
        timeout=5_000,
    )
    assert_clean(watched)


def test_dashboard_phone_width_has_no_horizontal_scroll(browser: Any, served: Served) -> None:
    watched = open_page(
        browser,
        served,
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    load_dashboard(watched)
    page = watched.page
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    for chart in ("chart-cumulative", "chart-daily"):
        box = page.locator(f"#{chart} canvas").first.bounding_box()
        assert box is not None and 200 < box["width"] <= 375
    headline = page.locator("#headline-cases").bounding_box()
    assert headline is not None and headline["x"] >= 0 and headline["x"] + headline["width"] <= 375
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    assert_clean(watched)


def test_docs_page_renders_without_outside_requests(browser: Any, served: Served) -> None:
    watched = open_page(browser, served, viewport={"width": 1280, "height": 900})
    watched.page.goto(served.base_url + "/docs")
    watched.page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    watched.page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    assert_clean(watched)


# The vertical extent, in CSS pixels, of the pixels of one line colour inside the plot area of
# a chart's canvas, and the plot area's height: how much of the axis the visible data uses.
LINE_EXTENT = """([chartId, rgb]) => {
  const chart = document.getElementById(chartId);
  const canvas = chart.querySelector("canvas");
  const plot = chart.querySelector(".u-over").getBoundingClientRect();
  const box = canvas.getBoundingClientRect();
  const ratio = canvas.width / box.width;
  const left = Math.round((plot.left - box.left) * ratio);
  const top = Math.round((plot.top - box.top) * ratio);
  const width = Math.round(plot.width * ratio);
  const height = Math.round(plot.height * ratio);
  const pixels = canvas.getContext("2d").getImageData(left, top, width, height).data;
  let first = null;
  let last = null;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const near = Math.abs(pixels[i] - rgb[0]) + Math.abs(pixels[i + 1] - rgb[1]) +
        Math.abs(pixels[i + 2] - rgb[2]) < 60 && pixels[i + 3] > 200;
      if (near) {
        if (first === null) first = y;
        last = y;
        break;
      }
    }
  }
  return first === null ? null : [first / ratio, last / ratio, plot.height];
}"""
CASES_RGB = [0x1F, 0x5F, 0xA8]
DEATHS_RGB = [0xB3, 0x26, 0x1E]


def test_dashboard_cumulative_y_axes_fit_the_zoomed_window(browser: Any, served: Served) -> None:
    watched = open_page(browser, served, viewport={"width": 1280, "height": 900})
    load_dashboard(watched)
    page = watched.page
    page.click("[data-range='2022']")
    page.wait_for_function(ALL_PRESSED.replace("'all'", "'2022'"), timeout=5_000)
    page.screenshot(path=str(ARTIFACTS / "dashboard-2022.png"), full_page=True)
    for name, rgb in (("cases", CASES_RGB), ("deaths", DEATHS_RGB)):
        extent = page.evaluate(LINE_EXTENT, ["chart-cumulative", rgb])
        assert extent is not None, name
        top, bottom, height = extent
        # 2022 alone: cases rise from 54.9 to 100.5 million, deaths from 825 thousand to 1.1
        # million. An axis from zero leaves the lines about a half and a quarter of the plot.
        assert bottom - top >= 0.6 * height, (name, extent)
    assert_clean(watched)


def test_dashboard_has_space_between_header_and_headline_cards(
    browser: Any, served: Served
) -> None:
    for viewport in ({"width": 1280, "height": 900}, {"width": 375, "height": 812}):
        watched = open_page(browser, served, viewport=viewport)
        load_dashboard(watched)
        page = watched.page
        header = page.locator(".site-header").bounding_box()
        card = page.locator(".headlines .card").first.bounding_box()
        assert header is not None and card is not None
        gap = card["y"] - (header["y"] + header["height"])
        assert gap >= 12, (viewport, gap)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-top-{viewport['width']}.png"))
        assert_clean(watched)


def test_docs_page_declares_an_icon_and_fetches_no_favicon(browser: Any, served: Served) -> None:
    watched = open_page(browser, served, viewport={"width": 1280, "height": 900})
    watched.page.goto(served.base_url + "/docs")
    watched.page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    # Without an icon link a browser asks for /favicon.ico, a 404 and a console error.
    assert watched.page.locator("link[rel='icon']").count() == 1
    assert not any("favicon" in url for url in watched.requests)
    assert_clean(watched)
