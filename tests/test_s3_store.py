"""The S3 store against moto: conditional writes, the lease, the two-object commit, real data."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("moto")
import boto3
from moto import mock_aws

from covid_etl.errors import RunInProgress
from covid_etl.export import write_csv
from covid_etl.models import Record, RunStatus, Stage, Trigger, utcnow
from covid_etl.pipeline import run_etl
from covid_etl.store import check_database_url, open_store
from covid_etl.store.s3 import DuplicateEvent, S3Store, StoreConflict
from tests.conftest import (
    JHU_CURRENT,
    NYT_CURRENT,
    fast_settings,
    jhu_history,
    nyt_history,
    serve_real,
)
from tests.helpers.aws import BUCKET, atomic_conditional_puts, fake_credentials
from tests.helpers.reference import expected_csv
from tests.helpers.servers import SourceServer

URL = f"s3://{BUCKET}/testing"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_credentials(monkeypatch)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def body(s3: Any, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[no-any-return]


def csv_of(rows: list[Record]) -> str:
    out = io.StringIO()
    write_csv(rows, out)
    return out.getvalue()


def rec(day: int, cases: int) -> Record:
    return Record(dt.date(2020, 3, day), cases, 0, None)


# --------------------------------------------------------------------------- moto itself


def test_moto_honours_the_conditional_puts_we_rely_on(s3: Any) -> None:
    from botocore.exceptions import ClientError

    first = s3.put_object(Bucket=BUCKET, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as exists:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"2", IfNoneMatch="*")
    assert exists.value.response["Error"]["Code"] == "PreconditionFailed"
    second = s3.put_object(Bucket=BUCKET, Key="k", Body=b"2", IfMatch=first)["ETag"]
    with pytest.raises(ClientError) as stale:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"3", IfMatch=first)
    assert stale.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError):
        s3.delete_object(Bucket=BUCKET, Key="k", IfMatch=first)
    s3.delete_object(Bucket=BUCKET, Key="k", IfMatch=second)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="k")


# --------------------------------------------------------------------------- URLs


def test_open_store_dispatches_s3_urls_without_importing_boto3_eagerly() -> None:
    check_database_url("s3://bucket/prefix")
    store = open_store("s3://bucket/some/prefix/")
    assert isinstance(store, S3Store)
    assert (store.bucket, store.records_key) == ("bucket", "some/prefix/records.csv")
    assert S3Store.from_url("s3://bucket").runs_key == "runs.json"


# --------------------------------------------------------------------------- pipeline on S3


def test_real_data_initial_load_rerun_and_update(s3: Any, source_server: SourceServer) -> None:
    old = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    first = run_etl(fast_settings(URL, **old)).run
    assert first.status is RunStatus.SUCCEEDED and first.initial_load
    assert first.inserted == 511
    assert body(s3, "testing/records.csv").decode() == expected_csv(
        nyt_history("2021-06-15"), jhu_history("2021-06-15")
    )
    head = s3.head_object(Bucket=BUCKET, Key="testing/records.csv")
    assert head["Metadata"] == {"run-id": "1"}

    again = run_etl(fast_settings(URL, **old)).run
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 511)
    # A run with nothing to write leaves records.csv alone.
    assert s3.head_object(Bucket=BUCKET, Key="testing/records.csv")["ETag"] == head["ETag"]

    new = serve_real(source_server)
    update = run_etl(fast_settings(URL, **new)).run
    assert update.status is RunStatus.SUCCEEDED and not update.initial_load
    assert update.inserted == 305 and update.updated > 0
    assert body(s3, "testing/records.csv").decode() == expected_csv(NYT_CURRENT, JHU_CURRENT)

    history = json.loads(body(s3, "testing/runs.json"))
    assert [r["status"] for r in history["runs"]] == ["succeeded"] * 3
    assert [r["id"] for r in history["runs"]] == [1, 2, 3]
    # The lease is released after each run.
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="testing/lock")

    store = open_store(URL)
    assert store.count_records() == 816
    assert store.data_through() == dt.date(2022, 4, 16)
    assert [r.id for r in store.list_runs(limit=2)] == [3, 2]
    assert store.last_successful_run().id == 3  # type: ignore[union-attr]
    assert len(store.records(limit=10, offset=810)) == 6


def test_failed_run_leaves_records_untouched(s3: Any, source_server: SourceServer) -> None:
    urls = serve_real(source_server)
    assert run_etl(fast_settings(URL, **urls)).succeeded
    before = s3.head_object(Bucket=BUCKET, Key="testing/records.csv")
    source_server.serve(
        "/nytimes/covid-19-data/master/us.csv", b"date,cases,deaths\n2020-01-21,-2,0\n"
    )
    failed = run_etl(fast_settings(URL, **urls)).run
    assert failed.status is RunStatus.FAILED and failed.failed_stage is Stage.VALIDATE
    assert "count is negative" in (failed.error or "")
    after = s3.head_object(Bucket=BUCKET, Key="testing/records.csv")
    assert (after["ETag"], after["VersionId"]) == (before["ETag"], before["VersionId"])


def test_missing_bucket_is_a_clear_open_failure(s3: Any, source_server: SourceServer) -> None:
    result = run_etl(fast_settings("s3://no-such-bucket/testing", **serve_real(source_server)))
    assert result.run.failed_stage is Stage.OPEN
    assert "no-such-bucket" in (result.run.error or "")


# --------------------------------------------------------------------------- conditional writes


def test_two_writers_racing_on_records_csv_cannot_both_win(s3: Any) -> None:
    seed = S3Store(BUCKET, "testing")
    run = seed.create_run(Trigger.MANUAL, "testing", utcnow())
    seed.stored_records()
    run.status, run.inserted = RunStatus.SUCCEEDED, 1
    seed.finish_run(run, [rec(1, 1)], [])

    stores = [S3Store(BUCKET, "testing") for _ in range(2)]
    runs = [s.create_run(Trigger.MANUAL, "testing", utcnow()) for s in stores]
    for store in stores:
        store.stored_records()  # both computed their diff against the same version
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def finish(i: int) -> None:
        runs[i].status, runs[i].inserted = RunStatus.SUCCEEDED, 1
        barrier.wait()
        try:
            stores[i].finish_run(runs[i], [rec(2 + i, 10 + i)], [])
            outcomes[i] = "won"
        except StoreConflict as exc:
            outcomes[i] = exc

    with atomic_conditional_puts():
        threads = [threading.Thread(target=finish, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(str(type(o).__name__) for o in outcomes) == ["StoreConflict", "str"]
    winner = outcomes.index("won")
    loser = outcomes[1 - winner]
    assert "changed since this run read it" in str(loser)
    assert body(s3, "testing/records.csv").decode() == csv_of(
        [rec(1, 1), rec(2 + winner, 10 + winner)]
    )


def test_lost_race_through_the_pipeline_is_a_load_failure(s3: Any) -> None:
    store = S3Store(BUCKET, "testing")
    run = store.create_run(Trigger.MANUAL, "testing", utcnow())
    store.stored_records()
    # Someone else writes records.csv after this run read it.
    s3.put_object(Bucket=BUCKET, Key="testing/records.csv", Body=csv_of([rec(9, 9)]).encode())
    run.status = RunStatus.SUCCEEDED
    with pytest.raises(StoreConflict):
        store.finish_run(run, [rec(1, 1)], [])
    assert body(s3, "testing/records.csv").decode() == csv_of([rec(9, 9)])


# --------------------------------------------------------------------------- the lease


def test_lease_excludes_a_second_writer_then_times_out(s3: Any) -> None:
    holder, waiter = S3Store(BUCKET, "testing"), S3Store(BUCKET, "testing")
    waiter.poll_seconds = 0.02
    with holder.writer_lock(1), pytest.raises(RunInProgress) as exc, waiter.writer_lock(0.2):
        pass
    assert str(exc.value).startswith("another run is in progress")
    with waiter.writer_lock(0.2):  # released by the holder
        pass


def test_stale_lease_is_taken_over(s3: Any) -> None:
    dead = S3Store(BUCKET, "testing", lease_seconds=-1)  # its lease is expired at once
    dead._acquire(1)  # acquired and never released: the process "died"
    with S3Store(BUCKET, "testing").writer_lock(0.5):
        lease = json.loads(body(s3, "testing/lock"))
    assert lease["owner"] != dead._owner
    # The dead run's late renewal fails instead of writing.
    with pytest.raises(StoreConflict, match="lost the writer lease"):
        dead._renew()


def test_threads_racing_for_the_lease_hold_it_one_at_a_time(s3: Any) -> None:
    inside, overlaps, done = [0], [0], []
    guard = threading.Lock()

    def work() -> None:
        store = S3Store(BUCKET, "testing")
        store.poll_seconds = 0.01
        with store.writer_lock(30):
            with guard:
                inside[0] += 1
                overlaps[0] = max(overlaps[0], inside[0])
            threading.Event().wait(0.02)
            with guard:
                inside[0] -= 1
        done.append(1)

    with atomic_conditional_puts():
        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(done) == 6 and overlaps[0] == 1


# --------------------------------------------------------------------------- crash recovery


class Crash(BaseException):
    pass


def _crash_on_put(store: S3Store, key: str, nth: int) -> None:
    original = store._put
    seen = [0]

    def put(k: str, data: bytes, **kwargs: Any) -> str:
        if k == key:
            seen[0] += 1
            if seen[0] == nth:
                raise Crash
        return original(k, data, **kwargs)

    store._put = put  # type: ignore[method-assign]


@pytest.mark.parametrize("crash_at", ["before-records", "after-records"])
def test_crash_between_the_two_writes_is_repaired_by_the_next_run(s3: Any, crash_at: str) -> None:
    store = S3Store(BUCKET, "testing")
    run = store.create_run(Trigger.MANUAL, "testing", utcnow())
    store.stored_records()
    run.status, run.inserted, run.initial_load = RunStatus.SUCCEEDED, 1, True
    if crash_at == "before-records":
        _crash_on_put(store, "testing/records.csv", 1)
    else:
        _crash_on_put(store, "testing/runs.json", 2)  # step 1, then step 3
    with pytest.raises(Crash):
        store.finish_run(run, [rec(1, 1)], [])
    assert open_store(URL).get_run(run.id).status is RunStatus.RUNNING  # type: ignore[union-attr]

    nxt = S3Store(BUCKET, "testing")
    interrupted = nxt.mark_interrupted(utcnow())
    repaired = nxt.get_run(run.id)
    assert repaired is not None
    if crash_at == "before-records":
        assert interrupted == [run.id]
        assert repaired.status is RunStatus.INTERRUPTED
        assert nxt.records() == []
    else:
        assert interrupted == []
        assert repaired.status is RunStatus.SUCCEEDED and repaired.inserted == 1
        assert "completed by the next run" in repaired.warnings[-1]
        assert nxt.records() == [rec(1, 1)]


# --------------------------------------------------------------------------- notifications, events


def test_notifications_wait_for_the_commit_and_are_updated(s3: Any) -> None:
    from covid_etl.models import DeliveryStatus
    from covid_etl.store.base import PendingChannel

    store = S3Store(BUCKET, "testing")
    run = store.create_run(Trigger.MANUAL, "testing", utcnow())
    store.stored_records()
    run.status = RunStatus.SUCCEEDED
    store.finish_run(
        run, [rec(1, 1)], [PendingChannel("k1", "json://a"), PendingChannel("k2", "b")]
    )
    pending = store.pending_notifications()
    assert [(n.run_id, n.channel_key) for n in pending] == [(1, "k1"), (1, "k2")]
    store.update_notification(pending[0].id, DeliveryStatus.DELIVERED, 1, None, utcnow())
    store.set_notification_status(1, "1 channel(s) undelivered")
    assert [n.channel_key for n in store.pending_notifications()] == ["k2"]
    assert store.get_run(1).notification_status == "1 channel(s) undelivered"  # type: ignore[union-attr]


def test_a_finished_event_id_is_a_duplicate(s3: Any) -> None:
    store = S3Store(BUCKET, "testing")
    store.tag_event("evt-1")
    run = store.create_run(Trigger.SCHEDULE, "testing", utcnow())
    run.status = RunStatus.SUCCEEDED
    store.finish_run(run, [], [])
    again = S3Store(BUCKET, "testing")
    again.tag_event("evt-1")
    with pytest.raises(DuplicateEvent) as exc:
        again.create_run(Trigger.SCHEDULE, "testing", utcnow())
    assert exc.value.run.id == run.id
    again.tag_event("evt-2")
    assert again.create_run(Trigger.SCHEDULE, "testing", utcnow()).id == 2


def test_a_failed_event_may_be_retried(s3: Any) -> None:
    store = S3Store(BUCKET, "testing")
    store.tag_event("evt-1")
    run = store.create_run(Trigger.SCHEDULE, "testing", utcnow())
    run.status, run.error = RunStatus.FAILED, "boom"
    store.finish_run(run, [], [])
    assert store.create_run(Trigger.SCHEDULE, "testing", utcnow()).id == 2
