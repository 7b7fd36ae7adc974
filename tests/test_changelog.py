"""The change log on the real revision pairs, on every backend: what each run inserted, revised or
removed, with the values before and after, written in the load transaction or not at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from covid_etl.models import ChangeEntry, RunStatus
from covid_etl.pipeline import run_etl
from covid_etl.store import open_store
from tests.conftest import cli_env, fast_settings, jhu_history, nyt_history, serve_real
from tests.helpers.reference import expected_rows
from tests.helpers.servers import Response, SourceServer
from tests.helpers.stall_load import MARKER

ROOT = Path(__file__).parents[1]
NYT_PATH = "/nytimes/covid-19-data/master/us.csv"


def day(source_server: SourceServer, date: str) -> dict[str, str]:
    return serve_real(source_server, nyt_history(date), jhu_history(date))


def logged(database_url: str, run_id: int | None = None) -> list[ChangeEntry]:
    store = open_store(database_url)
    try:
        return store.changes(run_id=run_id)
    finally:
        store.close()


def by_date(date: str) -> dict[str, dict[str, int | None]]:
    """The reference rows of one day's files, as change-log values."""
    rows = expected_rows(nyt_history(date), jhu_history(date))
    return {d: {"cases": c, "deaths": de, "recovered": r} for d, c, de, r in rows}


def test_real_revisions_2021_06_15_to_16_log_1_insert_16_updates_with_both_values(
    database_url: str, source_server: SourceServer
) -> None:
    first = run_etl(fast_settings(database_url, **day(source_server, "2021-06-15"))).run
    second = run_etl(fast_settings(database_url, **day(source_server, "2021-06-16"))).run
    assert second.status is RunStatus.SUCCEEDED

    initial = logged(database_url, first.id)
    assert len(initial) == 511 and {e.kind for e in initial} == {"inserted"}

    entries = logged(database_url, second.id)
    assert len(entries) == 17
    assert [e.kind for e in entries].count("inserted") == 1
    assert [e.kind for e in entries].count("updated") == 16
    old, new = by_date("2021-06-15"), by_date("2021-06-16")
    for entry in entries:
        key = entry.date.isoformat()
        assert entry.series == "national" and entry.run_id == second.id
        assert entry.after == new[key]
        assert entry.before == (old[key] if entry.kind == "updated" else None)
        assert entry.before != entry.after
    inserted = next(e for e in entries if e.kind == "inserted")
    assert inserted.date.isoformat() == "2021-06-16"
    # The revised days are the 16 before the new one (the NYT revises its recent past).
    assert {e.date.isoformat() for e in entries if e.kind == "updated"} == {
        d for d in old if old[d] != new[d]
    }


def test_real_revisions_2020_12_13_to_14_log_one_insert_with_null_recovered(
    database_url: str, source_server: SourceServer
) -> None:
    run_etl(fast_settings(database_url, **day(source_server, "2020-12-13")))
    second = run_etl(fast_settings(database_url, **day(source_server, "2020-12-14"))).run
    entries = logged(database_url, second.id)
    assert len(entries) == 1
    (entry,) = entries
    assert (entry.date.isoformat(), entry.kind, entry.before) == ("2020-12-14", "inserted", None)
    assert entry.after == by_date("2020-12-14")["2020-12-14"]
    assert entry.after is not None and entry.after["recovered"] is None


def test_rerun_and_failed_run_log_nothing(database_url: str, source_server: SourceServer) -> None:
    urls = day(source_server, "2021-06-15")
    first = run_etl(fast_settings(database_url, **urls)).run
    rerun = run_etl(fast_settings(database_url, **urls)).run
    assert rerun.status is RunStatus.SUCCEEDED and rerun.changed == 0
    # New data that fails validation half-way through the file: the run fails, logs nothing.
    good = nyt_history("2021-06-16").read_bytes().splitlines(keepends=True)
    bad = b"".join([*good[:-3], b"2021-06-14,not-a-number,600000\n", *good[-2:]])
    source_server.script(NYT_PATH, [Response(200, bad)])
    failed = run_etl(fast_settings(database_url, **urls)).run
    assert failed.status is RunStatus.FAILED
    store = open_store(database_url)
    try:
        assert store.count_changes() == 511
        assert store.count_changes(run_id=rerun.id) == store.count_changes(run_id=failed.id) == 0
        assert store.last_changed_run_id() == first.id
    finally:
        store.close()


def test_run_killed_mid_load_leaves_no_entries(
    database_url: str, source_server: SourceServer
) -> None:
    first = run_etl(fast_settings(database_url, **day(source_server, "2021-06-15"))).run
    new = day(source_server, "2021-06-16")
    env = cli_env(database_url, COVID_ETL_NYT_URL=new["nyt_url"], COVID_ETL_JHU_URL=new["jhu_url"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.stall_load", "run", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(MARKER), proc.stderr.read() if proc.stderr else line
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    store = open_store(database_url)
    try:
        assert store.count_changes() == 511
        assert store.last_changed_run_id() == first.id
    finally:
        store.close()
    # The next run records the revisions the killed one never committed.
    after = run_etl(fast_settings(database_url, **new)).run
    assert len(logged(database_url, after.id)) == 17
