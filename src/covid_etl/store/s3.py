"""S3 backend: each environment's database is one SQLite file kept as one S3 object.

``s3://bucket/prefix`` names the object ``prefix/covid-etl.db`` (the AWS functions add the run's
environment to the prefix: ``s3://bucket`` -> ``production/covid-etl.db``). Schema, migrations,
queries and transactions are the SQLite backend's: this module only moves the file.

A run (``writer_lock``) brings its local copy up to date and remembers the object's ETag: a copy
cached in the temporary directory by an earlier run (a warm Lambda container keeps /tmp) is
revalidated with ``If-None-Match`` and costs a 304; otherwise the object is downloaded. Every
write goes to a private copy through :class:`~covid_etl.store.sqlite.SqliteStore`, and the load
transaction (``finish_run``) commits the whole file with one conditional ``PutObject``:
``If-Match`` the ETag read, or ``If-None-Match: *`` when there was no object. One object is one
atomic commit, so a run killed before its PUT changes nothing, and there is nothing to repair.

A 412 means another run committed first: this run wrote nothing, its copy is discarded and
:class:`~covid_etl.errors.StoreConflict` is raised (the pipeline reads the new object and tries
once more). There is no lease: the conditional PUT alone makes two runs unable to both commit,
and a lease would add requests to every run and could outlive a killed invocation.

Writes made after the commit in the same run (notification delivery status) are committed when
the run ends; writes outside a run commit at once. Readers outside a run (the API) revalidate
their copy at most every ``revalidate`` seconds.

:meth:`S3Store.publish_files` writes derived files beside the database (the pipeline hands it the
original system's ``acg-covid-data.csv`` and ``CHANGE_LOG.csv`` after a commit that changed the
national series); they are never read back. What to publish, and when, is not this module's
decision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from covid_etl.errors import StoreConflict, StoreUnavailable
from covid_etl.models import (
    ChangeEntry,
    DeliveryStatus,
    RunRecord,
    Trigger,
)
from covid_etl.series.spec import Series
from covid_etl.store.base import History, NotificationRow, PendingChannel, SeriesWrite
from covid_etl.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

T = TypeVar("T")

OBJECT_NAME = "covid-etl.db"
# Readers check for a newer commit before every read unless told otherwise (the API function
# trades that for fewer requests: COVID_ETL_S3_REVALIDATE).
DEFAULT_REVALIDATE = 0.0


class S3Store:
    """Store in one SQLite database object of an S3 bucket (see the module docstring)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        revalidate: float = DEFAULT_REVALIDATE,
        cache_dir: Path | None = None,
    ) -> None:
        self.bucket = bucket
        folder = prefix.strip("/")
        self._folder = folder
        self.key = self.object_key(OBJECT_NAME)
        self.url_for_display = f"s3://{bucket}/{self.key}"
        self.revalidate = revalidate
        self._client = client
        root = cache_dir or Path(tempfile.gettempdir()) / "covid-etl-s3"
        self._dir = root / hashlib.sha256(f"{bucket}/{self.key}".encode()).hexdigest()[:16]
        self._copy: SqliteStore | None = None  # this store's private working copy
        self._etag: str | None = None  # the object the copy started from; None: no object
        self._checked = 0.0  # time.monotonic() of the last revalidation
        self._in_run = False
        self._dirty = False  # the copy holds writes not yet committed to S3
        self._migrating = False
        self._mutex = threading.RLock()

    @classmethod
    def from_url(cls, url: str, *, revalidate: float = DEFAULT_REVALIDATE) -> S3Store:
        """``s3://bucket`` or ``s3://bucket/prefix``."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "s3" or not parts.netloc:
            raise StoreUnavailable(f"bad S3 URL {url!r}: expected s3://bucket[/prefix]")
        return cls(parts.netloc, parts.path, revalidate=revalidate)

    def object_key(self, name: str) -> str:
        """The key of the object ``name`` beside the database, under the same prefix."""
        return f"{self._folder}/{name}" if self._folder else name

    def publish_files(self, files: Mapping[str, bytes]) -> None:
        """Write derived CSV files beside the database (``prefix/<name>``) for the consumers of
        the original system's files. Derived output, never read back: a failure is logged and
        never turns a committed run into a failed one."""
        for name, body in files.items():
            key = self.object_key(name)
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType="text/csv; charset=utf-8"
                )
            except Exception as exc:  # derived output only; the commit stands
                log.warning("could not publish s3://%s/%s: %s", self.bucket, key, exc)

    @property
    def migrations(self) -> Sequence[Sequence[str]]:
        return SqliteStore.migrations

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3  # in the Lambda runtime; kept off the import path of the base install
            except ImportError as exc:
                raise StoreUnavailable(
                    f"the S3 store needs boto3 ({exc}): pip install 'covid-etl[s3]' (or boto3)"
                ) from exc
            self._client = boto3.client("s3")
        return self._client

    # -- the object and the local cache ---------------------------------------------------------

    def _download(self, etag: str | None) -> tuple[bytes | None, str | None]:
        """GET the object, conditional on ``etag``: (None, etag) when it is still current,
        (None, None) when there is no object, else (body, new ETag)."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs = {"IfNoneMatch": etag} if etag else {}
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key, **kwargs)
            return response["Body"].read(), str(response["ETag"])
        except ClientError as exc:
            status = _status(exc)
            if status == 304:
                return None, etag
            if status == 404 and _code(exc) == "NoSuchKey":
                return None, None
            raise StoreUnavailable(f"reading {self.url_for_display} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"reading {self.url_for_display} failed: {exc}") from exc

    def _cached(self, etag: str) -> Path:
        return self._dir / (etag.strip('"').replace("/", "_") + ".db")

    def _remember(self, etag: str, body: bytes) -> Path:
        """Keep a committed version in the cache and point at it; other processes (the next
        invocation of a warm container) start from it. Written whole, then renamed."""
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._cached(etag)
        _write_atomically(path, body)
        _write_atomically(self._dir / "current", etag.encode())
        for older in self._dir.glob("*.db"):
            if older != path and not older.name.startswith("work-"):
                older.unlink(missing_ok=True)
        return path

    def _cached_etag(self) -> str | None:
        try:
            etag = (self._dir / "current").read_text()
        except OSError:
            return None
        return etag if self._cached(etag).exists() else None

    def _refresh(self) -> None:
        """Bring the working copy up to date with the object (a 304 when it already is)."""
        try:
            self._revalidate()
        except OSError as exc:  # the local disk, not S3: say which
            raise StoreUnavailable(
                f"cannot keep a local copy of {self.url_for_display} in {self._dir}: {exc}"
            ) from exc

    def _revalidate(self) -> None:
        have = self._etag if self._copy is not None else self._cached_etag()
        body, etag = self._download(have)
        if body is None and etag is not None and self._copy is None:
            try:
                self._use(self._cached(etag), etag)
            except FileNotFoundError:  # another process just replaced that cached version
                body, etag = self._download(None)
        if body is not None and etag is not None:
            self._use(self._remember(etag, body), etag)
        elif etag is None and (self._copy is None or self._etag is not None):
            self._use(None, None)  # no object (any more): start from an empty database
        self._checked = time.monotonic()

    def _use(self, source: Path | None, etag: str | None) -> None:
        """Replace the working copy by a private copy of ``source`` (None: empty)."""
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / f"work-{uuid.uuid4().hex}.db"
        if source is not None:
            shutil.copyfile(source, path)
        self._forget()
        self._copy, self._etag = SqliteStore(path), etag
        if self._migrating:
            before = self._copy.schema_version()
            self._copy.migrate(where=self.url_for_display)
            self._dirty = self._copy.schema_version() != before

    def _forget(self) -> None:
        """Drop the working copy and whatever it holds uncommitted."""
        copy, self._copy, self._dirty = self._copy, None, False
        if copy is None:
            return
        copy.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{copy.path}{suffix}").unlink(missing_ok=True)

    def _local(self) -> SqliteStore:
        """The working copy, revalidated first when a reader's copy is older than allowed."""
        with self._mutex:
            stale = time.monotonic() - self._checked >= self.revalidate
            if self._copy is None or (not self._in_run and stale):
                self._refresh()
            assert self._copy is not None
            return self._copy

    def _commit(self) -> None:
        """One conditional PUT of the whole database: the commit point."""
        from botocore.exceptions import BotoCoreError, ClientError

        assert self._copy is not None
        body = self._copy.snapshot()
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=body,
                ContentType="application/vnd.sqlite3",
                **condition,
            )
        except (ClientError, BotoCoreError) as exc:
            self._forget()  # nothing of it reached S3; the next use downloads what did
            if isinstance(exc, ClientError) and _lost_race(exc):
                raise StoreConflict(
                    f"another run committed first: {self.url_for_display} changed since this "
                    "run read it; this run wrote nothing"
                ) from exc
            raise StoreUnavailable(f"writing {self.url_for_display} failed: {exc}") from exc
        self._etag, self._dirty = str(response["ETag"]), False
        try:
            self._remember(self._etag, body)
        except OSError as exc:  # committed all the same; the next run downloads it instead
            log.warning("could not cache %s locally: %s", self.url_for_display, exc)

    def _write(self, change: Callable[[SqliteStore], T]) -> T:
        """Apply a write to the working copy; outside a run it is committed at once."""
        with self._mutex:
            result = change(self._local())
            self._dirty = True
            if not self._in_run:
                self._commit()
            return result

    # -- schema and the run ---------------------------------------------------------------------

    def migrate(self, series: Sequence[Series] = ()) -> None:
        """Upgrade the working copy; the new schema is committed with the next write."""
        with self._mutex:
            self._migrating = True
            copy = self._local()
            before = (copy.schema_version(), [copy.has_table(s.table) for s in series])
            copy.migrate(series, where=self.url_for_display)
            after = (copy.schema_version(), [copy.has_table(s.table) for s in series])
            self._dirty = self._dirty or after != before

    def schema_version(self) -> int:
        return self._local().schema_version()

    @contextmanager
    def writer_lock(self, timeout: float) -> Iterator[None]:
        """One run: start from the current object; uncommitted writes are dropped on error.

        Takes no lease and never waits (see the module docstring), so ``timeout`` is unused."""
        with self._mutex:
            self._refresh()
            self._in_run = True
        try:
            yield
        except BaseException:
            with self._mutex:
                if self._dirty:
                    self._forget()
            raise
        finally:
            self._in_run = False
        with self._mutex:
            if self._dirty:
                self._commit_after_run()

    def _commit_after_run(self) -> None:
        try:
            self._commit()
        except StoreConflict as exc:
            # Only bookkeeping after the run's own commit (delivery status) is lost; the next
            # run retries any notification still pending.
            log.warning("the run is committed, its delivery status is not: %s", exc)

    def mark_interrupted(self, now: dt.datetime) -> list[int]:
        return self._write(lambda copy: copy.mark_interrupted(now))

    def create_run(
        self,
        trigger: Trigger,
        environment: str,
        started_at: dt.datetime,
        event_id: str | None = None,
    ) -> RunRecord:
        return self._write(lambda c: c.create_run(trigger, environment, started_at, event_id))

    def record_failed_start(self, run: RunRecord) -> RunRecord:
        return self._write(lambda copy: copy.record_failed_start(run))

    def finish_run(
        self,
        run: RunRecord,
        writes: Sequence[SeriesWrite],
        channels: Sequence[PendingChannel],
        change_log: Sequence[ChangeEntry] = (),
    ) -> None:
        with self._mutex:
            self._local().finish_run(run, writes, channels, change_log)
            self._dirty = True
            self._commit()

    def update_notification(
        self,
        notification_id: int,
        status: DeliveryStatus,
        attempts: int,
        error: str | None,
        at: dt.datetime,
    ) -> None:
        self._write(lambda c: c.update_notification(notification_id, status, attempts, error, at))

    def set_notification_status(self, run_id: int, summary: str) -> None:
        self._write(lambda copy: copy.set_notification_status(run_id, summary))

    def restore_history(self, history: History) -> None:
        with self._mutex:
            self._local().restore_history(history)
            self._dirty = True
            self._commit()

    # -- reads: the SQLite store's, on the working copy -----------------------------------------

    def rows(
        self,
        series: Series,
        partition: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Any]:
        return self._local().rows(series, partition, start, end, limit, offset)

    def partitions(self, series: Series) -> list[str | None]:
        return self._local().partitions(series)

    def count(
        self, series: Series, start: dt.date | None = None, end: dt.date | None = None
    ) -> int:
        return self._local().count(series, start, end)

    def latest_date(self, series: Series) -> dt.date | None:
        return self._local().latest_date(series)

    def changes(
        self,
        run_id: int | None = None,
        series: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ChangeEntry]:
        return self._local().changes(run_id, series, start, end, limit, offset)

    def count_changes(
        self,
        run_id: int | None = None,
        series: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> int:
        return self._local().count_changes(run_id, series, start, end)

    def last_changed_run_id(self, series: str | None = None) -> int | None:
        return self._local().last_changed_run_id(series)

    def run_as_of(self, day: dt.date) -> RunRecord | None:
        return self._local().run_as_of(day)

    def history_from(self) -> dt.date | None:
        return self._local().history_from()

    def changes_after(self, run_id: int, series: str | None = None) -> list[ChangeEntry]:
        return self._local().changes_after(run_id, series)

    def get_run(self, run_id: int) -> RunRecord | None:
        return self._local().get_run(run_id)

    def list_runs(self, limit: int = 20, offset: int = 0) -> list[RunRecord]:
        return self._local().list_runs(limit, offset)

    def last_run(self, *, before: int | None = None) -> RunRecord | None:
        return self._local().last_run(before=before)

    def last_successful_run(self) -> RunRecord | None:
        return self._local().last_successful_run()

    def pending_notifications(self) -> list[NotificationRow]:
        return self._local().pending_notifications()

    def notifications(self, run_id: int) -> list[NotificationRow]:
        return self._local().notifications(run_id)

    def dump_history(self) -> History:
        return self._local().dump_history()

    def close(self) -> None:
        """Delete the working copy; the cached committed version stays for the next run."""
        with self._mutex:
            self._forget()


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    partial.write_bytes(data)
    os.replace(partial, path)


def _status(exc: Any) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _lost_race(exc: Any) -> bool:
    """412: the object changed since we read it (or appeared, for If-None-Match: *); 409: a
    concurrent conditional write to it is in flight; 404 NoSuchKey on If-Match: it is gone."""
    return _status(exc) in (409, 412) or _code(exc) in {
        "PreconditionFailed",
        "ConditionalRequestConflict",
        "NoSuchKey",
    }
