"""The NYT's notes on the dashboard in real headless Chromium, over a real ``covid-etl serve`` of
a store loaded with the real per-state file and the real notes: listed below the charts for the
place shown, marked on its daily charts, and the days they leave out drawn apart while the
average line keeps the API's value. One page for the module; each test first shows its place.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.data import ANOMALIES_CURRENT, JHU_CURRENT, NYT_CURRENT, STATES_REAL
from tests.helpers.env import cli_env
from tests.helpers.loaded import LoadedStores
from tests.helpers.screenshots import ARTIFACTS
from tests.helpers.serve import Served, serving
from tests.web.test_dashboard_browser import (
    ALL_PRESSED,
    Watched,
    assert_clean,
    browser,
    open_page,
)
from tests.web.test_states_browser import MAP_READY, chart_legend

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser"]  # the module-scoped Chromium fixture, shared

# Alabama's backlog of 2021-03-15: a note that leaves the day out of the average, on a spike.
ALABAMA = "01"
SPIKE = "2021-03-15"
SPIKE_NOTE = (
    "Alabama announced a backlog of about 4,000 cases from testing conducted from October 2020 "
    "through January 2021."
)
NORMAL_DAY = "2021-03-10"  # five days before: counted in the average, no note
OMITTED_RGB = [0x1B, 0x1F, 0x24]  # the outline of a day left out (COLORS.omitted)
# The height, in CSS pixels, of the pixels of one colour in a band 8 px wide around x inside a
# chart's plot area. A function: the page's Content-Security-Policy forbids eval().
COLOUR_HEIGHT = """([chartId, x, rgb]) => {
  const chart = document.getElementById(chartId);
  const canvas = chart.querySelector("canvas");
  const plot = chart.querySelector(".u-over").getBoundingClientRect();
  const box = canvas.getBoundingClientRect();
  const ratio = canvas.width / box.width;
  const left = Math.round((x - 4 - box.left) * ratio);
  const top = Math.round((plot.top - box.top) * ratio);
  const width = Math.round(8 * ratio);
  const height = Math.round(plot.height * ratio);
  const pixels = canvas.getContext("2d").getImageData(left, top, width, height).data;
  let rows = 0;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < width; i++) {
      const k = (y * width + i) * 4;
      const near = Math.abs(pixels[k] - rgb[0]) + Math.abs(pixels[k + 1] - rgb[1]) +
        Math.abs(pixels[k + 2] - rgb[2]) < 60 && pixels[k + 3] > 200;
      if (near) {
        rows++;
        break;
      }
    }
  }
  return rows / ratio;
}"""


def csv_notes(geoid: str) -> list[dict[str, str]]:
    """The place's notes in the real file, in its order (by date)."""
    with ANOMALIES_CURRENT.open(newline="", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if row["geoid"] == geoid]


def shown(value: float) -> str:
    """A figure as the dashboard writes it: rounded half up (Math.round), with commas."""
    return f"{math.floor(value + 0.5):,}"


@pytest.fixture(scope="module")
def notes_served(
    loaded_stores: LoadedStores,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """One server for the module over a store after one run with the real per-state file and
    the real notes: the tests only read."""
    sources = {"nyt_url": str(NYT_CURRENT), "jhu_url": str(JHU_CURRENT),
               "states_url": str(STATES_REAL), "anomalies_url": str(ANOMALIES_CURRENT)}  # fmt: skip
    url = loaded_stores.sqlite_copy(request, tmp_path_factory.mktemp("served"), (sources,))
    with serving(cli_env(url), "--no-schedule") as running:
        yield running


@pytest.fixture(scope="module")
def watched(browser: Any, notes_served: Served) -> Iterator[Watched]:
    """The dashboard loaded once, on Alabama, for every test of the module."""
    watched = open_page(browser, notes_served, viewport={"width": 1280, "height": 900})
    watched.page.goto(notes_served.base_url + f"/#state={ALABAMA}")
    watched.page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=15_000)
    watched.page.wait_for_function(MAP_READY, timeout=15_000)
    ARTIFACTS.mkdir(exist_ok=True)
    yield watched
    watched.page.context.close()


def show(page: Any, fips: str) -> None:
    """Show a state (or the nation for ""), and wait until its notes are on the page."""
    geoid = f"USA-{fips}" if fips else "USA"
    page.click("#reset-zoom")
    if page.input_value("#state-select") != fips:
        page.select_option("#state-select", fips)
    page.wait_for_function(f"() => document.body.dataset.notes === '{geoid}'", timeout=10_000)


def listed(page: Any) -> list[list[str]]:
    """The notes table's rows, each as its cells' texts."""
    rows = page.locator("#notes-table tbody tr")
    return [
        [cell.strip() for cell in rows.nth(i).locator("th, td").all_inner_texts()]
        for i in range(rows.count())
    ]


def test_state_notes_are_listed_below_the_charts(watched: Watched) -> None:
    page = watched.page
    show(page, ALABAMA)
    expected = csv_notes("USA-01")

    rows = listed(page)

    assert len(expected) == 16
    assert len(rows) == len(expected)
    assert [row[0] for row in rows] == [note["date"] for note in expected]
    assert [SPIKE, "cases", "yes", SPIKE_NOTE] in rows
    assert rows[5][:3] == ["2020-12-01", "cases and deaths", "no"]
    assert page.inner_text("#notes-title") == "Notes from The New York Times on Alabama"
    assert page.inner_text("#notes-status") == "16 notes, oldest first."
    # Below the charts, not above them.
    table = page.locator("#notes-table").bounding_box()
    deaths = page.locator("#chart-daily-deaths").bounding_box()
    assert table is not None and deaths is not None
    assert table["y"] > deaths["y"] + deaths["height"]
    assert any("/api/v1/anomalies?geoid=USA-01" in url for url in watched.requests)
    assert_clean(watched)


def test_noted_spike_has_its_mark_with_the_description(watched: Watched) -> None:
    page = watched.page
    show(page, ALABAMA)
    mark = page.locator(f"#chart-daily .note-mark[data-date='{SPIKE}']")

    assert mark.count() == 1
    assert mark.is_visible()
    label = mark.get_attribute("aria-label")
    assert label is not None and SPIKE_NOTE in label and "left out of the 7-day average" in label
    # A cases note marks the cases chart only; a note on both measures marks both.
    assert page.locator(f"#chart-daily-deaths .note-mark[data-date='{SPIKE}']").count() == 0
    for chart in ("chart-daily", "chart-daily-deaths"):
        assert page.locator(f"#{chart} .note-mark[data-date='2020-12-01']").count() == 1
    cases_notes = [n for n in csv_notes("USA-01") if n["type"] in ("cases", "both")]
    assert page.locator("#chart-daily .note-mark").count() == len(cases_notes)
    # The mark stands over the spike's day: hovering the plot there shows that day.
    page.locator("#chart-daily").scroll_into_view_if_needed()
    box = mark.bounding_box()
    over = page.locator("#chart-daily .u-over").bounding_box()
    assert box is not None and over is not None
    page.mouse.move(box["x"] + box["width"] / 2, over["y"] + over["height"] / 2)
    assert chart_legend(page, "chart-daily")["Date"] == SPIKE
    # A tap or click shows the description; so does the keyboard, focusing the mark.
    mark.click()
    tip = page.locator("#note-tip")
    assert tip.is_visible() and SPIKE_NOTE in tip.inner_text()
    page.keyboard.press("Escape")
    assert not tip.is_visible()
    page.locator("#chart-daily .note-mark[data-date='2021-03-03']").focus()  # the mark before
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.date") == SPIKE
    assert tip.is_visible() and SPIKE_NOTE in tip.inner_text()
    page.locator("#chart-daily").locator("xpath=..").screenshot(
        path=str(ARTIFACTS / "dashboard-notes-alabama.png")
    )
    page.keyboard.press("Escape")
    assert_clean(watched)


def test_average_leaves_the_noted_spike_out(watched: Watched, notes_served: Served) -> None:
    page = watched.page
    show(page, ALABAMA)
    records = httpx.get(notes_served.base_url + "/api/v1/states/01/records").json()["records"]
    at = {r["date"]: i for i, r in enumerate(records)}
    spike = records[at[SPIKE]]
    window = records[at[SPIKE] - 6 : at[SPIKE] + 1]
    plain_mean = sum(r["new_cases"] for r in window) / 7
    assert spike["new_cases_omitted"] and not records[at[NORMAL_DAY]]["new_cases_omitted"]
    assert spike["new_cases"] > 4 * spike["new_cases_7d_avg"]  # a spike
    # The API's average leaves it out; the plain mean of the same 7 days would not.
    assert shown(spike["new_cases_7d_avg"]) != shown(plain_mean)
    assert plain_mean - spike["new_cases_7d_avg"] > 400

    page.click("[data-range='2021']")  # a few pixels a day: the cursor lands on the day
    page.wait_for_function(ALL_PRESSED.replace("'all'", "'2021'"))
    page.locator("#chart-daily").scroll_into_view_if_needed()
    mark = page.locator(f"#chart-daily .note-mark[data-date='{SPIKE}']").bounding_box()
    before = page.locator("#chart-daily .note-mark[data-date='2021-03-03']").bounding_box()
    over = page.locator("#chart-daily .u-over").bounding_box()
    assert mark is not None and before is not None and over is not None
    x = mark["x"] + mark["width"] / 2
    day_width = (x - before["x"] - before["width"] / 2) / 12
    page.mouse.move(x, over["y"] + over["height"] / 2)
    legend = chart_legend(page, "chart-daily")

    assert legend["Date"] == SPIKE
    assert legend["Cases, 7-day avg"] == shown(spike["new_cases_7d_avg"])
    assert legend["Cases, 7-day avg"] != shown(plain_mean)
    # The spike is drawn as a day left out, not among the counted days.
    assert legend["Left out of the 7-day average"] == f"{spike['new_cases']:,}"
    assert legend["Cases/day"] == "–"
    spike_height = page.evaluate(COLOUR_HEIGHT, ["chart-daily", x, OMITTED_RGB])
    normal_height = page.evaluate(COLOUR_HEIGHT, ["chart-daily", x - 5 * day_width, OMITTED_RGB])
    assert spike_height > 0.5 * over["height"], spike_height  # 4,556 of an axis to ~5,000
    assert normal_height == 0
    page.mouse.move(x, over["y"] - 200)
    page.click("#reset-zoom")
    assert_clean(watched)


def test_national_notes_are_fetched_again_for_the_nation(watched: Watched) -> None:
    page = watched.page
    show(page, ALABAMA)
    show(page, "")
    expected = csv_notes("USA")

    rows = listed(page)

    assert len(rows) == len(expected) == 23
    assert [row[0] for row in rows] == [note["date"] for note in expected]
    texas = (
        "Texas began reporting probable cases, resulting in a one-day increase of about "
        "44,000 cases."
    )
    assert ["2020-12-11", "cases", "yes", texas] in rows
    assert page.inner_text("#notes-title") == "Notes from The New York Times on the United States"
    label = page.locator("#chart-daily .note-mark[data-date='2020-12-11']").get_attribute(
        "aria-label"
    )
    assert label is not None and texas in label
    assert page.locator("#chart-daily .note-mark[data-date='2021-01-12']").count() == 0  # Alabama
    assert any(url.endswith("/api/v1/anomalies?geoid=USA") for url in watched.requests)
    assert_clean(watched)


def test_headline_averages_are_the_apis(watched: Watched, notes_served: Served) -> None:
    page = watched.page
    for fips, path in (("", "/api/v1/records"), (ALABAMA, "/api/v1/states/01/records")):
        show(page, fips)
        last = httpx.get(notes_served.base_url + path).json()["records"][-1]
        for measure in ("cases", "deaths"):
            note = page.inner_text(f"#headline-{measure}-note")
            average = shown(last[f"new_{measure}_7d_avg"])
            assert f"{average} new a day (7-day average)" in note, (fips, note)
    assert_clean(watched)


def test_place_without_notes_says_so_and_fits_a_phone(watched: Watched) -> None:
    page = watched.page
    assert csv_notes("USA-66") == []
    show(page, "66")  # Guam

    assert page.inner_text("#notes-status") == "The NYT has no notes for this place."
    assert not page.locator("#notes-table").is_visible()
    assert page.locator(".note-mark").count() == 0

    show(page, ALABAMA)
    page.set_viewport_size({"width": 375, "height": 812})
    try:
        page.wait_for_function("() => document.documentElement.scrollWidth <= 375")
        row = page.locator("#notes-table tbody tr").first.bounding_box()
        assert row is not None and row["x"] >= 0 and row["x"] + row["width"] <= 375
        page.locator("section.notes").screenshot(path=str(ARTIFACTS / "dashboard-notes-phone.png"))
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert_clean(watched)
