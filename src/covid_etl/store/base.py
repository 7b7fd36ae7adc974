"""The storage interface every backend implements (the SQL they share is in ``sql.py``).

A run touches the store in this order, always under the writer lock:

    mark_interrupted -> create_run -> partitions / rows of each series -> finish_run (one
    transaction) -> pending_notifications / update_notification

Reads and writes of the data are generic over the series declarations (covid_etl.series.spec):
a series' table, columns and key decide the SQL, so a new series adds no method here.

``finish_run`` is the atomic unit of the design: changed rows, the final run record and one
pending notification per channel are committed together or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from covid_etl.models import (
    ChangeEntry,
    DeliveryStatus,
    Record,
    RunRecord,
    RunStatus,
    StateRecord,
    Trigger,
)
from covid_etl.series.registry import NATIONAL
from covid_etl.series.spec import Key, Series

T = TypeVar("T")


class NotificationRow(NamedTuple):
    """One run's notification on one channel, as stored."""

    id: int
    run_id: int
    channel_key: str
    channel: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class SeriesWrite(NamedTuple):
    """What a run writes to one series: new rows and revised rows, each partition's in date
    order (the table's key order, so that each row lands next to the previous one), and the
    stored keys to delete."""

    series: Series
    inserted: Sequence[Any] = ()
    updated: Sequence[Any] = ()
    removed: Sequence[Key] = ()


class PendingChannel(NamedTuple):
    """A channel to notify about a run: its key (a hash of the URL, never the URL) and a masked
    label for display."""

    key: str
    label: str


class Store(Protocol):
    """What the pipeline, the CLI and the API need from a backend."""

    url_for_display: str

    def migrate(self, series: Sequence[Series] = ()) -> None:
        """Create or upgrade the schema to the current version, and create the tables of the
        given series that bring their own (``Series.tables``) when they are missing."""

    def schema_version(self) -> int:
        """The schema version of the opened database (0 for an empty one)."""

    def writer_lock(self, timeout: float) -> AbstractContextManager[None]:
        """Hold the single-writer lock; raise RunInProgress after ``timeout`` seconds."""

    def mark_interrupted(self, now: dt.datetime) -> list[int]:
        """Under the writer lock: mark runs still 'running' as interrupted; return their ids."""

    def create_run(
        self,
        trigger: Trigger,
        environment: str,
        started_at: dt.datetime,
        event_id: str | None = None,
    ) -> RunRecord:
        """Insert and commit a run record with status running. With ``event_id``: raise
        DuplicateEvent, inserting nothing, when a succeeded run already handled that event."""

    def record_failed_start(self, run: RunRecord) -> RunRecord:
        """Insert a run that failed before it could start (e.g. lock timeout)."""

    def rows(
        self,
        series: Series,
        partition: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Any]:
        """Stored rows of ``series`` (all, or one partition's) in key order (partition, then
        date), optionally filtered by date and paged."""

    def partitions(self, series: Series) -> list[str | None]:
        """The partition values that have stored rows, in order; an unpartitioned series has
        the one partition None once it holds a row."""

    def count(
        self, series: Series, start: dt.date | None = None, end: dt.date | None = None
    ) -> int:
        """Number of stored rows of ``series`` in the date range."""

    def latest_date(self, series: Series) -> dt.date | None:
        """The latest stored date of ``series`` (None when it is empty)."""

    def finish_run(
        self,
        run: RunRecord,
        writes: Sequence[SeriesWrite],
        channels: Sequence[PendingChannel],
        change_log: Sequence[ChangeEntry] = (),
    ) -> None:
        """One transaction: each series' new rows (a plain insert, which refuses a stored key),
        revised rows (replacing the stored ones) and removed keys (only when the operator
        accepted removals), the change log, the final run record, pending notifications.
        ``change_log`` holds the entries of revised and removed rows (their values before the
        run are the caller's); each new row gets its ``inserted`` entry from the store. A
        second succeeded run for one event id is refused (a unique index), writing nothing."""

    def changes(
        self,
        run_id: int | None = None,
        series: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ChangeEntry]:
        """Change-log entries, filtered, sorted by series, date, run; optionally paged."""

    def count_changes(
        self,
        run_id: int | None = None,
        series: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> int:
        """Number of change-log entries matching the filter."""

    def last_changed_run_id(self, series: str | None = None) -> int | None:
        """The latest run that recorded changes (to ``series``, if given); None when none did."""

    def get_run(self, run_id: int) -> RunRecord | None:
        """One run by id."""

    def list_runs(self, limit: int = 20, offset: int = 0) -> list[RunRecord]:
        """Most recent runs first."""

    def last_run(self, *, before: int | None = None) -> RunRecord | None:
        """The latest finished or running run (optionally the last one before id ``before``)."""

    def last_successful_run(self) -> RunRecord | None:
        """The latest succeeded run."""

    def run_as_of(self, day: dt.date) -> RunRecord | None:
        """The latest succeeded run whose as-of date is ``day`` or earlier (None: none is)."""

    def history_from(self) -> dt.date | None:
        """The earliest as-of date of a succeeded run: the data is known as of any day from it."""

    def changes_after(self, run_id: int, series: str | None = None) -> list[ChangeEntry]:
        """The change-log entries of the runs after ``run_id`` (of one ``series`` value if
        given), by series, date and run."""

    def pending_notifications(self) -> list[NotificationRow]:
        """Notifications waiting for delivery, oldest first."""

    def notifications(self, run_id: int) -> list[NotificationRow]:
        """Every notification of one run, whatever its state."""

    def update_notification(
        self,
        notification_id: int,
        status: DeliveryStatus,
        attempts: int,
        error: str | None,
        at: dt.datetime,
    ) -> None:
        """Record a delivery attempt's outcome."""

    def set_notification_status(self, run_id: int, summary: str) -> None:
        """Store the delivery summary on a run record."""

    def close(self) -> None:
        """Release connections and locks."""


class StoredRecord(NamedTuple):
    """A stored row with the run that last wrote it."""

    record: Record
    run_id: int


class StoredState(NamedTuple):
    """A stored per-state row with the run that last wrote it."""

    row: StateRecord
    run_id: int


class History(NamedTuple):
    """Everything a store holds, ids included, for moving it to another store."""

    runs: list[RunRecord]
    records: list[StoredRecord]
    notifications: list[NotificationRow]
    states: Sequence[StoredState] = ()
    changes: Sequence[ChangeEntry] = ()
    # The NYT's anomaly notes, each with the run that last wrote it.
    anomalies: Sequence[tuple[Any, int]] = ()


@runtime_checkable
class FilePublisher(Protocol):
    """A store with a public place beside the database for derived files (the S3 store's
    prefix): the pipeline publishes the original system's files there after a commit."""

    def publish_files(self, files: Mapping[str, bytes]) -> None:
        """Write each ``name -> body``; a failure is logged, never raised."""


class HistoryStore(Store, Protocol):
    """A store that can hand over and take in its whole history (``covid-etl db copy``).

    Kept apart from :class:`Store` so the interface the pipeline needs stays small; a backend
    that implements these two methods can be the source or the target of a copy.
    """

    def dump_history(self) -> History:
        """Every run, row and notification, ids preserved, oldest first."""

    def restore_history(self, history: History) -> None:
        """One transaction: load ``history`` into this store, which must hold no run and no row
        (raises StoreError otherwise); later runs get ids after the copied ones."""


def new_run(trigger: Trigger, environment: str, started_at: dt.datetime) -> RunRecord:
    """The record every backend's ``create_run`` stores: running, owned by this process."""
    import os
    import socket

    return RunRecord(
        id=0,
        trigger=trigger,
        environment=environment,
        started_at=started_at,
        pid=os.getpid(),
        host=socket.gethostname(),
    )


def latest_record(store: Store, run: RunRecord) -> Record | None:
    """The stored row at ``run.data_through``: the latest figures a success message quotes
    (None for a run that did not succeed, whose message quotes none)."""
    if run.status is not RunStatus.SUCCEEDED or run.data_through is None:
        return None
    rows = store.rows(NATIONAL, start=run.data_through, end=run.data_through)
    return rows[0] if rows else None


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
