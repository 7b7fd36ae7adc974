"""PostgreSQL specifics and the behaviour that must match SQLite: connection errors, real-data
parity, concurrent runs, a run killed mid-load, and ``db copy``."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from covid_etl.errors import RunInProgress, StoreError, StoreUnavailable
from covid_etl.models import Record, RunRecord, RunStatus, Trigger, utcnow
from covid_etl.publish.export import write_csv, write_json
from covid_etl.run.pipeline import run_etl
from covid_etl.series import registry
from covid_etl.store import open_store
from covid_etl.store.base import History, HistoryStore, SeriesWrite, StoredRecord
from covid_etl.store.copy import copy_store
from covid_etl.store.postgres import PostgresStore
from covid_etl.store.sql import SqlStore
from covid_etl.store.sqlite import SqliteStore
from tests.helpers import postgres as pg
from tests.helpers.backends import with_writer_lock
from tests.helpers.data import (
    ANOMALIES_CURRENT,
    JHU_CURRENT,
    NYT_CURRENT,
    jhu_history,
    nyt_history,
    serve_real,
)
from tests.helpers.env import cli_env, fast_settings
from tests.helpers.reference import expected_csv
from tests.helpers.schema import record_run_at_schema_version, store_at_schema_version
from tests.helpers.servers import Response, SourceServer, WebhookSink
from tests.helpers.stalled import stalled_run

ROOT = Path(__file__).parents[2]
CLI = [sys.executable, "-m", "covid_etl.cli"]
PASSWORD = "s3cret-pw-4711"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exports(url: str) -> tuple[str, str]:
    store = open_store(url)
    try:
        rows = store.rows(registry.NATIONAL)
    finally:
        store.close()
    as_csv, as_json = io.StringIO(), io.StringIO()
    write_csv(registry.NATIONAL, rows, as_csv)
    write_json(registry.NATIONAL, rows, as_json)
    return as_csv.getvalue(), as_json.getvalue()


def history_store(url: str) -> HistoryStore:
    return open_store(url)  # type: ignore[return-value]


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


# -- connection problems --------------------------------------------------------------------------


def test_unreachable_server_is_one_sentence_with_masked_password() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore.from_url(f"postgresql://etl:{PASSWORD}@127.0.0.1:{port}/covid")
    message = caught.value.message
    assert message.startswith(f"cannot connect to PostgreSQL at 127.0.0.1:{port}/covid: ")
    assert "Connection refused" in message and "(after 3 attempts)" in message
    assert "\n" not in message and PASSWORD not in message
    assert time.monotonic() - started < 5  # a few quick retries, not a hang


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgresql://etl:{PASSWORD}@[::1/covid", "bad PostgreSQL URL: "),
        (
            f"postgresql://etl:{PASSWORD}@127.0.0.1:1/covid?sslmode=bogus",
            "cannot connect to PostgreSQL at 127.0.0.1:1/covid: connection is bad: "
            'invalid sslmode value: "bogus"',
        ),
    ],
)
def test_bad_url_is_one_sentence_without_the_password(url: str, expected: str) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        open_store(url)
    assert caught.value.message.startswith(expected)
    assert PASSWORD not in caught.value.message
    assert "attempts" not in caught.value.message  # a bad parameter is not retried


def test_cli_run_against_unreachable_server_exits_1_and_notifies(webhook: WebhookSink) -> None:
    port = free_port()
    url = f"postgresql://etl:{PASSWORD}@127.0.0.1:{port}/covid"
    env = cli_env(url, COVID_ETL_NOTIFY=webhook.url, COVID_ETL_OFFLINE="1")
    done = cli("run", "--json", env=env)
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    sentence = f"cannot connect to PostgreSQL at 127.0.0.1:{port}/covid: "
    assert out["status"] == "failed" and out["failed_stage"] == "open"
    assert out["error"].startswith(sentence)
    assert PASSWORD not in done.stdout + done.stderr
    assert len(webhook.received) == 1
    assert sentence in webhook.received[0]["message"]
    assert PASSWORD not in json.dumps(webhook.received)

    text = cli("run", env=env)
    assert text.returncode == 1
    assert sentence in " ".join((text.stdout + text.stderr).split())
    listing = cli("runs", env=env)
    assert listing.returncode == 1
    assert listing.stderr.startswith(f"Error: {sentence}")
    assert "Traceback" not in listing.stderr and PASSWORD not in listing.stderr


@pytest.mark.postgres
def test_transient_connect_failures_are_retried(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = psycopg.connect
    calls = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) < 3:
            raise psycopg.OperationalError(
                'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
                "Connection refused"
            )
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(PostgresStore, "connect_backoff", 0.01)
    monkeypatch.setattr(psycopg, "connect", flaky)
    store = PostgresStore.from_url(postgres_url)
    try:
        store.migrate()
        assert store.schema_version() == len(store.migrations)
    finally:
        store.close()
    assert len(calls) == 3


@pytest.mark.postgres
def test_definite_refusal_is_not_retried(postgres_server: str) -> None:
    url = pg.with_database(postgres_server, "covid_etl_no_such_database")
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore.from_url(url)
    assert caught.value.message.endswith('database "covid_etl_no_such_database" does not exist')


def _terminate_sessions(url: str) -> None:
    """End every other session on the test database, as a server restart would."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.mark.postgres
def test_lost_session_reconnects_for_reads_and_fails_writes_clearly(postgres_url: str) -> None:
    store = PostgresStore.from_url(postgres_url)
    try:
        store.migrate()
        _terminate_sessions(postgres_url)
        assert store.rows(registry.NATIONAL) == []  # the read was repeated on a fresh session
        _terminate_sessions(postgres_url)
        with pytest.raises(StoreUnavailable, match="lost the connection to PostgreSQL at "):
            store.set_notification_status(1, "x")
        assert store.count(registry.NATIONAL) == 0  # and the next call has a session again
    finally:
        store.close()


@pytest.mark.postgres
def test_schema_version_of_a_lost_session_is_the_stored_one_never_empty(
    postgres_url: str,
) -> None:
    """A session the server ended is not an empty database: the version is read again on a
    fresh session, or the loss is reported; never 0, which would re-run every migration."""
    store = PostgresStore.from_url(postgres_url)
    try:
        store.migrate()
        _terminate_sessions(postgres_url)
        assert store.schema_version() == len(store.migrations)
    finally:
        store.close()
    with pytest.raises(StoreUnavailable, match="cannot connect to PostgreSQL"):
        PostgresStore.from_url(pg.with_port(postgres_url, free_port())).schema_version()


def test_store_lost_mid_run_fails_the_run_and_notifies(
    database_url: str, webhook: WebhookSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("lost the connection to PostgreSQL at db:5432/x: server closed")

    monkeypatch.setattr(SqlStore, "create_run", lost)
    result = run_etl(fast_settings(database_url, offline=True, notify=(webhook.url,)))
    assert result.run.status is RunStatus.FAILED
    assert result.run.error == "lost the connection to PostgreSQL at db:5432/x: server closed"
    assert len(webhook.received) == 1
    assert "lost the connection" in webhook.received[0]["message"]


@pytest.mark.serial  # ends every session holding an advisory lock
@pytest.mark.postgres
def test_lost_writer_lock_session_stops_the_load(postgres_url: str) -> None:
    store = PostgresStore.from_url(postgres_url)
    try:
        store.migrate()
        with store.writer_lock(1.0):
            run = store.create_run(Trigger.MANUAL, "t", utcnow())
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted"
                )
            run.status = RunStatus.SUCCEEDED
            rows = [Record(dt.date(2020, 3, 1), 1, 0, None)]
            with pytest.raises(StoreUnavailable, match="lost the writer lock"):
                store.finish_run(run, [SeriesWrite(registry.NATIONAL, rows)], [])
        assert store.rows(registry.NATIONAL) == []
        stored = store.get_run(run.id)
        assert stored is not None and stored.status is RunStatus.RUNNING
    finally:
        store.close()


@pytest.mark.postgres
def test_refused_write_is_one_sentence_and_changes_nothing(postgres_url: str) -> None:
    store = PostgresStore.from_url(postgres_url)
    try:
        store.migrate()
        run = RunRecord(id=1, trigger=Trigger.MANUAL, environment="t", started_at=utcnow())
        bad = StoredRecord(Record(dt.date(2020, 3, 1), -1, 0, None), run_id=1)
        with pytest.raises(StoreError, match=r"refused the write: .*violates check constraint"):
            store.restore_history(History(runs=[run], records=[bad], notifications=[]))
        assert store.list_runs() == [] and store.rows(registry.NATIONAL) == []
    finally:
        store.close()


# -- same schema, same results --------------------------------------------------------------------


@pytest.mark.postgres
def test_schema_matches_sqlite(postgres_url: str, sqlite_url: str) -> None:
    lite, post = SqliteStore.from_url(sqlite_url), PostgresStore.from_url(postgres_url)
    try:
        lite.migrate()
        post.migrate()
        assert lite.schema_version() == post.schema_version() == len(PostgresStore.migrations)
        lite_columns = {
            table: [row[1] for row in lite._connection().execute(f"PRAGMA table_info({table})")]
            for table in ("schema_migrations", "runs", "records", "notifications")
        }
        post_columns = {
            table: [
                row[0]
                for row in post._connection().execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
            ]
            for table in lite_columns
        }
        assert post_columns == lite_columns
    finally:
        lite.close()
        post.close()


def _steps(url: str, steps: list[tuple[Path, Path]], server: SourceServer) -> list[tuple[Any, ...]]:
    """Run the ETL once per (NYT, JHU) pair; what each run reported and what it left stored."""
    seen = []
    for nyt, jhu in steps:
        run = run_etl(fast_settings(url, **serve_real(server, nyt, jhu))).run
        assert run.status is RunStatus.SUCCEEDED, run.error
        as_csv, as_json = exports(url)
        assert as_csv == expected_csv(nyt, jhu)
        counts = (run.initial_load, run.inserted, run.updated, run.unchanged)
        seen.append((*counts, run.data_through, run.warnings, as_csv, as_json))
    return seen


@pytest.mark.postgres
def test_real_data_gives_identical_counts_and_exports(
    sqlite_url: str, tmp_path: Path, postgres_server: str, source_server: SourceServer
) -> None:
    current = [(NYT_CURRENT, JHU_CURRENT), (NYT_CURRENT, JHU_CURRENT)]
    revisions = [
        (nyt_history("2021-06-15"), jhu_history("2021-06-15")),
        (nyt_history("2021-06-16"), jhu_history("2021-06-16")),
    ]
    lite = _steps(sqlite_url, current, source_server)
    lite += _steps(f"sqlite:///{tmp_path / 'revisions.db'}", revisions, source_server)
    with (
        pg.throwaway_database(postgres_server) as first,
        pg.throwaway_database(postgres_server) as second,
    ):
        post = _steps(first, current, source_server) + _steps(second, revisions, source_server)
    assert post == lite
    counts = [step[:4] for step in post]
    assert counts == [
        (True, 1100, 0, 0),
        (False, 0, 0, 1100),
        (True, 512, 0, 0),
        (False, 1, 16, 496),
    ]


# -- concurrency and crashes ----------------------------------------------------------------------


@pytest.mark.slow
# On S3: tests/run/test_crash_and_concurrency.py::test_concurrent_s3_runs_commit_once
@with_writer_lock
def test_five_concurrent_runs_load_once(database_url: str, source_server: SourceServer) -> None:
    urls = serve_real(source_server)
    env = cli_env(
        database_url,
        COVID_ETL_NYT_URL=urls["nyt_url"],
        COVID_ETL_JHU_URL=urls["jhu_url"],
        COVID_ETL_LOCK_TIMEOUT="120",
    )
    procs = [
        subprocess.Popen(
            [*CLI, "run", "--json"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr
        outputs.append(json.loads(stdout))
    loads = [o for o in outputs if o["inserted"]]
    assert len(loads) == 1
    assert (loads[0]["initial_load"], loads[0]["inserted"], loads[0]["updated"]) == (True, 1100, 0)
    for other in outputs:
        if other is not loads[0]:
            assert (other["inserted"], other["updated"], other["unchanged"]) == (0, 0, 1100)
    store = open_store(database_url)
    try:
        runs = store.list_runs()
        assert len(runs) == 5 and all(r.status is RunStatus.SUCCEEDED for r in runs)
        assert sum(r.inserted for r in runs) == 1100
    finally:
        store.close()
    assert exports(database_url)[0] == expected_csv(NYT_CURRENT, JHU_CURRENT)


@pytest.mark.slow
@with_writer_lock  # on S3: see test_crash_and_concurrency.py (kill before the upload)
def test_sigkill_mid_load_keeps_data_releases_lock_and_next_run_recovers(
    database_url: str, source_server: SourceServer
) -> None:
    day1 = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    assert run_etl(fast_settings(database_url, **day1)).run.inserted == 512
    before = exports(database_url)
    day2 = serve_real(source_server, nyt_history("2021-06-16"), jhu_history("2021-06-16"))
    env = cli_env(
        database_url, COVID_ETL_NYT_URL=day2["nyt_url"], COVID_ETL_JHU_URL=day2["jhu_url"]
    )
    with stalled_run(env) as (proc, marker):
        # The day's new row is written first, its 16 revisions after it.
        assert "series=national rows=1" in marker
        # Mid-load: readers still see the old rows; another writer gives up after its wait.
        assert exports(database_url) == before
        other = open_store(database_url)
        try:
            with pytest.raises(RunInProgress), other.writer_lock(0.5):
                pass  # pragma: no cover - the lock is held by the stalled load
        finally:
            other.close()

    assert exports(database_url) == before
    store = open_store(database_url)
    try:
        with store.writer_lock(10.0):  # released by the kernel / the server, not by us
            pass
        killed = [r for r in store.list_runs() if r.pid == proc.pid]
        assert [r.status for r in killed] == [RunStatus.RUNNING]
    finally:
        store.close()

    result = run_etl(fast_settings(database_url, **day2)).run
    assert result.status is RunStatus.SUCCEEDED
    assert (result.inserted, result.updated, result.unchanged) == (1, 16, 496)
    assert result.recovered_from == killed[0].id
    store = open_store(database_url)
    try:
        after_kill = store.get_run(killed[0].id)
        assert after_kill is not None and after_kill.status is RunStatus.INTERRUPTED
        assert after_kill.inserted == after_kill.updated == 0
    finally:
        store.close()
    assert exports(database_url)[0] == expected_csv(
        nyt_history("2021-06-16"), jhu_history("2021-06-16")
    )


# -- db copy --------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_db_copy_sqlite_to_postgres_then_no_change_run(
    sqlite_url: str,
    postgres_url: str,
    source_server: SourceServer,
    webhook: WebhookSink,
    tmp_path: Path,
) -> None:
    day1 = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    notify = (webhook.url,)
    assert run_etl(fast_settings(sqlite_url, notify=notify, **day1)).succeeded
    source_server.script("/nytimes/covid-19-data/master/us.csv", [Response(404, b"gone")])
    failed = run_etl(fast_settings(sqlite_url, notify=notify, **day1)).run
    assert failed.status is RunStatus.FAILED
    day2 = serve_real(source_server, nyt_history("2021-06-16"), jhu_history("2021-06-16"))
    assert run_etl(fast_settings(sqlite_url, notify=notify, **day2)).run.updated == 16

    pg_url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@")
    done = cli("db", "copy", "--from", sqlite_url, "--to", pg_url, env=cli_env(sqlite_url))
    assert done.returncode == 0, done.stderr
    assert "Copied 3 run(s), 513 record(s) and 3 notification(s)" in done.stdout
    assert PASSWORD not in done.stdout

    source, target = history_store(sqlite_url), history_store(postgres_url)
    try:
        assert target.dump_history() == source.dump_history()
    finally:
        source.close()
        target.close()

    again = run_etl(fast_settings(postgres_url, **day2)).run
    assert again.status is RunStatus.SUCCEEDED
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 513)
    assert again.id == 4  # ids continue after the copied history
    assert exports(postgres_url) == exports(sqlite_url)

    # And back again, PostgreSQL -> SQLite, through the library call the CLI uses.
    back = f"sqlite:///{tmp_path / 'back.db'}"
    report = copy_store(postgres_url, back)
    assert (report.runs, report.records, report.notifications) == (4, 513, 3)
    source, target = history_store(postgres_url), history_store(back)
    try:
        assert target.dump_history() == source.dump_history()
    finally:
        source.close()
        target.close()


@pytest.mark.postgres
def test_db_copy_refuses_non_empty_target_and_empty_source(
    sqlite_url: str, postgres_url: str, tmp_path: Path
) -> None:
    assert run_etl(fast_settings(postgres_url, offline=True)).succeeded
    assert run_etl(fast_settings(sqlite_url, offline=True)).succeeded
    env = cli_env(sqlite_url)
    refused = cli("db", "copy", "--from", sqlite_url, "--to", postgres_url, env=env)
    assert refused.returncode == 1
    assert "already holds runs or data" in refused.stderr
    target = open_store(postgres_url)
    try:
        assert len(target.list_runs()) == 1
    finally:
        target.close()

    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    nothing = cli("db", "copy", "--from", empty, "--to", postgres_url, env=env)
    assert nothing.returncode == 1
    assert "holds no covid-etl data" in nothing.stderr

    same = cli("db", "copy", "--from", sqlite_url, "--to", sqlite_url, env=env)
    assert same.returncode == 2


def test_db_copy_from_an_older_schema_says_how_to_upgrade_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    from covid_etl.store.sqlite import MIGRATIONS

    latest = len(MIGRATIONS)
    # The database as the release before the latest migration left it, with one run recorded.
    record_run_at_schema_version(sqlite_url, latest - 1)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    with pytest.raises(StoreError) as refused:
        copy_store(sqlite_url, target)
    assert str(refused.value) == (
        f"{sqlite_url} has schema version {latest - 1}, older than this covid-etl's {latest}: "
        "open it once with this version (e.g. `covid-etl runs`), which upgrades it, then copy it"
    )
    store = open_store(target)
    try:
        assert store.list_runs() == []
    finally:
        store.close()
    assert cli("runs", env=cli_env(sqlite_url)).returncode == 0  # the advice works
    assert copy_store(sqlite_url, target).runs == 1


def test_cli_run_runs_export_on_each_backend(database_url: str) -> None:
    env = cli_env(database_url, COVID_ETL_OFFLINE="1")
    first = cli("run", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["inserted"] == 1100
    again = cli("run", env=env)
    assert again.returncode == 0 and "0 row(s) changed" in again.stdout
    history = cli("runs", "--json", env=env)
    assert [r["status"] for r in json.loads(history.stdout)] == ["succeeded", "succeeded"]
    exported = cli("export", "--format", "csv", env=env)
    assert exported.stdout == expected_csv(NYT_CURRENT, JHU_CURRENT)


def test_postgres_tests_skip_without_a_server_unless_required() -> None:
    env = {
        **os.environ,
        "COVID_ETL_TEST_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x",
    }
    env.pop("COVID_ETL_REQUIRE_POSTGRES", None)
    args = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
    args += ["tests/store/test_store.py::test_empty_store_reads"]
    skipped = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert skipped.returncode == 0, skipped.stdout
    assert "2 passed, 1 skipped" in skipped.stdout  # SQLite and S3 ran, PostgreSQL skipped
    assert "no PostgreSQL server at" in skipped.stdout
    env["COVID_ETL_REQUIRE_POSTGRES"] = "1"
    required = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert required.returncode != 0
    assert "required: COVID_ETL_REQUIRE_POSTGRES=1" in required.stdout


def test_db_help() -> None:
    for args in (["db", "--help"], ["db", "copy", "--help"]):
        done = cli(*args, env=cli_env("sqlite:///unused.db"))
        assert done.returncode == 0
        assert "copy" in done.stdout and "Usage" in done.stdout


# -- notices and outcomes when the server goes away -----------------------------------------------


@pytest.mark.postgres
def test_failure_notice_for_a_lost_server_says_the_data_state_is_unknown(
    postgres_url: str, source_server: SourceServer, webhook: WebhookSink
) -> None:
    day1 = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    assert run_etl(fast_settings(postgres_url, **day1)).run.inserted == 512
    # The server is gone: the same database, reached at a port where nothing listens.
    gone = pg.with_port(postgres_url, free_port())
    env = cli_env(
        gone,
        COVID_ETL_NYT_URL=day1["nyt_url"],
        COVID_ETL_JHU_URL=day1["jhu_url"],
        COVID_ETL_NOTIFY=webhook.url,
    )
    done = cli("run", env=env)
    assert done.returncode == 1, done.stderr
    unknown = "the data's state is unknown because the store is unavailable"
    assert unknown in " ".join(done.stdout.split())
    assert "data still through -" not in done.stdout
    (notice,) = webhook.received
    assert unknown in notice["message"]
    assert "the database holds no data yet" not in notice["message"]
    assert exports(postgres_url)[0] == expected_csv(
        nyt_history("2021-06-15"), jhu_history("2021-06-15")
    )


@pytest.mark.postgres
def test_connection_lost_after_the_commit_leaves_the_run_succeeded(
    postgres_url: str, source_server: SourceServer, webhook: WebhookSink
) -> None:
    urls = serve_real(source_server)
    # The moment the success notice arrives, every session of the run is terminated: recording
    # the delivery then fails on a lost connection, after the load has committed.
    webhook.on_receive = lambda _message: _terminate_sessions(postgres_url)
    env = cli_env(
        postgres_url,
        COVID_ETL_NYT_URL=urls["nyt_url"],
        COVID_ETL_JHU_URL=urls["jhu_url"],
        COVID_ETL_NOTIFY=webhook.url,
    )
    done = cli("run", "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "succeeded" and out["inserted"] == 1100 and out["run_id"] == 1
    assert [m["title"].split("]")[1].split()[0] for m in webhook.received] == ["Succeeded"]
    store = open_store(postgres_url)
    try:
        run = store.get_run(1)
        assert run is not None and run.status is RunStatus.SUCCEEDED
        assert store.count(registry.NATIONAL) == 1100
    finally:
        store.close()


@pytest.mark.postgres
def test_server_ending_the_sessions_during_the_load_keeps_the_data_and_next_run_recovers(
    postgres_url: str, source_server: SourceServer
) -> None:
    day1 = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    assert run_etl(fast_settings(postgres_url, **day1)).run.inserted == 512
    before = exports(postgres_url)
    day2 = serve_real(source_server, nyt_history("2021-06-16"), jhu_history("2021-06-16"))
    env = cli_env(
        postgres_url, COVID_ETL_NYT_URL=day2["nyt_url"], COVID_ETL_JHU_URL=day2["jhu_url"]
    )
    with psycopg.connect(postgres_url) as admin:
        # Hold back writes to the table, so the load is caught inside its transaction.
        admin.execute("LOCK TABLE records IN SHARE MODE")
        proc = subprocess.Popen(
            [*CLI, "run", "--json"], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        with psycopg.connect(postgres_url, autocommit=True) as watcher:
            while not watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO records%'"
            ).fetchone():
                assert time.monotonic() < deadline and proc.poll() is None, "no load started"
                time.sleep(0.05)
        # The load is half-way: end every session of the run, as a server crash would.
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        admin.rollback()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    failed = json.loads(out)
    assert failed["failed_stage"] == "load" and "PostgreSQL" in failed["error"]
    assert exports(postgres_url) == before

    result = run_etl(fast_settings(postgres_url, **day2)).run
    assert result.status is RunStatus.SUCCEEDED and result.recovered_from is not None
    assert (result.inserted, result.updated, result.unchanged) == (1, 16, 496)


# -- least privilege ------------------------------------------------------------------------------


def documented_grants(database: str, role: str) -> list[str]:
    """The GRANT statements of docs/postgresql.md's least-privilege block, for ``role`` on
    ``database`` (the page uses ``covid`` and ``covid_etl``)."""
    page = (ROOT / "docs" / "postgresql.md").read_text()
    block = page.split("```sql\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("--")]
    statements = [" ".join(s.split()) for s in " ".join(lines).split(";") if s.strip()]
    assert statements and all(s.startswith("GRANT ") for s in statements), statements
    return [
        s.replace("DATABASE covid ", f'DATABASE "{database}" ').replace(" covid_etl", f" {role}")
        for s in statements
    ]


@pytest.mark.postgres
def test_the_documented_grants_are_enough_for_every_command(
    postgres_server: str, sqlite_url: str, tmp_path: Path
) -> None:
    """A role given only docs/postgresql.md's grants loads, revises, removes with
    --accept-removals, reads and copies both series and the change log, once the owner has
    migrated; and a pending migration fails its run at stage open, changing nothing."""
    import secrets

    from psycopg import sql

    from tests.helpers.data import STATES_REAL

    role, password = f"covid_etl_{secrets.token_hex(4)}", secrets.token_hex(8)
    states = STATES_REAL.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_text(states[0] + "".join(line for line in states[1:] if line[:10] <= "2021-06-30"))
    full = tmp_path / "full.csv"
    full.write_text("".join(states))
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    try:
        with (
            pg.throwaway_database(postgres_server) as owner_url,
            pg.throwaway_database(postgres_server) as copy_url,
        ):
            as_role = {url: with_user(url, role, password) for url in (owner_url, copy_url)}
            # The owner migrates one database to an older schema, the other to the current one.
            latest = len(PostgresStore.migrations)
            with store_at_schema_version(owner_url, 5), store_at_schema_version(copy_url, latest):
                pass
            grant(owner_url, role, before_8=True)
            grant(copy_url, role)

            def run(
                url: str, states_file: Path, *args: str, notes: Path = ANOMALIES_CURRENT
            ) -> subprocess.CompletedProcess[str]:
                env = cli_env(
                    url,
                    COVID_ETL_NYT_URL=str(NYT_CURRENT),
                    COVID_ETL_JHU_URL=str(JHU_CURRENT),
                    COVID_ETL_STATES_URL=str(states_file),
                    COVID_ETL_ANOMALIES_URL=str(notes),
                )
                return cli("run", "--json", *args, env=env)

            pending = run(as_role[owner_url], cut)
            assert pending.returncode == 1
            assert json.loads(pending.stdout)["failed_stage"] == "open"
            assert "permission denied" in json.loads(pending.stdout)["error"]
            store = open_store(owner_url)
            assert store.count(registry.STATES) == store.count(registry.NATIONAL) == 0
            store.migrate()  # the owner upgrades
            store.close()
            grant(owner_url, role)  # and grants the new tables, as the page says

            first = run(as_role[owner_url], cut)
            assert first.returncode == 0, first.stderr
            second = run(as_role[owner_url], full)
            assert second.returncode == 0, second.stderr
            assert json.loads(second.stdout)["states"]["inserted"] == 440
            removed = run(as_role[owner_url], cut, "--accept-removals")
            assert removed.returncode == 0, removed.stderr
            assert json.loads(removed.stdout)["states"]["removed"] == 440
            # An ordinary run removes a note the NYT dropped (its DELETE grant).
            fewer = tmp_path / "fewer-notes.csv"
            fewer.write_text("".join(ANOMALIES_CURRENT.read_text().splitlines(True)[:-1]))
            dropped = run(as_role[owner_url], cut, notes=fewer)
            assert dropped.returncode == 0, dropped.stderr
            assert json.loads(dropped.stdout)["anomalies"]["removed"] == 1
            env = cli_env(as_role[owner_url])
            for command in (["runs"], ["export", "--states"], ["changes"], ["check"]):
                done = cli(*command, env=env)
                assert done.returncode == 0, (command, done.stderr)

            local = fast_settings(
                sqlite_url, nyt_url=str(NYT_CURRENT), jhu_url=str(JHU_CURRENT), states_url=str(cut)
            )
            assert run_etl(local).succeeded
            copy = ["db", "copy", "--from", sqlite_url, "--to", as_role[copy_url]]
            copied = cli(*copy, env=cli_env(sqlite_url))
            assert copied.returncode == 0, copied.stderr
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def with_user(url: str, role: str, password: str) -> str:
    """``url`` with another user and password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}"))


def grant(url: str, role: str, *, before_8: bool = False) -> None:
    """Run the documented grants on ``url``'s database, as its owner. They go with the database
    when the test drops it, which lets the role itself be dropped afterwards. ``before_8``: the
    block as it was for a schema before version 8, which had no ``anomalies`` table."""
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in documented_grants(database, role):
            if before_8:
                statement = statement.replace(", anomalies TO", " TO")
                if statement.startswith("GRANT DELETE ON anomalies "):
                    continue
            conn.execute(statement)
