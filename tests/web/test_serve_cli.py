"""``covid-etl serve`` as a subprocess: starts, serves the API, rejects bad options."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.conftest import cli_env
from tests.helpers.serve import serving


def test_serve_no_schedule_serves_the_api(loaded_url: str) -> None:
    with serving(cli_env(loaded_url), "--no-schedule") as served:
        health = httpx.get(f"{served.base_url}/healthz").json()
        assert health["scheduler"] == {"enabled": False}
        records = httpx.get(f"{served.base_url}/api/v1/records").json()
        assert records["total"] == 816
        assert "server" not in httpx.get(f"{served.base_url}/healthz").headers


def test_serve_schedule_reports_next_run(loaded_url: str) -> None:
    with serving(cli_env(loaded_url, COVID_ETL_OFFLINE="1"), "--schedule", "0 21 * * *") as served:
        scheduler = httpx.get(f"{served.base_url}/healthz").json()["scheduler"]
        assert scheduler["enabled"] is True
        assert scheduler["schedule"] == "0 21 * * * (UTC)"


def test_serve_schedule_from_environment(loaded_url: str) -> None:
    env = cli_env(loaded_url, COVID_ETL_SCHEDULE="30 6 * * mon", COVID_ETL_OFFLINE="1")
    with serving(env) as served:
        scheduler = httpx.get(f"{served.base_url}/healthz").json()["scheduler"]
        assert scheduler["schedule"] == "30 6 * * mon (UTC)"


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_serve_bad_cron_exits_2(database_url: str) -> None:
    result = _serve(cli_env(database_url), "--schedule", "0 25 * * *")
    assert result.returncode == 2
    assert "hour" in result.stderr


def test_serve_bad_cron_in_environment_exits_2(database_url: str) -> None:
    result = _serve(cli_env(database_url, COVID_ETL_SCHEDULE="every day"))
    assert result.returncode == 2
    assert "COVID_ETL_SCHEDULE" in result.stderr


def test_serve_schedule_and_no_schedule_together_exits_2(database_url: str) -> None:
    result = _serve(cli_env(database_url), "--schedule", "0 21 * * *", "--no-schedule")
    assert result.returncode == 2


def test_cli_start_up_does_not_import_the_web_stack() -> None:
    code = "import sys, covid_etl.cli; print('fastapi' in sys.modules, 'uvicorn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False"]


def test_serve_empty_store_catches_up_with_a_scheduled_run(database_url: str) -> None:
    env = cli_env(database_url, COVID_ETL_OFFLINE="1")
    with serving(env, "--schedule", "0 21 * * *") as served:
        deadline = time.monotonic() + 20
        while True:
            summary = httpx.get(f"{served.base_url}/api/v1/summary").json()
            run = summary["last_run"]
            if run is not None and run["status"] != "running":
                break
            assert time.monotonic() < deadline, "no catch-up run"
            time.sleep(0.1)
        assert (run["trigger"], run["status"], run["inserted"]) == ("schedule", "succeeded", 816)
        assert summary["data_through"] == "2022-04-16"
