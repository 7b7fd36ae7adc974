"""The dashboard as of a day and a day's publication history, in real headless Chromium, served by
a real ``covid-etl serve`` subprocess over a store that replayed 30 days of the NYT's real
versions (2020-04-10 .. 2020-05-09). One server, one page, walked through in order: open a shared
as-of link, choose other places (the URL keeps the day), read a day's history, return to the
latest, then a day before the history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from covid_etl.run.replay import replay
from covid_etl.settings import Settings
from covid_etl.store import open_store
from tests.helpers.data import unpack_versions
from tests.helpers.env import cli_env
from tests.helpers.serve import Served, serving
from tests.web import test_dashboard_browser as dashboard
from tests.web.test_dashboard_browser import Watched, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser = dashboard.browser  # the same Chromium fixture

FIRST, LAST = dt.date(2020, 4, 10), dt.date(2020, 5, 9)
NEW_YORK = "36"
AS_OF = "2020-04-20"


@pytest.fixture(scope="module")
def history_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("history-browser")
    versions = folder / "versions"
    versions.mkdir()
    unpack_versions(versions, lambda day: FIRST <= day <= LAST)
    url = f"sqlite:///{folder / 'replayed.db'}"
    store = open_store(url)
    try:
        settings = Settings(database_url=url, offline=True, environment="testing")
        assert replay(settings, [versions], store).dates == 30
    finally:
        store.close()
    with serving(cli_env(url), "--no-schedule") as running:
        yield running


def api(served: Served, path: str) -> Any:
    response = httpx.get(served.base_url + path)
    assert response.status_code == 200, response.text
    return response.json()


def wait_view(page: Any, fips: str, as_of: str | None) -> None:
    set_to = f"=== '{as_of}'" if as_of else "=== undefined"
    as_of_set = f"document.body.dataset.asOf {set_to}"
    page.wait_for_function(
        f"() => document.body.dataset.view === '{fips}' && {as_of_set}", timeout=15_000
    )


def day_history(page: Any, day: str, days_back: int) -> list[list[str]]:
    """Open the history of `day` from the keyboard: End (the last day), ArrowLeft, Enter."""
    page.focus("#chart-daily .u-over")
    page.keyboard.press("End")
    for _ in range(days_back):
        page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.body.dataset.dayHistory === '{day}'", timeout=5_000)
    rows = page.locator("#day-history-table tbody tr")
    return [row.locator("th, td").all_inner_texts() for row in rows.all()]


def revised_day(served: Served) -> tuple[str, list[dict[str, Any]]]:
    """A day of New York's on or before AS_OF first published by then and revised after it."""
    body = api(served, f"/api/v1/changes?series={NEW_YORK}&start=2020-04-10&end={AS_OF}")
    by_day: dict[str, list[dict[str, Any]]] = {}
    for change in body["changes"]:
        by_day.setdefault(change["date"], []).append(change)
    for day, changes in sorted(by_day.items()):
        kinds = [c["kind"] for c in changes]
        if kinds[0] == "inserted" and "updated" in kinds and changes[-1]["as_of"] > AS_OF:
            return day, changes
    raise AssertionError("no revised day in the slice")


def fmt(v: int) -> str:
    return f"{v:,}"


def test_as_of_link_day_history_and_return_to_latest(browser: Any, history_served: Served) -> None:
    served = history_served
    watched: Watched = open_page(browser, served, viewport={"width": 1280, "height": 900})
    page = watched.page

    # A shared link: New York as the data stood on AS_OF.
    page.goto(served.base_url + f"/#state={NEW_YORK}&as_of={AS_OF}")
    wait_view(page, NEW_YORK, AS_OF)
    page.wait_for_function("() => document.body.dataset.map === 'ready'", timeout=15_000)
    then = api(served, f"/api/v1/states/{NEW_YORK}/records?format=json&as_of={AS_OF}")
    last = then["records"][-1]
    assert last["date"] == AS_OF
    assert page.inner_text("#headline-cases") == fmt(last["cases"])
    assert page.inner_text("#headline-deaths") == fmt(last["deaths"])
    assert f"New York, {AS_OF}" in page.inner_text("#headline-cases-note")
    assert page.inner_text("#data-through") == AS_OF
    assert page.input_value("#as-of") == AS_OF
    assert page.is_visible("#as-of-banner")
    assert f"Showing the data as of {AS_OF}" in page.inner_text("#as-of-banner")
    assert page.inner_text("#map-date-label") == AS_OF  # the map's last day too
    latest = api(served, f"/api/v1/states/{NEW_YORK}/records?format=json")
    assert latest["records"][-1]["date"] == LAST.isoformat()
    assert latest["records"][-1]["cases"] != last["cases"]

    # A day revised after AS_OF: in as-of mode only its first publication is listed.
    day, changes = revised_day(served)
    back = (dt.date.fromisoformat(AS_OF) - dt.date.fromisoformat(day)).days
    first = changes[0]
    rows = day_history(page, day, back)
    assert rows == [[first["as_of"], "first published", fmt(first["after"]["cases"]),
                     fmt(first["after"]["deaths"])]]  # fmt: skip
    assert f"How {day} was published: New York" in page.inner_text("#day-history-title")

    # Other places keep the as-of day in the URL and in their requests.
    page.click("#states-table tbody tr[data-fips='06'] a")
    wait_view(page, "06", AS_OF)
    assert page.url.endswith(f"#state=06&as_of={AS_OF}")
    assert f"California, {AS_OF}" in page.inner_text("#headline-cases-note")
    assert page.is_hidden("#day-history")  # it was New York's
    page.select_option("#state-select", "")
    wait_view(page, "us", AS_OF)
    assert page.url.endswith(f"#as_of={AS_OF}")
    national = api(served, f"/api/v1/summary?as_of={AS_OF}")
    assert page.inner_text("#headline-cases") == fmt(national["latest"]["cases"])
    page.select_option("#state-select", NEW_YORK)
    wait_view(page, NEW_YORK, AS_OF)
    assert page.url.endswith(f"#state={NEW_YORK}&as_of={AS_OF}")

    # Back to the latest: the state stays chosen, the day's whole history shows.
    page.click("#as-of-clear")
    wait_view(page, NEW_YORK, None)
    assert page.url.endswith(f"#state={NEW_YORK}")
    assert page.is_hidden("#as-of-banner")
    assert page.input_value("#as-of") == ""
    assert f"New York, {LAST.isoformat()}" in page.inner_text("#headline-cases-note")
    assert page.inner_text("#headline-cases") == fmt(latest["records"][-1]["cases"])
    rows = day_history(page, day, (LAST - dt.date.fromisoformat(day)).days)
    assert len(rows) == len(changes) >= 2
    assert rows[0][:3] == [first["as_of"], "first published", fmt(first["after"]["cases"])]
    for row, change in zip(rows[1:], changes[1:], strict=True):
        assert row[0] == change["as_of"] and row[1] == "revised"
        delta = change["after"]["cases"] - change["before"]["cases"]
        sign = "+" if delta >= 0 else "\u2212"
        assert row[2] == f"{fmt(change['after']['cases'])} ({sign}{fmt(abs(delta))})"
    assert "Revised" in page.inner_text("#day-history-status")

    # A click on a day opens that day (the one the chart's legend shows under the pointer).
    over = page.locator("#chart-daily .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    shown = page.locator("#chart-daily .u-legend .u-series").first.locator("td").inner_text()
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    page.wait_for_function(f"() => document.body.dataset.dayHistory === '{shown}'", timeout=5_000)
    dashboard.assert_clean(watched)

    # Before the history: the API's message, and the way back.
    page.fill("#as-of", "2019-01-01")
    page.click("#as-of-form button[type=submit]")
    page.wait_for_function(
        "() => document.body.dataset.state === 'error'"
        " && document.body.dataset.asOf === '2019-01-01'",
        timeout=15_000,
    )
    refused = httpx.get(served.base_url + "/api/v1/summary?as_of=2019-01-01")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "no_history"
    message = refused.json()["error"]["message"]  # history is kept from 2020-04-10 here
    assert page.inner_text("#error") == (
        message[0].upper() + message[1:] + ". Choose a later date or show the latest data."
    )
    assert page.is_visible("#as-of-banner")
    assert page.url.endswith(f"#state={NEW_YORK}&as_of=2019-01-01")
    # Only the refused requests' own console lines (Chromium logs each 404).
    assert all("404" in line for line in watched.console_errors), watched.console_errors
    assert watched.outside == []


def test_settled_chart_shows_the_apis_shares(browser: Any, history_served: Served) -> None:
    served = history_served
    watched: Watched = open_page(browser, served, viewport={"width": 1280, "height": 900})
    page = watched.page
    page.goto(served.base_url + f"/#state={NEW_YORK}")
    wait_view(page, NEW_YORK, None)
    page.wait_for_function(
        f"() => document.body.dataset.settled === 'USA-{NEW_YORK}'", timeout=15_000
    )
    assert page.is_visible("#settled-chart")
    caption = page.inner_text("#settled-caption")
    assert "still revised k days after first published" in caption
    assert "New York" in caption and "all versions stored" in caption
    rows = page.locator("#settled-bars svg")
    assert rows.count() == 2
    for row, measure in zip(rows.all(), ("cases", "deaths"), strict=True):
        body = api(served, f"/api/v1/states/{NEW_YORK}/revisions?measure={measure}")
        shares = {s["days"]: s["share_still_revised"] for s in body["settled_after"]}
        assert shares[1] is not None and shares[1] > 0  # the slice has revisions
        bars = row.locator("rect")
        shown = {
            int(bars.nth(i).get_attribute("data-days")): bars.nth(i).get_attribute("data-share")
            for i in range(bars.count())
        }
        assert shown.keys() == shares.keys()
        for days, share in shares.items():
            assert float(shown[days]) == share
        assert f"1 d {round(shares[1] * 100, 1):g}%" in row.get_attribute("aria-label")
    # Back to the United States: the national figures.
    page.select_option("#state-select", "")
    wait_view(page, "us", None)
    page.wait_for_function("() => document.body.dataset.settled === 'USA'", timeout=15_000)
    national = api(served, "/api/v1/revisions?measure=cases")["settled_after"][0]
    first = page.locator("#settled-bars svg").first.locator("rect[data-days='1']")
    assert float(first.get_attribute("data-share")) == national["share_still_revised"]
    dashboard.assert_clean(watched)
