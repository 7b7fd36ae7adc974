"""The in-process scheduler: fires on time, records trigger=schedule, never overlaps, catches up."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from covid_etl.models import RunRecord, Trigger, utcnow
from covid_etl.run.scheduler import Scheduler, cron_scheduler
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.store import open_store
from covid_etl.web.app import create_app
from tests.helpers.backends import with_writer_lock
from tests.helpers.env import fast_settings


def every(seconds: float) -> Callable[[dt.datetime], dt.datetime]:
    """A test-only schedule: cron has no seconds field."""
    return lambda now: now + dt.timedelta(seconds=seconds)


def runs_of(url: str) -> list[RunRecord]:
    store = open_store(url)
    try:
        store.migrate()
        return store.list_runs(limit=100)
    finally:
        store.close()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.serial  # fires 2 s apart
def test_scheduler_every_two_seconds_records_schedule_runs(database_url: str) -> None:
    settings = fast_settings(database_url, offline=True)
    scheduler = Scheduler(settings, every(2), catch_up=False)
    started = time.monotonic()
    scheduler.start()
    try:
        wait_for(lambda: len(runs_of(database_url)) >= 2)
    finally:
        scheduler.stop()
    elapsed = time.monotonic() - started
    runs = runs_of(database_url)
    assert {r.trigger for r in runs} == {Trigger.SCHEDULE}
    assert all(r.status == "succeeded" for r in runs)
    assert runs[-1].inserted == 1100 and runs[0].unchanged == 1100
    assert elapsed >= 3.5  # two fires, two seconds apart, none before the first interval
    gap = (runs[0].started_at - runs[1].started_at).total_seconds()
    assert 1.5 <= gap <= 6.0  # two seconds after the previous run finished


def test_scheduler_fire_while_own_run_going_is_skipped(database_url: str) -> None:
    release = threading.Event()
    calls: list[int] = []

    def slow_run() -> None:
        calls.append(1)
        release.wait(10)

    scheduler = Scheduler(fast_settings(database_url), every(60), run_once=slow_run)
    first = threading.Thread(target=scheduler.fire)
    first.start()
    wait_for(lambda: len(calls) == 1)
    assert scheduler.fire() is None
    release.set()
    first.join(10)
    assert calls == [1]
    assert (scheduler.fired, scheduler.skipped) == (1, 1)


@with_writer_lock  # S3 takes none: see tests/helpers/backends.py
def test_scheduler_fire_while_another_process_holds_lock_starts_no_run(
    loaded_url: str,
) -> None:
    scheduler = Scheduler(fast_settings(loaded_url, offline=True), every(60))
    other = open_store(loaded_url)  # a separate handle, like a manual `covid-etl run`
    try:
        with other.writer_lock(1):
            assert scheduler.fire() is None
    finally:
        other.close()
    assert len(runs_of(loaded_url)) == 1  # only the loading run: nothing started, nothing failed
    assert scheduler.skipped == 1
    result = scheduler.fire()  # lock free again: runs
    assert result is not None and result.run.trigger is Trigger.SCHEDULE


def test_scheduler_overlapping_fires_from_two_threads_run_once(database_url: str) -> None:
    settings = fast_settings(database_url, offline=True)
    scheduler = Scheduler(settings, every(60))
    barrier = threading.Barrier(4)

    def fire() -> None:
        barrier.wait()
        scheduler.fire()

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    runs = runs_of(database_url)
    assert scheduler.fired + scheduler.skipped == 4
    assert len(runs) == scheduler.fired >= 1
    # Runs that did happen never overlapped in time.
    ordered = sorted(runs, key=lambda r: r.started_at)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at


def test_scheduler_missed_when_no_run_since_last_fire_time(loaded_url: str) -> None:
    loaded_at = runs_of(loaded_url)[0].started_at
    daily = cron_scheduler(fast_settings(loaded_url), "0 21 * * *")
    next_fire = daily.next_fire(loaded_at)
    daily.clock = lambda: next_fire - dt.timedelta(seconds=1)
    assert not daily.missed()
    daily.clock = lambda: next_fire + dt.timedelta(seconds=1)
    assert daily.missed()


def test_scheduler_empty_store_counts_as_missed(database_url: str) -> None:
    assert cron_scheduler(fast_settings(database_url), "0 21 * * *").missed()


def test_scheduler_start_catches_up_once_then_waits(loaded_url: str) -> None:
    loaded_at = runs_of(loaded_url)[0].started_at
    missed_fire = loaded_at + dt.timedelta(microseconds=1)

    def next_fire(now: dt.datetime) -> dt.datetime:
        # A fire time just after the loading run (already past), then one a day away.
        return missed_fire if now < missed_fire else now + dt.timedelta(days=1)

    scheduler = Scheduler(fast_settings(loaded_url, offline=True), next_fire)
    scheduler.start()
    try:
        wait_for(lambda: len(runs_of(loaded_url)) == 2)
        time.sleep(0.5)  # room for a wrong second run to show up
    finally:
        scheduler.stop()
    runs = runs_of(loaded_url)
    assert [r.trigger for r in runs] == [Trigger.SCHEDULE, Trigger.MANUAL]
    assert scheduler.next_fire_at is not None and scheduler.next_fire_at > utcnow()


def test_scheduler_start_without_missed_fire_does_not_run(loaded_url: str) -> None:
    scheduler = cron_scheduler(fast_settings(loaded_url, offline=True), "0 21 * * *")
    loaded_at = runs_of(loaded_url)[0].started_at
    scheduler.clock = lambda: loaded_at + dt.timedelta(seconds=5)
    assert not scheduler.missed()


def test_app_lifespan_runs_scheduler_and_api_shows_new_run_at_once(loaded_url: str) -> None:
    settings = fast_settings(loaded_url, offline=True, schedule=SCHEDULE_OFF)
    scheduler = Scheduler(settings, every(1), catch_up=False, description="every second")
    app = create_app(settings, scheduler=scheduler)
    with TestClient(app) as client:
        first = client.get("/api/v1/summary").json()["last_run"]
        assert first["trigger"] == "manual"
        wait_for(lambda: scheduler.last_run_id is not None)
        run_id = scheduler.last_run_id
        latest = client.get("/api/v1/summary").json()["last_run"]
        assert latest["id"] >= run_id and latest["trigger"] == "schedule"
        health = client.get("/healthz").json()["scheduler"]
        assert health["enabled"] is True and health["schedule"] == "every second"
    assert scheduler._thread is None  # stopped with the app


def test_app_runs_no_etl_unless_given_a_scheduler(database_url: str) -> None:
    # The schedule setting belongs to `covid-etl serve`, which builds the scheduler; the app
    # (also the AWS API function's) only runs the one it is given.
    app = create_app(fast_settings(database_url, schedule="0 21 * * *"))
    assert app.state.context.scheduler is None
