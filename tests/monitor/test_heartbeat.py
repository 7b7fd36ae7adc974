"""COVID_ETL_HEARTBEAT_URL: one GET to a push monitor (a real loopback server) after each
successful run, none after a failed one, and a dead monitor never fails the run."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from covid_etl.errors import ConfigError
from covid_etl.models import RunStatus
from covid_etl.monitor.heartbeat import send_heartbeat
from covid_etl.run.pipeline import run_etl
from covid_etl.settings import settings_from_env
from tests.helpers.env import fast_settings
from tests.helpers.servers import Response, SourceServer, free_port

# The shape of a healthchecks.io ping URL: the check's token is the path.
TOKEN = "5f8a1c2e-7d3b-4e9a-b1c6-0a2d4e6f8b10"
PING = f"/ping/{TOKEN}"


def ping_url(server: SourceServer) -> str:
    return server.serve(PING, b"OK")


def test_successful_run_pings_the_heartbeat_once(
    sqlite_url: str, source_server: SourceServer
) -> None:
    url = ping_url(source_server)
    run = run_etl(fast_settings(sqlite_url, offline=True, heartbeat_url=url)).run
    assert run.status is RunStatus.SUCCEEDED
    assert len(source_server.hits(PING)) == 1
    # A second run that changes nothing still succeeded: that is what the monitor waits for.
    run_etl(fast_settings(sqlite_url, offline=True, heartbeat_url=url))
    assert len(source_server.hits(PING)) == 2


def test_failed_run_sends_no_heartbeat(
    sqlite_url: str, source_server: SourceServer, tmp_path: Path
) -> None:
    url = ping_url(source_server)
    bad = tmp_path / "broken.csv"
    bad.write_text("date,cases\n2020-01-21,1\n", encoding="utf-8")
    settings = fast_settings(sqlite_url, nyt_url=str(bad), jhu_url=str(bad), heartbeat_url=url)
    assert run_etl(settings).run.status is RunStatus.FAILED
    assert source_server.hits(PING) == []


def test_dead_heartbeat_url_does_not_fail_the_run_and_is_logged(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}{PING}"
    with caplog.at_level(logging.WARNING, logger="covid_etl.monitor.heartbeat"):
        result = run_etl(fast_settings(sqlite_url, offline=True, heartbeat_url=dead))
    assert result.succeeded
    (record,) = [r for r in caplog.records if r.name == "covid_etl.monitor.heartbeat"]
    assert record.getMessage().startswith("heartbeat to 127.0.0.1 failed: ")
    assert TOKEN not in record.getMessage()


def test_heartbeat_answering_an_error_is_logged_not_raised(
    source_server: SourceServer, caplog: pytest.LogCaptureFixture
) -> None:
    source_server.script(PING, [Response(status=503, body=b"down")])
    with caplog.at_level(logging.WARNING, logger="covid_etl.monitor.heartbeat"):
        assert send_heartbeat(source_server.url(PING)) is False
    (record,) = caplog.records
    assert "503" in record.getMessage() and TOKEN not in record.getMessage()


@pytest.mark.serial  # a 2 s bound
def test_heartbeat_is_bounded_by_its_timeout(source_server: SourceServer) -> None:
    source_server.script(PING, [Response(status=200, body=b"OK", delay=3.0)])
    started = time.monotonic()
    assert send_heartbeat(source_server.url(PING), timeout=0.3) is False
    # Generous margin over the 0.3 s timeout, well under the server's 3 s delay.
    assert time.monotonic() - started < 2.0


def test_heartbeat_token_is_a_secret_and_a_bad_url_is_refused_without_it() -> None:
    settings = settings_from_env({"COVID_ETL_HEARTBEAT_URL": f"https://hc-ping.com/{TOKEN}"})
    assert TOKEN in settings.secrets()
    with pytest.raises(ConfigError) as caught:
        settings_from_env({"COVID_ETL_HEARTBEAT_URL": f"hc-ping.com/{TOKEN}"})
    assert caught.value.message == (
        "COVID_ETL_HEARTBEAT_URL is invalid: expected an http:// or https:// URL"
    )
