"""The dashboard's change-log panel in real headless Chromium over a real ``covid-etl serve``:
after the real 2021-06-15 -> 2021-06-16 revision it says what the last run changed and marks
the revised days on the daily chart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from covid_etl.run.pipeline import run_etl
from tests.helpers.data import jhu_history, nyt_history, serve_real
from tests.helpers.env import cli_env, fast_settings
from tests.helpers.screenshots import ARTIFACTS
from tests.helpers.serve import Served, serving
from tests.helpers.servers import SourceServer
from tests.web.test_dashboard_browser import (
    assert_clean,
    browser,
    load_dashboard,
    open_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser"]  # the module-scoped Chromium fixture, shared


@pytest.fixture
def revised(sqlite_url: str, source_server: SourceServer) -> Iterator[Served]:
    for day in ("2021-06-15", "2021-06-16"):
        urls = serve_real(source_server, nyt_history(day), jhu_history(day))
        assert run_etl(fast_settings(sqlite_url, **urls)).succeeded
    with serving(cli_env(sqlite_url), "--no-schedule") as running:
        yield running


def test_last_run_panel_says_what_changed_and_marks_revised_days(
    browser: Any, revised: Served
) -> None:
    watched = open_page(browser, revised, viewport={"width": 1280, "height": 900})
    load_dashboard(watched)
    page = watched.page
    # The charts are drawn before the change log arrives; the panel says when it has.
    page.wait_for_function("() => document.body.dataset.revised !== undefined", timeout=15_000)
    assert page.inner_text("#last-changes").strip() == (
        "1 day(s) added, 16 past day(s) revised; largest: cases on 2021-06-15 +91"
    )
    # The daily chart got the 16 revised days to mark.
    assert page.evaluate("() => document.body.dataset.revised") == "16"
    assert any("/api/v1/runs/2/changes" in url for url in watched.requests)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-changes.png"), full_page=True)
    assert_clean(watched)
