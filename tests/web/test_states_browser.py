"""The states map, slider, table and state view in real headless Chromium, served by a real
``covid-etl serve`` subprocess over a store loaded with the real per-state file. Screenshots go
to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.data import JHU_CURRENT, NYT_CURRENT, STATES_REAL
from tests.helpers.env import ANOMALIES_LOCAL, cli_env
from tests.helpers.loaded import LoadedStores
from tests.helpers.screenshots import ARTIFACTS, save_screenshot
from tests.helpers.serve import Served, serving
from tests.web import test_dashboard_browser as dashboard
from tests.web.test_dashboard_browser import Watched, assert_clean, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = dashboard.browser  # the same Chromium fixture

MAP_READY = "() => document.body.dataset.map === 'ready'"
# Playwright evaluates string expressions with eval(), which the page's CSP forbids: functions.
FILLS = "() => Object.fromEntries([...document.querySelectorAll('#map [data-fips]')]" \
    ".map(e => [e.dataset.fips, e.getAttribute('fill')]))"  # fmt: skip
# ColorBrewer YlGnBu, 7 classes, and the class bounds of states.js.
PALETTE = ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#0c2c84"]
BREAKS = [1, 5, 10, 25, 50, 100]
NO_DATA = "#e3e6ea"


@pytest.fixture(scope="module")
def states_served(
    loaded_stores: LoadedStores,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """One server for the module over a store after one run with the real per-state file: the
    tests only read."""
    sources = {"nyt_url": str(NYT_CURRENT), "jhu_url": str(JHU_CURRENT),
               "states_url": str(STATES_REAL), "anomalies_url": ANOMALIES_LOCAL}  # fmt: skip
    url = loaded_stores.sqlite_copy(request, tmp_path_factory.mktemp("served"), (sources,))
    with serving(cli_env(url), "--no-schedule") as running:
        yield running


def expected_fill(value: float | None) -> str:
    if value is None:
        return NO_DATA
    return PALETTE[sum(1 for low in BREAKS if value >= low)]


def snapshot(served: Served, day: str | None = None) -> dict[str, dict[str, Any]]:
    query = f"?date={day}" if day else ""
    body = httpx.get(served.base_url + "/api/v1/states" + query).json()
    return {entry["fips"]: entry for entry in body["states"]}


def open_map(browser: Any, served: Served, path: str = "/", **options: Any) -> Watched:
    watched = open_page(browser, served, **options)
    watched.page.goto(served.base_url + path)
    watched.page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=15_000)
    watched.page.wait_for_function(MAP_READY, timeout=15_000)
    return watched


def chart_legend(page: Any, chart: str) -> dict[str, str]:
    """The legend of a chart: label -> value shown (the last day when no cursor is over it)."""
    labels = page.locator(f"#{chart} .u-legend .u-series th").all_inner_texts()
    values = page.locator(f"#{chart} .u-legend .u-series td").all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values, strict=True)}


def test_map_has_one_shape_per_jurisdiction_coloured_by_its_value(
    browser: Any, states_served: Served
) -> None:
    watched = open_map(browser, states_served, viewport={"width": 1280, "height": 900})
    page = watched.page
    latest = snapshot(states_served)

    fills = page.evaluate(FILLS)

    assert len(latest) == 55
    assert sorted(fills) == sorted(latest)  # one shape each, territories included
    for fips, entry in latest.items():
        assert fills[fips] == expected_fill(entry["new_cases_7d_avg_per_100k"]), fips
    # Territories outside the projection are labelled boxes, not dropped.
    for fips in ("66", "69", "72", "78"):
        assert page.locator(f"#map rect[data-fips='{fips}']").count() == 1
    assert page.locator("#map text").all_text_contents() == ["PR", "GU", "MP", "VI"]
    # Values spread over several colours on the last day, so the scale tells states apart.
    assert len(set(fills.values())) >= 3
    legend = page.locator("#map-legend li").all_inner_texts()
    assert len(legend) == 8 and "no population estimate" in legend[-1]
    note = page.inner_text("#states-note")
    assert "2021-07-08" in note and "2023-01-24" in note
    save_screenshot(page, "dashboard-states-desktop", for_docs=True, element="figure.map-figure")
    assert_clean(watched)


def test_hover_shows_figures_and_no_population_for_territories(
    browser: Any, states_served: Served
) -> None:
    watched = open_map(browser, states_served, viewport={"width": 1280, "height": 900})
    page = watched.page

    page.hover("#map [data-fips='06']")
    tip = page.inner_text("#map-tip")
    assert "California" in tip and "3,829,878" in tip
    page.hover("#map [data-fips='66']")
    tip = page.inner_text("#map-tip")
    assert "Guam" in tip and "no population estimate" in tip
    row = page.locator("#states-table tbody tr[data-fips='66']").inner_text()
    assert "no population estimate" in row
    assert "\t0\t" not in row
    assert_clean(watched)


def test_slider_changes_the_colours_to_that_day(browser: Any, states_served: Served) -> None:
    watched = open_map(browser, states_served, viewport={"width": 1280, "height": 900})
    page = watched.page
    before = page.evaluate(FILLS)
    slider = page.locator("#map-date")
    assert slider.get_attribute("max") == "534"  # 2020-01-21 .. 2021-07-08
    # 2021-01-08, near the winter peak, is 353 days after the first day.
    target = 353
    slider.evaluate(
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }", target
    )
    page.wait_for_function("() => document.body.dataset.mapDate === '2021-01-08'", timeout=10_000)

    after = page.evaluate(FILLS)
    on_day = snapshot(states_served, "2021-01-08")
    assert page.inner_text("#map-date-label") == "2021-01-08"
    assert after != before
    for fips, entry in on_day.items():
        assert after[fips] == expected_fill(entry["new_cases_7d_avg_per_100k"]), fips
    caption = page.inner_text("#states-table-caption")
    assert "2021-01-08" in caption
    assert_clean(watched)


def test_clicking_california_shows_its_charts_and_united_states_returns(
    browser: Any, states_served: Served
) -> None:
    watched = open_map(browser, states_served, viewport={"width": 1280, "height": 900})
    page = watched.page
    national = chart_legend(page, "chart-cumulative")
    records = httpx.get(states_served.base_url + "/api/v1/states/06/records").json()["records"]
    last = records[-1]

    page.click("#map [data-fips='06']")
    page.wait_for_function("() => document.body.dataset.view === '06'", timeout=10_000)

    assert page.url.endswith("#state=06")
    assert page.input_value("#state-select") == "06"
    assert page.inner_text("#charts-title") == "Over time: California"
    cumulative = chart_legend(page, "chart-cumulative")
    assert cumulative["Cases"] == f"{last['cases']:,}"
    assert cumulative["Deaths"] == f"{last['deaths']:,}"
    daily = chart_legend(page, "chart-daily")
    assert daily["Cases/day"] == f"{last['new_cases']:,}"
    assert daily["Cases, 7-day avg"] == f"{round(last['new_cases_7d_avg']):,}"
    assert page.inner_text("#headline-cases") == "3,829,878"
    save_screenshot(page, "dashboard-state-california", for_docs=True, element="section.charts")

    page.select_option("#state-select", "")
    page.wait_for_function("() => document.body.dataset.view === 'us'", timeout=10_000)
    assert chart_legend(page, "chart-cumulative") == national
    assert page.inner_text("#charts-title") == "Over time"
    assert page.inner_text("#headline-cases") == "101,795,726"
    assert_clean(watched)


def test_state_in_the_url_opens_it_directly(browser: Any, states_served: Served) -> None:
    watched = open_map(
        browser, states_served, "/#state=06", viewport={"width": 1280, "height": 900}
    )
    page = watched.page
    page.wait_for_function("() => document.body.dataset.view === '06'", timeout=10_000)

    assert page.input_value("#state-select") == "06"
    assert chart_legend(page, "chart-cumulative")["Cases"] == "3,829,878"
    assert page.locator("#map [data-fips='06'].is-chosen").count() == 1
    assert_clean(watched)


def test_table_sorts_by_each_figure_from_the_keyboard(browser: Any, states_served: Served) -> None:
    watched = open_map(browser, states_served, viewport={"width": 1280, "height": 900})
    page = watched.page
    latest = snapshot(states_served)
    headers = page.locator("#states-table thead th")
    assert headers.count() == 8

    button = page.locator("#states-table th[data-key='cases_per_100k'] button")
    button.focus()
    page.keyboard.press("Enter")

    th = page.locator("#states-table th[data-key='cases_per_100k']")
    assert th.get_attribute("aria-sort") == "descending"
    order = page.locator("#states-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.fips)"
    )
    ranked = sorted(
        (e for e in latest.values() if e["cases_per_100k"] is not None),
        key=lambda e: -e["cases_per_100k"],
    )
    assert order[: len(ranked)] == [e["fips"] for e in ranked]
    assert set(order[len(ranked) :]) == {"66", "69", "78"}  # no estimate: listed last
    page.keyboard.press("Enter")
    assert th.get_attribute("aria-sort") == "ascending"
    for key in ("name", "population", "cases", "deaths", "deaths_per_100k",
                "new_cases_7d_avg", "new_cases_7d_avg_per_100k"):  # fmt: skip
        page.locator(f"#states-table th[data-key='{key}'] button").press("Enter")
        sorted_th = page.locator(f"#states-table th[data-key='{key}']")
        assert sorted_th.get_attribute("aria-sort") in ("ascending", "descending")
    assert_clean(watched)


def test_phone_layout_shows_map_and_table_without_horizontal_scroll(
    browser: Any, states_served: Served
) -> None:
    watched = open_map(
        browser,
        states_served,
        "/#state=06",
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = watched.page
    page.wait_for_function("() => document.body.dataset.view === '06'", timeout=10_000)

    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    box = page.locator("#map").bounding_box()
    assert box is not None and 300 < box["width"] <= 375
    page.tap("#map [data-fips='48']")
    page.wait_for_function("() => document.body.dataset.view === '48'", timeout=10_000)
    assert "Texas" in page.inner_text("#map-tip")
    page.screenshot(path=str(ARTIFACTS / "dashboard-states-phone.png"), full_page=True)
    assert_clean(watched)


def test_first_view_transfers_under_400_kb(browser: Any, states_served: Served) -> None:
    watched = open_map(browser, states_served, viewport={"width": 1280, "height": 900})
    sizes = {}
    for url in set(watched.requests):
        # What goes over the wire with gzip accepted, as the browser asks.
        response = httpx.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, url
        sizes[url] = response.num_bytes_downloaded
    assert sum(sizes.values()) < 400 * 1024, sizes
    assert any(re.search(r"/vendor/states-albers-10m\.json$", url) for url in watched.requests)
    assert_clean(watched)
