"""Malformed input, one test each: exit code 1, a failure notification with the precise reason,
the run recorded as failed, and the stored data exactly as it was."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from covid_etl.cli import app
from covid_etl.series import registry
from covid_etl.store import open_store
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT, serve_real
from tests.helpers.env import cli_env
from tests.helpers.peak_rss import run_measured
from tests.helpers.servers import Response, SourceServer, WebhookSink, gzip_bomb

NYT_PATH = "/nytimes/covid-19-data/master/us.csv"
JHU_PATH = "/datasets/covid-19/master/data/time-series-19-covid-combined.csv"
JHU_HEADER = b"Date,Country/Region,Province/State,Confirmed,Recovered,Deaths\n"

runner = CliRunner()


@pytest.fixture
def loaded(
    database_url: str, source_server: SourceServer, webhook: WebhookSink
) -> Iterator[dict[str, str]]:
    """A store already holding the real data, and the env to run the CLI against it."""
    urls = serve_real(source_server)
    env = cli_env(
        database_url,
        COVID_ETL_NYT_URL=urls["nyt_url"],
        COVID_ETL_JHU_URL=urls["jhu_url"],
        COVID_ETL_NOTIFY=webhook.url,
        COVID_ETL_ENVIRONMENT="testing",
        COVID_ETL_RETRIES="1",
        COVID_ETL_READ_TIMEOUT="0.5",
    )
    result = runner.invoke(app, ["run", "--json"], env=env)
    assert result.exit_code == 0, result.output
    webhook.received.clear()
    yield env


def snapshot(database_url: str) -> list[tuple[object, ...]]:
    store = open_store(database_url)
    try:
        return [(r.date, r.cases, r.deaths, r.recovered) for r in store.rows(registry.NATIONAL)]
    finally:
        store.close()


def run_failing(env: dict[str, str]) -> dict[str, object]:
    result = runner.invoke(app, ["run", "--json"], env=env)
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def with_line(path: Path, line: bytes) -> bytes:
    """The file with one more line at the end."""
    return path.read_bytes().rstrip(b"\n") + b"\n" + line + b"\n"


def nyt_bytes_with(line_no: int, replacement: bytes) -> bytes:
    lines = NYT_CURRENT.read_bytes().split(b"\n")
    lines[line_no - 1] = replacement
    return b"\n".join(lines)


CASES: dict[str, tuple[str, object, str, str]] = {
    # name: (path, new content or scripted responses, expected stage, expected text in error)
    "missing_column": (NYT_PATH, b"date,cases\n2020-01-21,1\n", "validate",
                       "NYT CSV is missing required column(s): deaths (header was: date,cases)"),
    "bad_date": (NYT_PATH, nyt_bytes_with(10, b"2020-01-30T00:00,6,0"), "validate",
                 "NYT CSV: date is not an ISO YYYY-MM-DD date (line 10, column 'date', "
                 "value '2020-01-30T00:00')"),
    "negative_count": (NYT_PATH, nyt_bytes_with(5, b"2020-01-24,-2,0"), "validate",
                       "NYT CSV: count is negative (line 5, column 'cases', value '-2')"),
    "non_numeric_count": (NYT_PATH, nyt_bytes_with(7, b"2020-01-26,5,n/a"), "validate",
                          "NYT CSV: count is not a non-negative integer (line 7, column 'deaths', "
                          "value 'n/a')"),
    "duplicate_date": (NYT_PATH, nyt_bytes_with(3, b"2020-01-21,1,0"), "validate",
                       "duplicate date (first seen on line 2) (line 3, column 'date', "
                       "value '2020-01-21')"),
    "no_us_rows": (JHU_PATH, JHU_HEADER + b"2020-01-22,Canada,,1,0,0\n", "validate",
                   "JHU CSV: no US national rows"),
    "empty_file": (JHU_PATH, b"", "extract", "JHU download returned an empty body"),
    "html_page_200": (NYT_PATH, b"<!DOCTYPE html>\n<html><body>Too many requests</body></html>",
                      "validate", "NYT CSV: the body is an HTML page, not CSV"),
    "truncated_file": (NYT_PATH, b"\n".join(NYT_CURRENT.read_bytes().split(b"\n")[:400]),
                       "transform", "the new data lacks 701 date(s) that are already stored "
                       "(2021-02-23..2023-01-24)"),
    "empty_join": (JHU_PATH, JHU_HEADER + b"2019-06-01,US,,1,0,0\n", "transform",
                   "the sources share no date"),
    "http_404": (NYT_PATH, [Response(404, b"404: Not Found")], "extract",
                 "NYT download failed: HTTP 404 Not Found"),
    "timeout": (JHU_PATH, [Response(200, b"x", delay=1.5)] * 3, "extract",
                "JHU download timed out"),
    "future_date_nyt": (NYT_PATH, with_line(NYT_CURRENT, b"2099-01-01,101795726,1111991"),
                        "validate", "NYT CSV: date is in the future: after "),
    "future_date_nyt_where": (NYT_PATH, with_line(NYT_CURRENT, b"2099-01-01,101795726,1111991"),
                              "validate", "(line 1102, column 'date', value '2099-01-01')"),
    "future_date_jhu": (JHU_PATH, with_line(JHU_CURRENT, b"2099-01-01,US,,1,0,0"), "validate",
                        "today (UTC) plus one day (line 818, column 'Date', value '2099-01-01')"),
    "huge_field": (NYT_PATH, nyt_bytes_with(5, b"2020-01-24," + b"7" * 10_000_000 + b",0"),
                   "validate", "NYT CSV: a field is longer than the limit of 131072 characters "
                   "(line 5)"),
    "nul_byte": (NYT_PATH, nyt_bytes_with(6, b"2020-01-25,2\x003,0"), "validate",
                 "NYT CSV: count is not a non-negative integer (line 6, column 'cases', "
                 "value '2\\x003')"),
    "bad_utf8": (NYT_PATH, nyt_bytes_with(4, b"2020-01-23,1\xff,0"), "validate",
                 "NYT CSV: the body is not valid UTF-8 at byte"),
    "redirect_loop": (NYT_PATH, [Response(302, b"", {"Location": NYT_PATH})] * 25, "extract",
                      "NYT download failed: too many redirects (a redirect loop?) starting at "
                      "http://127.0.0.1:"),
    "reset_mid_body": (JHU_PATH, [Response(200, JHU_CURRENT.read_bytes(), cut_after=5000,
                                           reset=True)] * 2,
                       "extract", "JHU download failed: ReadError"),
    "truncated_download": (JHU_PATH, [Response(200, JHU_CURRENT.read_bytes(), cut_after=5000)] * 2,
                           "extract", "JHU download failed: RemoteProtocolError: peer closed "
                           "connection without sending complete message body"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_source_fails_run_and_keeps_data(
    case: str,
    database_url: str,
    loaded: dict[str, str],
    source_server: SourceServer,
    webhook: WebhookSink,
) -> None:
    path, content, stage, reason = CASES[case]
    before = snapshot(database_url)
    if isinstance(content, bytes):
        source_server.serve(path, content)
    else:
        source_server.script(path, list(content))  # type: ignore[call-overload]

    out = run_failing(loaded)

    assert out["status"] == "failed"
    assert out["failed_stage"] == stage
    assert reason in str(out["error"])
    assert snapshot(database_url) == before
    store = open_store(database_url)
    try:
        recorded = store.get_run(int(out["run_id"]))  # type: ignore[call-overload]
    finally:
        store.close()
    assert recorded is not None and str(recorded.status) == "failed"
    assert recorded.error == out["error"]
    assert len(webhook.received) == 1
    note = webhook.received[0]
    assert f"FAILED at stage {stage}" in note["title"]
    assert reason in note["message"]
    assert "Database unchanged; data still through 2023-01-24." in note["message"]


def test_bom_crlf_and_reordered_columns_load_the_same_data(
    database_url: str, source_server: SourceServer
) -> None:
    """Cosmetic changes to a source's file change nothing in the stored data."""
    plain = serve_real(source_server)
    env = cli_env(database_url, COVID_ETL_NYT_URL=plain["nyt_url"],
                  COVID_ETL_JHU_URL=plain["jhu_url"])  # fmt: skip
    assert runner.invoke(app, ["run", "--json"], env=env).exit_code == 0
    before = snapshot(database_url)
    lines = NYT_CURRENT.read_text().splitlines()
    reordered = ["deaths,date,cases"] + [
        ",".join((deaths, day, cases)) for day, cases, deaths in (x.split(",") for x in lines[1:])
    ]
    source_server.serve(NYT_PATH, b"\xef\xbb\xbf" + "\r\n".join(reordered).encode())
    source_server.serve(
        JHU_PATH, b"\xef\xbb\xbf" + JHU_CURRENT.read_bytes().replace(b"\n", b"\r\n")
    )
    result = runner.invoke(app, ["run", "--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["inserted"], out["updated"], out["unchanged"]) == (0, 0, 1100)
    assert snapshot(database_url) == before


def test_http_500_then_success_is_retried_and_succeeds(
    loaded: dict[str, str], source_server: SourceServer, webhook: WebhookSink
) -> None:
    source_server.script(NYT_PATH, [Response(500, b"Internal Server Error")])
    source_server.etags = False  # force a full download so the retry path is exercised
    result = runner.invoke(app, ["run", "--json"], env=loaded)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded"
    assert (out["inserted"], out["updated"], out["unchanged"]) == (0, 0, 1100)
    assert webhook.received and "Succeeded" in webhook.received[0]["title"]


# Hostile sources against a real `covid-etl run` process.

COVID_ETL = str(Path(sys.executable).parent / "covid-etl")
MIB = 1024 * 1024


@pytest.mark.serial  # the deadline within 2 s
@pytest.mark.parametrize("where", ["headers", "body"])
def test_slow_drip_source_ends_the_run_at_the_deadline(
    where: str, sqlite_url: str, source_server: SourceServer
) -> None:
    """One byte every 0.5 s: the run ends at the deadline, not hours later holding the lock."""
    urls = serve_real(source_server)
    drip = Response(200, JHU_CURRENT.read_bytes(), drip=where)  # type: ignore[arg-type]
    source_server.script(JHU_PATH, [drip] * 3)
    env = cli_env(
        sqlite_url,
        COVID_ETL_NYT_URL=urls["nyt_url"],
        COVID_ETL_JHU_URL=urls["jhu_url"],
        COVID_ETL_READ_TIMEOUT="3",
        COVID_ETL_DEADLINE="4",
        COVID_ETL_RETRIES="2",
    )
    started = time.monotonic()
    proc = subprocess.run(
        [COVID_ETL, "run", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - started
    # The deadline plus at most about a second, plus the process's own start-up and exit.
    assert elapsed < 4 + 1 + 1, proc.stderr
    assert proc.returncode == 1
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["failed_stage"] == "extract"
    assert str(out["error"]).startswith("JHU download stopped: the deadline of 4s was reached"), (
        out["error"]
    )
    assert urls["jhu_url"] in str(out["error"])


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb()


def test_gzip_bomb_is_stopped_while_it_inflates_and_memory_stays_bounded(
    bomb: bytes, source_server: SourceServer, tmp_path: Path
) -> None:
    """Peak RSS of a run fed a gzip bomb stays under a normal run's + 2 x limit + 32 MiB."""
    urls = serve_real(source_server)

    def peak(name: str, **settings: str) -> tuple[int, dict[str, Any]]:
        env = cli_env(f"sqlite:///{tmp_path / name}.db", COVID_ETL_NYT_URL=urls["nyt_url"],
                      COVID_ETL_JHU_URL=urls["jhu_url"], **settings)  # fmt: skip
        measured = run_measured([COVID_ETL, "run", "--json"], env, tmp_path)
        return measured.peak_rss, json.loads(measured.stdout.strip().splitlines()[-1])

    normal, out = peak("normal")
    assert out["inserted"] == 1100
    for limit in (64 * MIB, 4 * MIB):  # the default, and a small one
        source_server.script(JHU_PATH, [Response(200, bomb, {"Content-Encoding": "gzip"})])
        bombed, out = peak(f"bomb-{limit}", COVID_ETL_MAX_BYTES=str(limit))
        assert bombed < normal + 2 * limit + 32 * MIB, (limit, bombed / MIB, normal / MIB)
        assert out["failed_stage"] == "extract"
        assert str(out["error"]).startswith(f"JHU body inflates past the {limit}-byte limit")
