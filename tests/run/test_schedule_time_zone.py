"""`covid-etl serve`'s schedule is read in UTC whatever the machine's time zone, unlike system
cron, which reads a crontab in local time (docs/self-hosted.md)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from covid_etl.run.scheduler import cron_scheduler
from tests.helpers.env import fast_settings


@pytest.fixture
def new_york_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set to one five hours from UTC, with daylight saving."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york_local_time")
def test_serve_schedule_fires_at_the_utc_hour_whatever_the_local_time_zone(
    tmp_path: Path,
) -> None:
    assert time.localtime(0).tm_hour == 19  # the epoch, 00:00 UTC, is 19:00 in New York
    settings = fast_settings(f"sqlite:///{tmp_path / 'covid.db'}")
    scheduler = cron_scheduler(settings, "0 21 * * *")
    # New York moves its clocks forward on 2024-03-10: the fire stays at 21:00 UTC either side.
    after = dt.datetime(2024, 3, 9, 22, 0, tzinfo=dt.UTC).astimezone()
    first = scheduler.next_fire(after)
    second = scheduler.next_fire(first)
    assert (first, second) == (
        dt.datetime(2024, 3, 10, 21, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 11, 21, 0, tzinfo=dt.UTC),
    )
    assert scheduler.status()["schedule"] == "0 21 * * * (UTC)"
