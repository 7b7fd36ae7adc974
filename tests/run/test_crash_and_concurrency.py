"""Crash safety (SIGKILL mid-load) and concurrent runs, with real processes.

SQLite and PostgreSQL hold a writer lock, so a second run waits and a killed run is left
"running" for the next run to mark interrupted. S3 takes no lock: a run works on a local copy and
commits it with one conditional PUT, so a killed run leaves no trace and concurrent runs race, one
commit winning; its tests are at the end of this module.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from covid_etl.models import RunStatus
from covid_etl.run.pipeline import run_etl
from covid_etl.series import registry
from covid_etl.store import open_store
from tests.helpers.backends import on_s3, with_writer_lock
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT, jhu_history, nyt_history, serve_real
from tests.helpers.env import cli_env, fast_settings
from tests.helpers.reference import expected_rows
from tests.helpers.servers import SourceServer, running
from tests.helpers.stalled import stalled_run

ROOT = Path(__file__).parents[2]


def run_at_once(
    database_url: str, urls: dict[str, str], count: int
) -> list[tuple[int, dict[str, Any], str]]:
    """Start ``count`` ``covid-etl run --json`` processes together; (exit code, the JSON summary,
    stderr) of each, in start order."""
    env = cli_env(
        database_url, COVID_ETL_NYT_URL=urls["nyt_url"], COVID_ETL_JHU_URL=urls["jhu_url"]
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "covid_etl.cli", "run", "--json"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    deadline = time.monotonic() + 120
    for proc in procs:
        out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
        results.append((proc.returncode, json.loads(out.strip().splitlines()[-1]), err))
    return results


def rows(database_url: str) -> list[tuple[str, int, int, int | None]]:
    store = open_store(database_url)
    try:
        return [
            (r.date.isoformat(), r.cases, r.deaths, r.recovered)
            for r in store.rows(registry.NATIONAL)
        ]
    finally:
        store.close()


@with_writer_lock
def test_sigkill_during_load_keeps_previous_data_and_next_run_recovers(
    database_url: str, source_server: SourceServer
) -> None:
    old = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    assert run_etl(fast_settings(database_url, **old)).succeeded
    before = rows(database_url)

    new = serve_real(source_server)  # the current files: 305 new dates and many revisions
    env = cli_env(database_url, COVID_ETL_NYT_URL=new["nyt_url"], COVID_ETL_JHU_URL=new["jhu_url"])
    with stalled_run(env):
        # Readers see the old data while the load transaction is open and half written.
        assert rows(database_url) == before

    assert rows(database_url) == before
    store = open_store(database_url)
    killed = store.list_runs(limit=1)[0]
    store.close()
    assert killed.status is RunStatus.RUNNING

    after = run_etl(fast_settings(database_url, **new)).run
    assert after.status is RunStatus.SUCCEEDED
    assert after.recovered_from == killed.id
    store = open_store(database_url)
    marked = store.get_run(killed.id)
    store.close()
    assert marked is not None and marked.status is RunStatus.INTERRUPTED
    assert marked.error and "killed or crashed" in marked.error
    assert rows(database_url) == expected_rows(NYT_CURRENT, JHU_CURRENT)


@with_writer_lock
def test_concurrent_runs_load_data_exactly_once(
    database_url: str, source_server: SourceServer
) -> None:
    results = run_at_once(database_url, serve_real(source_server), count=5)
    for code, _, err in results:
        assert code == 0, err
    outputs = [output for _, output, _ in results]
    assert sorted(o["inserted"] for o in outputs) == [0, 0, 0, 0, 1100]
    assert all(o["status"] == "succeeded" and o["updated"] == 0 for o in outputs)
    assert sorted(o["unchanged"] for o in outputs) == [0, 1100, 1100, 1100, 1100]
    assert sum(o["initial_load"] for o in outputs) == 1
    assert rows(database_url) == expected_rows(NYT_CURRENT, JHU_CURRENT)
    store = open_store(database_url)
    assert [r.status for r in store.list_runs()] == [RunStatus.SUCCEEDED] * 5
    store.close()


@with_writer_lock
def test_second_run_waits_then_reports_another_run_in_progress(
    database_url: str, source_server: SourceServer
) -> None:
    urls = serve_real(source_server)
    store = open_store(database_url)
    store.migrate()
    with store.writer_lock(5):
        started = time.monotonic()
        result = run_etl(fast_settings(database_url, lock_timeout=0.5, **urls))
        waited = time.monotonic() - started
    store.close()
    assert result.run.status is RunStatus.FAILED
    assert str(result.run.failed_stage) == "lock"
    assert result.run.error and result.run.error.startswith("another run is in progress")
    assert waited >= 0.5
    assert rows(database_url) == []


def test_lock_timeout_while_holder_is_mid_load_fails_cleanly(
    sqlite_url: str, source_server: SourceServer
) -> None:
    urls = serve_real(source_server)
    holder = open_store(sqlite_url)
    holder.migrate()
    with holder.writer_lock(5), holder._transaction():  # type: ignore[attr-defined]
        result = run_etl(fast_settings(sqlite_url, lock_timeout=0.3, **urls))
    holder.close()
    assert result.run.status is RunStatus.FAILED
    assert result.run.error and result.run.error.startswith("another run is in progress")


@pytest.mark.serial  # kill moments span a run timed at its start
def test_25_random_sigkills_never_lose_or_mix_data_and_the_next_run_recovers(
    sqlite_url: str, tmp_path: Path
) -> None:
    # Runs alternate between two real datasets; each is killed at a random moment of its life
    # (start-up, download, parse, load, commit, notify). After every kill the table holds one
    # dataset's complete result or the previous state, never a mixture, and SQLite finds the
    # file intact.
    old = (nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    new = (NYT_CURRENT, JHU_CURRENT)
    states = {(): "empty", tuple(expected_rows(*old)): "old", tuple(expected_rows(*new)): "new"}

    def start(database_url: str, nyt: Path, jhu: Path) -> subprocess.Popen[bytes]:
        env = cli_env(database_url, COVID_ETL_NYT_URL=str(nyt), COVID_ETL_JHU_URL=str(jhu))
        return subprocess.Popen(
            [sys.executable, "-m", "covid_etl.cli", "run", "--json"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    # Kill moments span a whole run as long as it takes on this machine now (a loaded machine
    # starts Python slower): the duration of an initial load into a scratch database.
    began = time.monotonic()
    assert start(f"sqlite:///{tmp_path / 'scratch.db'}", *new).wait(timeout=60) == 0
    window = 1.2 * (time.monotonic() - began)
    rng = random.Random(25)
    seen = set()
    store = open_store(sqlite_url)
    store.migrate()  # so the table can be read even after a kill before the first migration
    store.close()
    for kill in range(25):
        proc = start(sqlite_url, *(old if kill % 2 else new))
        time.sleep(rng.uniform(0.0, window))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        state = tuple(rows(sqlite_url))
        assert state in states, f"kill {kill}: the table holds a mixture of runs"
        seen.add(states[state])
    after = run_etl(fast_settings(sqlite_url, nyt_url=str(new[0]), jhu_url=str(new[1]))).run
    assert after.status is RunStatus.SUCCEEDED
    assert rows(sqlite_url) == expected_rows(*new)
    store = open_store(sqlite_url)
    try:
        statuses = {r.status for r in store.list_runs(limit=100)}
    finally:
        store.close()
    assert RunStatus.RUNNING not in statuses
    assert len(seen) > 1  # the kills really landed before and after loads


# -- S3: one conditional PUT per commit ----------------------------------------------------------


def s3_object(database_url: str) -> tuple[str, str]:
    """(ETag, VersionId) of the database object."""
    import boto3

    bucket, prefix = database_url[len("s3://") :].split("/", 1)
    head = boto3.client("s3").head_object(Bucket=bucket, Key=f"{prefix}/covid-etl.db")
    return head["ETag"], head["VersionId"]


def run_ids_and_counts(database_url: str) -> list[tuple[int, str, int, bool]]:
    store = open_store(database_url)
    try:
        return [(r.id, str(r.status), r.inserted, r.initial_load) for r in store.list_runs()[::-1]]
    finally:
        store.close()


@on_s3
def test_sigkill_between_download_and_upload_leaves_the_object_unchanged(
    database_url: str, source_server: SourceServer
) -> None:
    old = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    assert run_etl(fast_settings(database_url, **old)).succeeded
    before, version = rows(database_url), s3_object(database_url)

    new = serve_real(source_server)
    env = cli_env(database_url, COVID_ETL_NYT_URL=new["nyt_url"], COVID_ETL_JHU_URL=new["jhu_url"])
    with stalled_run(env):
        pass  # killed inside its load transaction on leaving the block

    # Same ETag, same version: not a byte of the killed run reached S3, not even its run record.
    assert s3_object(database_url) == version
    assert rows(database_url) == before
    assert run_ids_and_counts(database_url) == [(1, "succeeded", 512, True)]

    after = run_etl(fast_settings(database_url, **new)).run
    assert after.status is RunStatus.SUCCEEDED and after.id == 2
    assert after.recovered_from is None  # nothing to recover from: the killed run left no trace
    assert rows(database_url) == expected_rows(NYT_CURRENT, JHU_CURRENT)


@on_s3
def test_concurrent_s3_runs_commit_once(database_url: str, source_server: SourceServer) -> None:
    outputs = run_at_once(database_url, serve_real(source_server), count=5)
    loads = [o for code, o, _ in outputs if code == 0 and o["inserted"] == 1100]
    assert len(loads) == 1 and loads[0]["initial_load"]
    for code, output, err in outputs:
        if output is loads[0]:
            continue
        # Lost the race, read the winner's commit and found nothing to do; or lost twice.
        assert (code, output["inserted"] + output["updated"]) == (0, 0) or (
            code == 1 and "another run committed first" in output["error"]
        ), err
    stored = run_ids_and_counts(database_url)
    assert sum(inserted for _, _, inserted, _ in stored) == 1100
    assert sum(initial for *_, initial in stored) == 1
    assert len(stored) == sum(code == 0 for code, _, _ in outputs)
    assert rows(database_url) == expected_rows(NYT_CURRENT, JHU_CURRENT)


def commit_another_run_first(
    monkeypatch: pytest.MonkeyPatch, settings: Any, times: int
) -> list[RunStatus]:
    """Make another complete run commit while this run is inside its load transaction (after
    its download, before its upload), ``times`` times; return those runs' outcomes."""
    from covid_etl.store.sql import SqlStore

    original = SqlStore._write_rows
    others: list[RunStatus] = []
    raced: set[int] = set()  # this run's attempts (run ids), each raced once
    nested = threading.local()

    def write_after_another_run(
        self: SqlStore, cur: Any, series: Any, run_id: int, batch: Any, *, new: bool
    ) -> None:
        if not getattr(nested, "active", False) and run_id not in raced and len(others) < times:
            raced.add(run_id)
            nested.active = True
            try:
                others.append(run_etl(settings).run.status)
            finally:
                nested.active = False
        original(self, cur, series, run_id, batch, new=new)

    monkeypatch.setattr(SqlStore, "_write_rows", write_after_another_run)
    return others


@on_s3
def test_lost_race_reads_the_new_object_and_tries_once_more(
    database_url: str, source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    assert run_etl(fast_settings(database_url, **old)).succeeded
    settings = fast_settings(database_url, **serve_real(source_server))
    others = commit_another_run_first(monkeypatch, settings, times=1)

    run = run_etl(settings).run
    assert others == [RunStatus.SUCCEEDED]
    # The retry started from the other run's commit: nothing left to do.
    assert run.status is RunStatus.SUCCEEDED
    assert (run.inserted, run.updated, run.unchanged) == (0, 0, 1100)
    stored = run_ids_and_counts(database_url)
    assert [(i, status) for i, status, *_ in stored] == [
        (1, "succeeded"), (2, "succeeded"), (3, "succeeded"),
    ]  # fmt: skip
    assert stored[1][2] == 1100 - 512 and stored[2][2] == 0
    assert rows(database_url) == expected_rows(NYT_CURRENT, JHU_CURRENT)


@on_s3
def test_losing_the_race_twice_fails_with_another_run_committed_first(
    database_url: str, source_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    old_settings = fast_settings(database_url, **old)
    assert run_etl(old_settings).succeeded
    # The competitors re-read the old files (nothing to write, but each commits its run), while
    # this run has new files: it still has rows to write after its first retry.
    others = commit_another_run_first(monkeypatch, old_settings, times=2)
    with running(SourceServer()) as newer:
        run = run_etl(fast_settings(database_url, **serve_real(newer))).run
    assert others == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    assert run.status is RunStatus.FAILED and str(run.failed_stage) == "load"
    assert run.error is not None and run.error.startswith("another run committed first")
    assert "this run wrote nothing" in run.error
    assert [status for _, status, *_ in run_ids_and_counts(database_url)] == ["succeeded"] * 3
