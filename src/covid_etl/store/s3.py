"""S3 backend: the data and its run history as two objects under one key prefix.

``s3://bucket/prefix`` keeps three keys (the AWS handlers use the environment as the prefix,
e.g. ``s3://bucket/production`` -> ``production/records.csv``):

``records.csv``
    The data: ``date,cases,deaths,recovered`` (recovered empty when null), sorted by date. The
    object's metadata ``run-id`` names the run that wrote it.
``runs.json``
    The run history, the pending notifications and the event ids of the runs.
``lock``
    The writer lease: ``{"owner", "host", "pid", "acquired_at", "expires_at"}``.

Concurrency. Every write is conditional, so two writers can never both win and nothing is
overwritten unseen: ``IfNoneMatch="*"`` to create an object, ``IfMatch=<etag>`` to replace the
version that was read. The lease is created with ``IfNoneMatch="*"``; one past its expiry (a run
that died, e.g. a Lambda that timed out) is taken over with ``IfMatch`` on the stale lease's
ETag, so two runs cannot both take it over either. The lease is renewed (conditionally) right
before the load, so a run that lost it finds out before writing anything. ``records.csv`` is
written with ``IfMatch`` on the ETag read when the run computed its diff (``stored_records``):
if another writer changed it in between, the run fails with :class:`StoreConflict`, a clear
"lost the race" failure, and writes nothing. ``runs.json`` is updated by read-modify-write with
``IfMatch`` and retried on conflict, because its changes (append a run, update one entry) merge.

The atomic unit. A SQL store commits the changed rows, the run record and its notifications in
one transaction; two S3 objects cannot be written together. ``finish_run`` therefore writes in
three steps, and the run's own id on ``records.csv`` is the commit marker:

1. ``runs.json``: the final run record with ``status: running`` and ``pending_status`` (the
   outcome it will have), plus its notifications (not delivered while the run is running);
2. ``records.csv`` (conditional, see above) with metadata ``run-id = <run id>``: the commit point;
3. ``runs.json``: ``status = pending_status``.

A crash between 1 and 2 leaves the data untouched and the run "running"; a crash between 2 and 3
leaves the data written and the run "running". The next run (``mark_interrupted``, under the
lease) tells the two apart by ``records.csv``'s ``run-id``: if it names the run, the record is
completed with its pending outcome (its notifications become deliverable); otherwise the run is
marked interrupted and its notifications dropped, exactly as if a transaction had rolled back.
Runs with no row to write (no change, failures) only do a single ``runs.json`` update, so a failed
run never touches ``records.csv``. A run never deletes rows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import EtlError, RunInProgress, StoreError, StoreUnavailable
from ..models import DeliveryStatus, Record, RunRecord, RunStatus, Trigger
from .base import NotificationRow, PendingChannel, new_run
from .s3_format import (
    FORMAT,
    empty_doc,
    json_object,
    next_id,
    notification,
    notification_row,
    parse_records,
    parse_time,
    records_csv,
    replace_run,
    run_from_dict,
    run_to_dict,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# No Lambda invocation lives longer than 15 minutes, so a lease this old belongs to a dead run.
LEASE_SECONDS = 900.0
INTERRUPTED_ERROR = "the run stopped before finishing (process killed, crashed or timed out)"
COMPLETED_WARNING = (
    "the run stopped after writing records.csv; its record was completed by the next run"
)


class StoreConflict(StoreError):
    """A conditional write lost: another writer changed the object since this run read it."""


class DuplicateEvent(EtlError):
    """A run for this event id already succeeded; ``run`` is that earlier run.

    Not a StoreError: nothing failed, and the pipeline must let it reach the handler that
    answers the repeat delivery with the first run's result."""

    def __init__(self, event_id: str, run: RunRecord) -> None:
        super().__init__(f"event {event_id!r} was already handled by run #{run.id}")
        self.event_id = event_id
        self.run = run


class S3Store:
    """Store in two objects of an S3 bucket (see the module docstring for the protocol)."""

    mutate_attempts = 10
    poll_seconds = 0.25

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url_for_display = f"s3://{bucket}/{self.prefix}"
        self.lease_seconds = lease_seconds
        self._client = client
        self._owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
        self._lease_etag: str | None = None
        self._event_id: str | None = None
        # Parsed objects by ETag: repeated reads cost one conditional GET (304) each.
        self._records: tuple[str, list[Record]] | None = None
        self._runs: tuple[str, dict[str, Any]] | None = None
        # What this run's diff was computed against: (ETag or None for no object, the rows).
        self._base: tuple[str | None, list[Record]] | None = None

    @classmethod
    def from_url(cls, url: str, *, client: Any = None) -> S3Store:
        """``s3://bucket`` or ``s3://bucket/prefix``."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "s3" or not parts.netloc:
            raise StoreUnavailable(f"bad S3 URL {url!r}: expected s3://bucket[/prefix]")
        return cls(parts.netloc, parts.path, client=client)

    # -- keys and raw object access -------------------------------------------------------------

    @property
    def records_key(self) -> str:
        return self.prefix + "records.csv"

    @property
    def runs_key(self) -> str:
        return self.prefix + "runs.json"

    @property
    def lock_key(self) -> str:
        return self.prefix + "lock"

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3  # in the Lambda runtime; kept off the import path of the base install
            except ImportError as exc:
                raise StoreUnavailable(
                    f"the S3 store needs boto3 ({exc}): pip install boto3"
                ) from exc
            self._client = boto3.client("s3")
        return self._client

    def _call(self, what: str, fn: Callable[..., T], **kwargs: Any) -> T:
        """Call the S3 API; conditional failures become StoreConflict, the rest StoreUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            # 412: the condition failed; 409: a concurrent conditional write is in flight;
            # 404 on IfMatch: the object we meant to replace is gone.
            if code in {"PreconditionFailed", "ConditionalRequestConflict"} or status in (409, 412):
                raise StoreConflict(f"{what}: {code or status}") from exc
            if code in {"NoSuchKey", "404"} and "IfMatch" in kwargs:
                raise StoreConflict(f"{what}: the object no longer exists") from exc
            raise StoreUnavailable(f"{what} failed on {self.url_for_display}: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"{what} failed on {self.url_for_display}: {exc}") from exc

    def _get(
        self, key: str, cached_etag: str | None = None
    ) -> tuple[bytes | None, str | None, dict[str, str]]:
        """(body, ETag, metadata); body None when the cached ETag is current; (None, None) when
        the object does not exist."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Key": key}
        if cached_etag:
            kwargs["IfNoneMatch"] = cached_etag
        try:
            response = self.client.get_object(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in {"304", "NotModified"} or status == 304:
                return None, cached_etag, {}
            if code in {"NoSuchKey", "404"} or status == 404:
                return None, None, {}
            raise StoreUnavailable(f"reading s3://{self.bucket}/{key} failed: {exc}") from exc
        except Exception as exc:
            raise StoreUnavailable(f"reading {key} from s3://{self.bucket} failed: {exc}") from exc
        return response["Body"].read(), response["ETag"], dict(response.get("Metadata") or {})

    def _head_run_id(self) -> int | None:
        """The run-id metadata of records.csv (the commit marker), None without the object."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self.records_key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise StoreUnavailable(f"reading {self.records_key} failed: {exc}") from exc
        value = (response.get("Metadata") or {}).get("run-id")
        return int(value) if value and value.isdigit() else None

    def _put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Create (if_match None: IfNoneMatch="*") or replace exactly version ``if_match``."""
        kwargs: dict[str, Any] = {"Key": key, "Body": body, "ContentType": content_type}
        if if_match is None:
            kwargs["IfNoneMatch"] = "*"
        else:
            kwargs["IfMatch"] = if_match
        if metadata:
            kwargs["Metadata"] = metadata
        response = self._call(f"writing {key}", self.client.put_object, **kwargs)
        return str(response["ETag"])

    # -- schema ---------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Nothing to create: the objects appear with the first run. Check the bucket is there
        and that runs.json is a format this code understands."""
        self._call("opening the bucket", self.client.head_bucket)
        doc = self._runs_doc()
        if int(doc.get("format", FORMAT)) > FORMAT:
            raise StoreUnavailable(
                f"{self.url_for_display}runs.json has format {doc['format']}; this version of "
                f"covid-etl understands format {FORMAT} (upgrade covid-etl)"
            )

    def schema_version(self) -> int:
        return FORMAT if self._runs_doc().get("runs") is not None else 0

    # -- the lease ------------------------------------------------------------------------------

    @contextmanager
    def writer_lock(self, timeout: float) -> Iterator[None]:
        self._acquire(timeout)
        try:
            yield
        finally:
            self._release()

    def _lease_body(self) -> bytes:
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(seconds=self.lease_seconds)
        return json.dumps(
            {
                "owner": self._owner,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "acquired_at": now.isoformat(),
                "expires_at": expires.isoformat(),
            }
        ).encode()

    def _acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        holder: dict[str, Any] = {}
        while True:
            try:
                self._lease_etag = self._put(
                    self.lock_key,
                    self._lease_body(),
                    if_match=None,
                    content_type="application/json",
                )
                return
            except StoreConflict:
                pass
            body, etag, _ = self._get(self.lock_key)
            if body is not None and etag is not None:
                holder = json_object(body)
                expires = parse_time(holder.get("expires_at"))
                if expires is None or expires < dt.datetime.now(dt.UTC):
                    try:
                        self._lease_etag = self._put(
                            self.lock_key,
                            self._lease_body(),
                            if_match=etag,
                            content_type="application/json",
                        )
                    except StoreConflict:
                        continue  # another run took it over first; look again
                    log.warning(
                        "took over the stale writer lease of %s (expired %s)",
                        holder.get("owner"),
                        holder.get("expires_at"),
                    )
                    return
            if time.monotonic() >= deadline:
                raise RunInProgress(
                    f"another run is in progress (waited {timeout:g}s for the writer lease "
                    f"{self.url_for_display}lock, held by {holder.get('host', '?')} "
                    f"pid {holder.get('pid', '?')} until {holder.get('expires_at', '?')})"
                )
            time.sleep(min(self.poll_seconds, max(0.0, deadline - time.monotonic())))

    def _renew(self) -> None:
        """Extend our lease right before writing; losing it means another run took over."""
        if self._lease_etag is None:
            return
        try:
            self._lease_etag = self._put(
                self.lock_key,
                self._lease_body(),
                if_match=self._lease_etag,
                content_type="application/json",
            )
        except StoreConflict as exc:
            self._lease_etag = None
            raise StoreConflict(
                "lost the writer lease (it expired and another run took it over); "
                "this run wrote no data"
            ) from exc

    def _release(self) -> None:
        etag, self._lease_etag = self._lease_etag, None
        if etag is None:
            return
        try:
            # IfMatch: never delete a lease another run has taken over in the meantime.
            delete = self.client.delete_object
            self._call("releasing the lease", delete, Key=self.lock_key, IfMatch=etag)
        except StoreError as exc:
            log.warning("could not release the writer lease: %s", exc)

    # -- run history ----------------------------------------------------------------------------

    def _runs_doc(self) -> dict[str, Any]:
        cached = self._runs
        body, etag, _ = self._get(self.runs_key, cached[0] if cached else None)
        if body is None:
            if etag is None:
                self._runs = None
                return empty_doc()
            assert cached is not None
            return cached[1]
        doc = json_object(body)
        assert etag is not None
        self._runs = (etag, doc)
        return doc

    def _mutate(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Read-modify-write runs.json with IfMatch, retried: concurrent changes merge."""
        for attempt in range(self.mutate_attempts):
            cached = self._runs
            body, etag, _ = self._get(self.runs_key, cached[0] if cached else None)
            if body is None and etag is not None and cached is not None:
                doc = json.loads(json.dumps(cached[1]))  # a private copy to modify
            elif body is None:
                doc, etag = empty_doc(), None
            else:
                doc = json_object(body)
            result = change(doc)
            data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
            try:
                new_etag = self._put(
                    self.runs_key, data, if_match=etag, content_type="application/json"
                )
            except StoreConflict:
                time.sleep(0.02 * (attempt + 1))
                continue
            self._runs = (new_etag, doc)
            return result
        raise StoreConflict(
            f"{self.url_for_display}runs.json kept changing under us "
            f"({self.mutate_attempts} attempts)"
        )

    def tag_event(self, event_id: str | None) -> None:
        """Remember ``event_id`` on the next run created; a succeeded run with the same id makes
        ``create_run`` raise :class:`DuplicateEvent` (at-least-once delivery)."""
        self._event_id = event_id

    def mark_interrupted(self, now: dt.datetime) -> list[int]:
        marker: list[int | None] = []

        def change(doc: dict[str, Any]) -> list[int]:
            interrupted = []
            for entry in doc["runs"]:
                if entry["status"] != RunStatus.RUNNING:
                    continue
                pending = entry.pop("pending_status", None)
                if pending is not None:
                    if not marker:
                        marker.append(self._head_run_id())
                    if marker[0] == entry["id"]:
                        # Step 2 happened: the data is this run's, so is the outcome.
                        entry["status"] = pending
                        entry["warnings"] = [*entry.get("warnings", []), COMPLETED_WARNING]
                        log.warning("completed the record of run #%d", entry["id"])
                        continue
                entry.update(status=str(RunStatus.INTERRUPTED), finished_at=now.isoformat())
                entry.update(error=INTERRUPTED_ERROR, inserted=0, updated=0, unchanged=0)
                entry["initial_load"] = False
                doc["notifications"] = [
                    n for n in doc["notifications"] if n["run_id"] != entry["id"]
                ]
                interrupted.append(int(entry["id"]))
            return interrupted

        return self._mutate(change)

    def create_run(self, trigger: Trigger, environment: str, started_at: dt.datetime) -> RunRecord:
        run = new_run(trigger, environment, started_at)
        event_id = self._event_id

        def change(doc: dict[str, Any]) -> None:
            if event_id is not None:
                earlier = [
                    r
                    for r in doc["runs"]
                    # Only a success ends an event: a retry after a failure runs again.
                    if r.get("event_id") == event_id and r["status"] == RunStatus.SUCCEEDED
                ]
                if earlier:
                    raise DuplicateEvent(event_id, run_from_dict(earlier[-1]))
            run.id = next_id(doc["runs"])
            entry = run_to_dict(run)
            if event_id is not None:
                entry["event_id"] = event_id
            doc["runs"].append(entry)

        self._mutate(change)
        return run

    def record_failed_start(self, run: RunRecord) -> RunRecord:
        def change(doc: dict[str, Any]) -> None:
            run.id = next_id(doc["runs"])
            doc["runs"].append(run_to_dict(run))

        self._mutate(change)
        return run

    def finish_run(
        self, run: RunRecord, changes: Sequence[Record], channels: Sequence[PendingChannel]
    ) -> None:
        self._renew()
        final = run_to_dict(run)
        now = (run.finished_at or dt.datetime.now(dt.UTC)).isoformat()

        def record(entry_status: str, pending: str | None) -> Callable[[dict[str, Any]], None]:
            def change(doc: dict[str, Any]) -> None:
                entry = {**final, "status": entry_status}
                if pending is not None:
                    entry["pending_status"] = pending
                replace_run(doc, entry)
                # Replacing (not appending) keeps a retried finish_run from doubling them.
                notes = [n for n in doc["notifications"] if n["run_id"] != run.id]
                next_id = max((n["id"] for n in doc["notifications"]), default=0) + 1
                for offset, channel in enumerate(channels):
                    notes.append(notification(next_id + offset, run.id, channel, now))
                doc["notifications"] = notes

            return change

        if not changes:
            self._mutate(record(str(run.status), None))
            return
        base_etag, base_rows = self._base if self._base is not None else self._read_base()
        self._mutate(record(str(RunStatus.RUNNING), str(run.status)))  # step 1
        merged = {r.date: r for r in base_rows}
        merged.update((r.date, r) for r in changes)
        rows = [merged[d] for d in sorted(merged)]
        try:  # step 2: the commit point
            etag = self._put(
                self.records_key,
                records_csv(rows),
                if_match=base_etag,
                content_type="text/csv; charset=utf-8",
                metadata={"run-id": str(run.id)},
            )
        except StoreConflict as exc:
            raise StoreConflict(
                f"{self.url_for_display}records.csv changed since this run read it "
                "(another run wrote it first); this run wrote no data"
            ) from exc
        except StoreUnavailable:
            # The request may have reached S3 before the error: the marker tells.
            if self._head_run_id() != run.id:
                raise
            etag = ""
        self._records = (etag, rows) if etag else None
        self._base = (etag, rows) if etag else None
        self._mutate(record(str(run.status), None))  # step 3

    def get_run(self, run_id: int) -> RunRecord | None:
        for entry in self._runs_doc()["runs"]:
            if entry["id"] == run_id:
                return run_from_dict(entry)
        return None

    def list_runs(self, limit: int = 20, offset: int = 0) -> list[RunRecord]:
        entries = sorted(self._runs_doc()["runs"], key=lambda e: -int(e["id"]))
        return [run_from_dict(e) for e in entries[offset : offset + limit]]

    def last_run(self, *, before: int | None = None) -> RunRecord | None:
        entries = [e for e in self._runs_doc()["runs"] if before is None or int(e["id"]) < before]
        return run_from_dict(max(entries, key=lambda e: int(e["id"]))) if entries else None

    def last_successful_run(self) -> RunRecord | None:
        entries = [e for e in self._runs_doc()["runs"] if e["status"] == RunStatus.SUCCEEDED]
        return run_from_dict(max(entries, key=lambda e: int(e["id"]))) if entries else None

    # -- records --------------------------------------------------------------------------------

    def _all_records(self) -> tuple[str | None, list[Record]]:
        cached = self._records
        body, etag, _ = self._get(self.records_key, cached[0] if cached else None)
        if body is None:
            if etag is None:
                self._records = None
                return None, []
            assert cached is not None
            return cached
        rows = parse_records(body)
        assert etag is not None
        self._records = (etag, rows)
        return etag, rows

    def _read_base(self) -> tuple[str | None, list[Record]]:
        self._base = self._all_records()
        return self._base

    def stored_records(self) -> dict[dt.date, Record]:
        # The ETag read here is what finish_run's conditional write is checked against.
        _, rows = self._read_base()
        return {r.date: r for r in rows}

    def records(
        self,
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Record]:
        rows = [
            r
            for r in self._all_records()[1]
            if (start is None or r.date >= start) and (end is None or r.date <= end)
        ]
        return rows[offset:] if limit is None else rows[offset : offset + limit]

    def count_records(self, start: dt.date | None = None, end: dt.date | None = None) -> int:
        return len(self.records(start, end))

    def data_through(self) -> dt.date | None:
        rows = self._all_records()[1]
        return rows[-1].date if rows else None

    # -- notifications --------------------------------------------------------------------------

    def pending_notifications(self) -> list[NotificationRow]:
        doc = self._runs_doc()
        running = {e["id"] for e in doc["runs"] if e["status"] == RunStatus.RUNNING}
        return [
            notification_row(n)
            for n in sorted(doc["notifications"], key=lambda n: int(n["id"]))
            if n["status"] == DeliveryStatus.PENDING and n["run_id"] not in running
        ]

    def notifications(self, run_id: int) -> list[NotificationRow]:
        doc = self._runs_doc()
        return [notification_row(n) for n in doc["notifications"] if n["run_id"] == run_id]

    def update_notification(
        self,
        notification_id: int,
        status: DeliveryStatus,
        attempts: int,
        error: str | None,
        at: dt.datetime,
    ) -> None:
        def change(doc: dict[str, Any]) -> None:
            for n in doc["notifications"]:
                if n["id"] == notification_id:
                    n.update(status=str(status), attempts=attempts, last_error=error)
                    n["delivered_at"] = (
                        at.isoformat() if status is DeliveryStatus.DELIVERED else None
                    )

        self._mutate(change)

    def set_notification_status(self, run_id: int, summary: str) -> None:
        def change(doc: dict[str, Any]) -> None:
            for entry in doc["runs"]:
                if entry["id"] == run_id:
                    entry["notification_status"] = summary

        self._mutate(change)

    def close(self) -> None:
        """Nothing to release: the lease is released by ``writer_lock``; boto3 pools itself."""
