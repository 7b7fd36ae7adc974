"""``covid-etl serve`` watching for staleness: one "no successful run since" notice per episode
and one "recovered" notice with the next success, at a real webhook on loopback."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pytest

from covid_etl.models import RunStatus
from covid_etl.monitor.staleness import RunFacts, assess
from covid_etl.monitor.watch import Episodes, NoticeKind, check_interval, notice_message
from covid_etl.run.pipeline import run_etl
from tests.helpers.env import cli_env, fast_settings
from tests.helpers.serve import serving
from tests.helpers.servers import WebhookSink

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
HOUR = 3600.0


def verdict(success_id: int | None, hours_ago: float, at: dt.datetime = NOW) -> object:
    success_at = NOW - dt.timedelta(hours=hours_ago) if success_id is not None else None
    facts = RunFacts(success_id, success_at, success_id, "succeeded", dt.date(2022, 4, 16))
    return assess(facts, at, 26 * HOUR)


def kinds(episodes: Episodes, health: object) -> list[str]:
    return [str(n.kind) for n in episodes.step(health)]  # type: ignore[arg-type]


def test_one_stale_notice_per_episode_and_one_recovered_with_the_next_success() -> None:
    episodes = Episodes()
    assert kinds(episodes, verdict(1, 2)) == []
    assert kinds(episodes, verdict(1, 27)) == ["stale"]
    assert kinds(episodes, verdict(1, 28)) == []  # still the same episode: no repeat
    assert kinds(episodes, verdict(1, 90)) == []
    assert kinds(episodes, verdict(2, 0.1)) == ["recovered"]
    assert kinds(episodes, verdict(2, 3)) == []
    assert kinds(episodes, verdict(2, 30)) == ["stale"]  # a new silence is a new episode


def test_success_that_is_already_stale_ends_the_old_episode_and_starts_a_new_one() -> None:
    episodes = Episodes()
    assert kinds(episodes, verdict(1, 27)) == ["stale"]
    assert kinds(episodes, verdict(2, 27)) == ["recovered", "stale"]


def test_a_store_that_never_succeeded_is_announced_once() -> None:
    episodes = Episodes()
    assert kinds(episodes, verdict(None, 0)) == ["stale"]
    assert kinds(episodes, verdict(None, 0)) == []
    (notice,) = Episodes().step(verdict(None, 0))  # type: ignore[arg-type]
    assert notice_message(notice, "production").subject == (
        "[production] covid-etl: no successful run yet"
    )


def test_notices_name_the_last_success_and_the_recovering_run() -> None:
    (stale,) = Episodes().step(verdict(7, 30))  # type: ignore[arg-type]
    message = notice_message(stale, "production")
    assert message.subject == (
        "[production] covid-etl: no successful run since 2026-11-28 06:00 UTC"
    )
    assert "stale: no successful run since 2026-11-28 06:00 UTC (run #7, 30h ago" in message.body
    episodes = Episodes()
    episodes.step(verdict(7, 30))  # type: ignore[arg-type]
    (recovered,) = episodes.step(verdict(8, 0))  # type: ignore[arg-type]
    assert recovered.kind is NoticeKind.RECOVERED
    assert notice_message(recovered, "testing").subject == (
        "[testing] covid-etl recovered: run #8 succeeded"
    )


def test_check_interval_is_a_tenth_of_the_max_age_within_bounds() -> None:
    assert check_interval(4.0) == 0.4
    assert check_interval(26 * HOUR) == 60.0
    assert check_interval(1.0) == 0.25


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.serial  # a 4 s episode and 0.4 s checks
def test_serve_sends_exactly_one_stale_and_one_recovered_notice(
    sqlite_url: str, webhook: WebhookSink
) -> None:
    assert run_etl(fast_settings(sqlite_url, offline=True)).run.status is RunStatus.SUCCEEDED
    env = cli_env(sqlite_url, COVID_ETL_MAX_RUN_AGE="4s", COVID_ETL_NOTIFY=webhook.url)
    with serving(env, "--no-schedule"):
        # Stale 4 s after that run; checked every 0.4 s. Generous margin for a busy machine.
        assert wait_for(lambda: webhook.received, 20), "no stale notice"
        time.sleep(1.5)  # several more checks of the same episode
        assert len(webhook.received) == 1
        stale = webhook.received[0]
        assert stale["title"].startswith("[production] covid-etl: no successful run since ")
        assert "(run #1, " in stale["message"]

        # The next successful run, by hand (its own notice goes nowhere: no channel given).
        manual = subprocess.run(
            [sys.executable, "-m", "covid_etl.cli", "run", "--offline", "--json"],
            env=cli_env(sqlite_url),
            capture_output=True,
            check=False,
        )
        assert manual.returncode == 0, manual.stderr
        assert wait_for(lambda: len(webhook.received) >= 2, 10), "no recovered notice"
        # Checked at once: the next episode could only start 4 s after that run.
        titles = [m["title"] for m in webhook.received]
    assert titles[1] == "[production] covid-etl recovered: run #2 succeeded"
    assert len(titles) == 2
