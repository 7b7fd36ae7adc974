"""The Store contract, run on every backend: schema, atomic finish_run, upserts, locks, history."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from covid_etl.errors import INTERRUPTED_ERROR, DuplicateEvent, RunInProgress, StoreError
from covid_etl.models import (
    DeliveryStatus,
    Record,
    RunRecord,
    RunStatus,
    SourceMeta,
    Stage,
    Trigger,
    utcnow,
)
from covid_etl.series import registry
from covid_etl.series.diff import Changes, diff_series
from covid_etl.store import open_store
from covid_etl.store.base import (
    History,
    HistoryStore,
    PendingChannel,
    SeriesWrite,
    Store,
    latest_record,
)
from covid_etl.store.sql import SqlStore
from tests.helpers import postgres as pg
from tests.helpers.backends import with_writer_lock

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
DAY0 = dt.date(2020, 1, 22)


@pytest.fixture
def store(database_url: str) -> Iterator[HistoryStore]:
    opened = open_store(database_url)
    opened.migrate()
    try:
        yield opened  # type: ignore[misc]
    finally:
        opened.close()


def series(n: int, *, start: int = 0, bump: int = 0) -> list[Record]:
    """``n`` consecutive days of made-up counts; ``bump`` revises every count."""
    return [
        Record(DAY0 + dt.timedelta(days=i), 10 * i + bump, i + bump, None if i % 7 else i)
        for i in range(start, start + n)
    ]


def national(rows: Sequence[Record]) -> list[SeriesWrite]:
    """``rows`` to write to the national series, each replacing a stored row of its date."""
    return [SeriesWrite(registry.NATIONAL, updated=rows)] if rows else []


def stored_records(store: Store) -> dict[dt.date, Record]:
    return {r.date: r for r in store.rows(registry.NATIONAL)}


def diff_records(stored: dict[dt.date, Record], incoming: list[Record]) -> Changes:
    rows = list(stored.values())
    return diff_series(registry.NATIONAL, incoming, [None] if rows else [], lambda _: rows)


def finished(store: Store, changes: Sequence[Record] = (), **fields: Any) -> RunRecord:
    """Create a run and finish it successfully with ``changes``."""
    run = store.create_run(Trigger.MANUAL, "testing", T0)
    run.status = RunStatus.SUCCEEDED
    run.finished_at = T0 + dt.timedelta(seconds=5)
    run.inserted = len(changes)
    for name, value in fields.items():
        setattr(run, name, value)
    store.finish_run(run, national(changes), [])
    return run


def run_ids(store: HistoryStore) -> dict[dt.date, int]:
    return {r.record.date: r.run_id for r in store.dump_history().records}


# -- schema ---------------------------------------------------------------------------------------


def test_migrate_is_idempotent_and_versioned(database_url: str) -> None:
    store = open_store(database_url)
    try:
        assert store.schema_version() == 0
        store.migrate()
        version = store.schema_version()
        assert version == len(store.migrations) == 8  # type: ignore[attr-defined]
        store.migrate()
        store.migrate()
        assert store.schema_version() == version
        assert store.rows(registry.NATIONAL) == [] and store.list_runs() == []
    finally:
        store.close()


def test_migrations_keep_existing_data(store: HistoryStore, database_url: str) -> None:
    finished(store, series(3))
    again = open_store(database_url)
    try:
        again.migrate()
        assert again.rows(registry.NATIONAL) == series(3)
    finally:
        again.close()


def test_an_older_covid_etl_refuses_a_database_a_newer_one_migrated(
    store: HistoryStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rolling the code back without the data: the older code would read and write tables it
    does not know (an older national rule once asked to delete 284 stored days), so it stops
    before touching anything and says what to do."""
    finished(store, series(3))
    from covid_etl.store.postgres import PostgresStore
    from covid_etl.store.sqlite import SqliteStore

    with monkeypatch.context() as older_code:
        for backend in (SqliteStore, PostgresStore):  # S3 keeps an SQLite object
            older_code.setattr(backend, "migrations", backend.migrations[:-1])
        older = open_store(database_url)
        try:
            with pytest.raises(StoreError) as refused:
                older.migrate()
            message = str(refused.value)
            assert message.startswith(f"{older.url_for_display} has schema version 8, ")
            assert "newer than this covid-etl knows (7)" in message
            assert "upgrade covid-etl, or restore the backup taken before the upgrade" in message
        finally:
            older.close()
    again = open_store(database_url)
    try:
        again.migrate()
        assert again.schema_version() == 8
        assert again.rows(registry.NATIONAL) == series(3)
    finally:
        again.close()


# -- finish_run: one transaction ------------------------------------------------------------------


def test_finish_run_is_atomic(store: HistoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    first = finished(store, series(10))
    before = store.dump_history()
    run = store.create_run(Trigger.MANUAL, "testing", T0)
    created = store.get_run(run.id)

    # 12,000 changes are three batches: the first is written, the second raises.
    original = SqlStore._write_rows
    calls = []

    def fail_on_second_batch(
        self: SqlStore, cur: Any, series: Any, run_id: int, rows: Sequence[Record], *, new: bool
    ) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        original(self, cur, series, run_id, rows, new=new)

    monkeypatch.setattr(SqlStore, "_write_rows", fail_on_second_batch)
    run.status = RunStatus.SUCCEEDED
    run.finished_at = T0
    run.inserted, run.updated = 11_990, 10
    channel = PendingChannel("key", "json://hook")
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.finish_run(run, national(series(12_000, bump=1)), [channel])

    assert calls[:2] == [5000, 5000]
    after = store.dump_history()
    assert after.records == before.records  # not one row of the first batch survived
    assert store.get_run(run.id) == created  # still "running", no counts
    assert store.notifications(run.id) == []
    assert store.get_run(first.id) == before.runs[0]


def test_finish_run_writes_rows_run_record_and_notifications_together(
    store: HistoryStore,
) -> None:
    run = store.create_run(Trigger.SCHEDULE, "testing", T0)
    run.status = RunStatus.SUCCEEDED
    run.finished_at = T0 + dt.timedelta(minutes=1)
    run.initial_load = True
    run.inserted = 3
    run.data_through = series(3)[-1].date
    run.warnings = ["a warning"]
    run.sources = [SourceMeta("nyt", "https://example.org/us.csv", 200, 123, "ab" * 32, '"e"')]
    store.finish_run(
        run, national(series(3)), [PendingChannel("k1", "json://a"), PendingChannel("k2", "b")]
    )
    assert store.get_run(run.id) == run
    assert store.rows(registry.NATIONAL) == series(3)
    assert [n.channel_key for n in store.notifications(run.id)] == ["k1", "k2"]


# -- upserts and counts ---------------------------------------------------------------------------


def test_upsert_writes_only_changed_rows_and_counts_are_true(store: HistoryStore) -> None:
    first = finished(store, series(20))
    revised = series(20)
    revised[3] = Record(revised[3].date, 999_999, 5, None)
    revised[17] = Record(revised[17].date, revised[17].cases, revised[17].deaths, 42)
    new = [*revised, *series(2, start=20)]

    changes = diff_records(stored_records(store), new)
    assert (len(changes.inserted), len(changes.updated), changes.unchanged) == (2, 2, 18)
    second = finished(
        store, changes.inserted + changes.updated, inserted=2, updated=2, unchanged=18
    )

    assert store.rows(registry.NATIONAL) == new
    assert store.count(registry.NATIONAL) == 22
    written_by = run_ids(store)
    changed = {revised[3].date, revised[17].date, *(r.date for r in series(2, start=20))}
    assert {d for d, run_id in written_by.items() if run_id == second.id} == changed
    assert sum(1 for run_id in written_by.values() if run_id == first.id) == 18
    again = diff_records(stored_records(store), new)
    assert again.inserted == again.updated == []


def test_rows_are_never_deleted(store: HistoryStore) -> None:
    finished(store, series(30))
    # A later run that only knows about (and revises) the last five days.
    finished(store, series(5, start=25, bump=3))
    rows = store.rows(registry.NATIONAL)
    assert len(rows) == 30
    assert rows[:25] == series(25)
    assert rows[25:] == series(5, start=25, bump=3)


# -- runs -----------------------------------------------------------------------------------------


def test_run_record_round_trips_every_field(store: HistoryStore) -> None:
    failed = store.create_run(Trigger.EVENT, "staging", T0)
    failed.status = RunStatus.FAILED
    failed.failed_stage = Stage.VALIDATE
    failed.error = "NYT CSV: bad value (line 3)"
    failed.finished_at = T0 + dt.timedelta(seconds=1)
    store.finish_run(failed, [], [])
    ok = finished(
        store,
        series(2),
        recovered_from=failed.id,
        warnings=["w1", "w2 ünïcode"],
        data_through=series(2)[-1].date,
        sources=[SourceMeta("jhu", "https://x/y.csv", 304, 0, None, '"t"', "Mon", True)],
    )
    assert store.get_run(failed.id) == failed
    assert store.get_run(ok.id) == ok
    assert store.get_run(ok.id + 100) is None
    assert [r.id for r in store.list_runs()] == [ok.id, failed.id]
    assert [r.id for r in store.list_runs(limit=1, offset=1)] == [failed.id]
    assert store.last_run() == ok
    assert store.last_run(before=ok.id) == failed
    assert store.last_run(before=failed.id) is None
    assert store.last_successful_run() == ok
    got = store.get_run(ok.id)
    assert got is not None and got.started_at.utcoffset() == dt.timedelta(0)


def test_latest_record_is_the_row_a_succeeded_run_ends_on(store: HistoryStore) -> None:
    rows = series(3)
    ok = finished(store, rows, data_through=rows[1].date)
    assert latest_record(store, ok) == rows[1]
    failed = store.create_run(Trigger.MANUAL, "testing", T0)
    failed.status, failed.data_through = RunStatus.FAILED, rows[-1].date
    assert latest_record(store, failed) is None  # a failure message quotes no figures


def test_record_failed_start_and_set_notification_status(store: HistoryStore) -> None:
    run = RunRecord(
        id=0,
        trigger=Trigger.MANUAL,
        environment="testing",
        started_at=T0,
        finished_at=T0,
        status=RunStatus.FAILED,
        failed_stage=Stage.LOCK,
        error="another run is in progress",
    )
    stored = store.record_failed_start(run)
    assert stored.id > 0
    store.set_notification_status(stored.id, "delivered to 1 channel(s)")
    got = store.get_run(stored.id)
    assert got is not None and got.status is RunStatus.FAILED
    assert got.notification_status == "delivered to 1 channel(s)"


def test_mark_interrupted(store: HistoryStore) -> None:
    done = finished(store, series(1))
    dead = store.create_run(Trigger.MANUAL, "testing", T0)
    later = T0 + dt.timedelta(hours=1)
    assert store.mark_interrupted(later) == [dead.id]
    got = store.get_run(dead.id)
    assert got is not None
    assert (got.status, got.finished_at, got.error) == (
        RunStatus.INTERRUPTED,
        later,
        INTERRUPTED_ERROR,
    )
    assert store.get_run(done.id) == done
    assert store.mark_interrupted(later) == []


# -- duplicate events -----------------------------------------------------------------------------


def test_a_succeeded_event_id_is_refused_before_anything_is_written(store: HistoryStore) -> None:
    first = store.create_run(Trigger.SCHEDULE, "testing", T0, "evt-1")
    first.status, first.finished_at = RunStatus.SUCCEEDED, T0
    store.finish_run(first, national(series(1)), [])
    with pytest.raises(DuplicateEvent) as duplicate:
        store.create_run(Trigger.SCHEDULE, "testing", T0, "evt-1")
    assert duplicate.value.run == store.get_run(first.id)
    assert duplicate.value.run.event_id == "evt-1"
    assert [r.id for r in store.list_runs()] == [first.id]
    assert store.create_run(Trigger.SCHEDULE, "testing", T0, "evt-2").id == first.id + 1


def test_a_failed_event_may_run_again(store: HistoryStore) -> None:
    failed = store.create_run(Trigger.EVENT, "testing", T0, "evt-1")
    failed.status, failed.failed_stage, failed.finished_at = RunStatus.FAILED, Stage.EXTRACT, T0
    store.finish_run(failed, [], [])
    retry = store.create_run(Trigger.EVENT, "testing", T0, "evt-1")
    assert retry.id == failed.id + 1 and retry.event_id == "evt-1"


def test_the_load_transaction_refuses_a_second_success_for_one_event(
    store: HistoryStore,
) -> None:
    # Both deliveries got past create_run (e.g. two processes): only one may commit a success.
    one = store.create_run(Trigger.EVENT, "testing", T0, "evt-1")
    two = store.create_run(Trigger.EVENT, "testing", T0, "evt-1")
    one.status = two.status = RunStatus.SUCCEEDED
    store.finish_run(one, national(series(2)), [])
    with pytest.raises(StoreError):
        store.finish_run(two, national(series(3, bump=1)), [PendingChannel("k", "json://a")])
    assert store.rows(registry.NATIONAL) == series(2)
    assert store.notifications(two.id) == []
    got = store.get_run(two.id)
    assert got is not None and got.status is RunStatus.RUNNING


# -- notifications --------------------------------------------------------------------------------


def test_notifications_round_trip(store: HistoryStore) -> None:
    run = store.create_run(Trigger.MANUAL, "testing", T0)
    run.status = RunStatus.SUCCEEDED
    run.finished_at = T0
    store.finish_run(run, [], [PendingChannel("a", "json://a"), PendingChannel("b", "mailto://b")])
    pending = store.pending_notifications()
    assert [(n.run_id, n.channel_key, n.status, n.attempts) for n in pending] == [
        (run.id, "a", DeliveryStatus.PENDING, 0),
        (run.id, "b", DeliveryStatus.PENDING, 0),
    ]
    assert pending[0].created_at == T0
    at = T0 + dt.timedelta(seconds=30)
    store.update_notification(pending[0].id, DeliveryStatus.DELIVERED, 1, None, at)
    store.update_notification(pending[1].id, DeliveryStatus.PENDING, 3, "HTTP 500", at)
    assert [n.id for n in store.pending_notifications()] == [pending[1].id]
    a, b = store.notifications(run.id)
    assert (a.status, a.attempts, a.delivered_at, a.last_error) == (
        DeliveryStatus.DELIVERED, 1, at, None,
    )  # fmt: skip
    assert (b.status, b.attempts, b.delivered_at, b.last_error) == (
        DeliveryStatus.PENDING, 3, None, "HTTP 500",
    )  # fmt: skip
    assert store.notifications(run.id + 1) == []


# -- reads ----------------------------------------------------------------------------------------


def test_records_filters_and_paging(store: HistoryStore) -> None:
    rows = series(40)
    finished(store, rows)
    d = [r.date for r in rows]
    assert store.rows(registry.NATIONAL) == rows
    assert store.rows(registry.NATIONAL, start=d[10]) == rows[10:]
    assert store.rows(registry.NATIONAL, end=d[4]) == rows[:5]
    assert store.rows(registry.NATIONAL, start=d[5], end=d[7]) == rows[5:8]
    assert store.rows(registry.NATIONAL, limit=3) == rows[:3]
    assert store.rows(registry.NATIONAL, limit=3, offset=38) == rows[38:]
    assert store.rows(registry.NATIONAL, offset=35) == rows[35:]
    assert store.rows(registry.NATIONAL, start=d[20], limit=2, offset=1) == rows[21:23]
    assert store.rows(registry.NATIONAL, start=d[39] + dt.timedelta(days=1)) == []
    assert store.count(registry.NATIONAL) == 40
    assert store.count(registry.NATIONAL, start=d[10], end=d[19]) == 10
    assert store.latest_date(registry.NATIONAL) == d[-1]
    assert stored_records(store) == {r.date: r for r in rows}


def test_empty_store_reads(store: HistoryStore) -> None:
    assert store.latest_date(registry.NATIONAL) is None
    assert store.count(registry.NATIONAL) == 0
    assert store.last_run() is None and store.last_successful_run() is None
    assert store.pending_notifications() == []


# -- the writer lock ------------------------------------------------------------------------------


@pytest.mark.serial  # a lock wait within 3 s
@with_writer_lock  # S3 takes none: see tests/helpers/backends.py
def test_writer_lock_waits_a_bounded_time_then_raises(database_url: str) -> None:
    holder, waiter = open_store(database_url), open_store(database_url)
    try:
        with holder.writer_lock(1.0):
            started = time.monotonic()
            with (
                pytest.raises(RunInProgress, match="another run is in progress"),
                waiter.writer_lock(0.4),
            ):
                pass  # pragma: no cover - must not get here
            waited = time.monotonic() - started
            assert 0.4 <= waited < 3.0
        with waiter.writer_lock(0.4):
            pass  # free again once the holder left
    finally:
        holder.close()
        waiter.close()


@with_writer_lock  # S3 takes none: see tests/helpers/backends.py
def test_writer_lock_is_granted_when_the_holder_finishes(database_url: str) -> None:
    holder, waiter = open_store(database_url), open_store(database_url)
    release = threading.Event()
    held = threading.Event()

    def hold() -> None:
        with holder.writer_lock(1.0):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(5)
        threading.Timer(0.3, release.set).start()
        with waiter.writer_lock(10.0):
            assert release.is_set()
    finally:
        release.set()
        thread.join()
        holder.close()
        waiter.close()


# -- whole history (db copy) ----------------------------------------------------------------------


@pytest.fixture
def other_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second, empty database on the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    if database_url.startswith("s3"):
        yield database_url.rsplit("/", 1)[0] + "/other"
        return
    with pg.throwaway_database(request.getfixturevalue("postgres_server")) as url:
        yield url


def test_history_dump_and_restore_keep_ids(store: HistoryStore, other_url: str) -> None:
    failed = store.create_run(Trigger.MANUAL, "testing", T0)
    failed.status, failed.failed_stage, failed.finished_at = RunStatus.FAILED, Stage.EXTRACT, T0
    store.finish_run(failed, [], [PendingChannel("k", "json://a")])
    finished(store, series(5), recovered_from=failed.id)
    finished(store, series(2, start=3, bump=1))
    history = store.dump_history()

    target: HistoryStore = open_store(other_url)  # type: ignore[assignment]
    try:
        target.migrate()
        target.restore_history(history)
        assert target.dump_history() == history
        nxt = target.create_run(Trigger.MANUAL, "testing", T0)
        assert nxt.id == history.runs[-1].id + 1  # ids continue after the copied ones
        with pytest.raises(StoreError, match="already holds runs or data"):
            target.restore_history(History(runs=[], records=[], notifications=[]))
    finally:
        target.close()


def test_sqlite_load_gets_a_large_page_cache_and_gives_it_back(sqlite_url: str) -> None:
    """The load transaction runs with a 64 MiB page cache (a large load otherwise re-reads its
    own pages through the WAL); reads afterwards keep the connection's own, so a later
    quick_check or API read does not fill 64 MiB."""
    from covid_etl.store.sqlite import LOAD_CACHE_KIB

    store: Any = open_store(sqlite_url)
    try:
        store.migrate()
        conn = store._connection()
        before = conn.execute("PRAGMA cache_size").fetchone()[0]
        run = store.create_run(Trigger.MANUAL, "testing", utcnow())
        run.status = RunStatus.SUCCEEDED
        seen: list[str] = []
        conn.set_trace_callback(seen.append)
        store.finish_run(run, national([Record(dt.date(2021, 1, 1), 1, 0, None)]), [])
        conn.set_trace_callback(None)
        assert f"PRAGMA cache_size = -{LOAD_CACHE_KIB}" in seen
        assert seen.index(f"PRAGMA cache_size = -{LOAD_CACHE_KIB}") < seen.index("BEGIN IMMEDIATE")
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == before
    finally:
        store.close()
