"""The dead man's switch: COVID_ETL_MAX_RUN_AGE, the staleness verdict and ``covid-etl check``.

The clock is injected (click's context object carries it), so moving past the max age takes no
sleeping. Runs are real runs on the bundled snapshot into a real SQLite file or PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from covid_etl.cli import app
from covid_etl.errors import ConfigError
from covid_etl.models import RunStatus, utcnow
from covid_etl.monitor.staleness import RunFacts, assess
from covid_etl.run.pipeline import run_etl
from covid_etl.settings import run_age_seconds, settings_from_env
from covid_etl.store import open_store
from tests.helpers.env import cli_env, fast_settings

runner = CliRunner()
HOUR = 3600.0


def check(
    database_url: str, *args: str, clock: Callable[[], dt.datetime] = utcnow, **env: str
) -> Result:
    return runner.invoke(
        app, ["check", *args], env=cli_env(database_url, **env), obj={"clock": clock}
    )


def later(hours: float) -> Callable[[], dt.datetime]:
    return lambda: utcnow() + dt.timedelta(hours=hours)


def succeed(database_url: str) -> int:
    run = run_etl(fast_settings(database_url, offline=True)).run
    assert run.status is RunStatus.SUCCEEDED
    return run.id


def fail_run(database_url: str, tmp_path: Path) -> int:
    bad = tmp_path / "broken.csv"
    bad.write_text("date,cases\n2020-01-21,1\n", encoding="utf-8")
    run = run_etl(fast_settings(database_url, nyt_url=str(bad), jhu_url=str(bad))).run
    assert run.status is RunStatus.FAILED
    return run.id


# ------------------------------------------------------------------- the setting


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90m", 5400.0), ("26h", 93600.0), ("2d", 172800.0), ("30s", 30.0), ("1.5h", 5400.0),
     (" 26H ", 93600.0), ("off", None), ("OFF", None)],
)  # fmt: skip
def test_max_run_age_accepts_minutes_hours_days_and_off(value: str, seconds: float | None) -> None:
    assert run_age_seconds(value) == seconds
    assert settings_from_env({"COVID_ETL_MAX_RUN_AGE": value}).max_run_age_seconds == seconds


def test_max_run_age_defaults_to_26_hours() -> None:
    assert settings_from_env({}).max_run_age_seconds == 26 * HOUR


@pytest.mark.parametrize("value", ["26", "h", "0h", "-1h", "nanh", "infd", "1y", "400d", "2 days"])
def test_max_run_age_refuses_garbage_with_one_line_naming_the_form(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_env({"COVID_ETL_MAX_RUN_AGE": value})
    message = caught.value.message
    assert message.startswith(f"COVID_ETL_MAX_RUN_AGE={value!r} is invalid: expected a number")
    assert "90m, 26h, 2d" in message and "off" in message and "\n" not in message


def test_check_refuses_a_bad_max_run_age_with_exit_2(sqlite_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "check"],
        env=cli_env(sqlite_url, COVID_ETL_MAX_RUN_AGE="soon"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "Error: COVID_ETL_MAX_RUN_AGE='soon' is invalid: expected a number and a unit s, m, h "
        "or d (e.g. 90m, 26h, 2d), or off"
    ]
    assert proc.stdout == ""


# ------------------------------------------------------------------- the verdict (pure)

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def test_verdict_is_stale_only_past_the_max_age() -> None:
    facts = RunFacts(1, NOW - dt.timedelta(hours=26), 1, "succeeded", dt.date(2022, 4, 16))
    assert not assess(facts, NOW, 26 * HOUR).stale  # exactly at the limit: still healthy
    assert assess(facts, NOW + dt.timedelta(seconds=1), 26 * HOUR).stale
    assert not assess(facts, NOW + dt.timedelta(days=400), None).stale  # off


def test_old_data_alone_never_makes_it_stale() -> None:
    facts = RunFacts(7, NOW - dt.timedelta(hours=1), 7, "succeeded", dt.date(2022, 4, 16))
    health = assess(facts, NOW, 26 * HOUR)
    assert not health.stale
    assert health.data_age_days == (NOW.date() - dt.date(2022, 4, 16)).days > 1000
    assert health.summary() == (
        "healthy: last successful run #7 at 2026-11-29 11:00 UTC (1h ago; max age 26h); "
        "data through 2022-04-16"
    )


def test_verdict_with_no_successful_run_is_stale_unless_off() -> None:
    facts = RunFacts(last_run_id=1, last_run_status="failed")
    assert assess(facts, NOW, 26 * HOUR).stale
    assert assess(facts, NOW, 26 * HOUR).summary() == (
        "stale: no successful run yet (max age 26h); last run #1 failed"
    )
    assert not assess(facts, NOW, None).stale


# ------------------------------------------------------------------- covid-etl check


def test_check_on_a_fresh_store_is_stale(database_url: str) -> None:
    open_store(database_url).migrate()  # an empty, migrated store: nothing has run yet
    result = check(database_url)
    assert result.exit_code == 1, result.output
    assert result.stdout == "stale: no successful run yet (max age 26h)\n"


def test_check_where_no_database_exists_is_exit_1_and_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    result = check(f"sqlite:///{path}")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot read the store: no database at {path}; run `covid-etl run` first\n"
    )
    assert not path.exists()


def test_check_after_a_success_is_healthy(database_url: str) -> None:
    run_id = succeed(database_url)
    result = check(database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"healthy: last successful run #{run_id} at ")
    assert result.stdout.rstrip().endswith("max age 26h); data through 2023-01-24")


def test_check_after_only_a_failure_is_stale(database_url: str, tmp_path: Path) -> None:
    run_id = fail_run(database_url, tmp_path)
    result = check(database_url)
    assert result.exit_code == 1
    assert result.stdout == (
        f"stale: no successful run yet (max age 26h); last run #{run_id} failed\n"
    )


def test_check_after_a_failure_following_a_recent_success_is_healthy(
    database_url: str, tmp_path: Path
) -> None:
    succeed(database_url)
    failed = fail_run(database_url, tmp_path)
    result = check(database_url, "--json")
    assert result.exit_code == 0
    facts = json.loads(result.stdout)
    assert facts["stale"] is False
    assert facts["last_run_id"] == failed and facts["last_run_status"] == "failed"


def test_check_with_the_clock_past_the_max_age_is_stale(database_url: str) -> None:
    run_id = succeed(database_url)
    assert check(database_url, clock=later(25.9)).exit_code == 0
    result = check(database_url, clock=later(26.1))
    assert result.exit_code == 1
    assert result.stdout.startswith("stale: no successful run since ")
    assert f"(run #{run_id}, 26h 6m ago; max age 26h); data through 2023-01-24" in result.stdout
    # The operator's own limit, and off.
    assert check(database_url, clock=later(2.5), COVID_ETL_MAX_RUN_AGE="2h").exit_code == 1
    assert check(database_url, clock=later(2.5), COVID_ETL_MAX_RUN_AGE="3h").exit_code == 0
    assert check(database_url, clock=later(9999), COVID_ETL_MAX_RUN_AGE="off").exit_code == 0


def test_check_json_prints_the_facts(database_url: str) -> None:
    run_id = succeed(database_url)
    result = check(database_url, "--json", clock=later(30))
    assert result.exit_code == 1
    facts = json.loads(result.stdout)
    assert facts["stale"] is True
    assert facts["last_success_run_id"] == run_id == facts["last_run_id"]
    assert facts["last_run_status"] == "succeeded"
    assert 30 * HOUR - 60 < facts["last_success_age_seconds"] < 30 * HOUR + 60
    assert dt.datetime.fromisoformat(facts["last_success_at"]).tzinfo is not None
    assert facts["max_run_age_seconds"] == 26 * HOUR
    assert facts["data_through"] == "2023-01-24"
    assert facts["data_age_days"] > 1000


def test_check_on_a_corrupt_database_is_exit_1_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database" * 100)
    result = check(f"sqlite:///{path}", "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["stale"] is None and out["error"]
    assert result.stderr.startswith("Error: cannot read the store: ")
    assert len(result.stderr.strip().splitlines()) == 1
