"""The only module that knows the order of the stages.

    open store -> lock -> extract -> validate -> transform -> load (one transaction) -> notify

Any stage failure is wrapped with the stage name and run id, recorded as a failed run in the same
transaction as its pending notifications, and the database's data is left exactly as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import EtlError, RunInProgress, StageFailed, StoreError, describe
from .extract import Fetched, FetchPolicy, fetch_source, is_remote, snapshot_path
from .models import Record, RunRecord, RunStatus, SourceMeta, Stage, Trigger, utcnow
from .redact import mask_url, redact
from .settings import Settings
from .store import open_store

if TYPE_CHECKING:
    import httpx

    from .extract import ProgressCallback
    from .notify.channels import DeliveryReport, Sender
    from .notify.render import Message
    from .store.base import PendingChannel, Store

# Parsing, joining and notifying are imported where they are used: a daily run whose sources
# answer 304 Not Modified needs none of them, and start-up is most of such a run's time.

log = logging.getLogger(__name__)

SOURCES = ("nyt", "jhu")


@dataclass(slots=True)
class RunResult:
    """A finished run and what happened to its notifications."""

    run: RunRecord
    delivery: DeliveryReport | None = None
    changes: list[Record] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.run.status is RunStatus.SUCCEEDED


def run_etl(
    settings: Settings,
    *,
    trigger: Trigger = Trigger.MANUAL,
    store: Store | None = None,
    client: httpx.Client | None = None,
    send: Sender | None = None,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run the ETL once and return the finished run record (never raises for a failed run).

    ``send`` delivers one message to one channel URL; the default sends through Apprise.
    """
    if send is None:
        send = _send_with_apprise
    secrets = settings.secrets()
    owns_store = store is None
    try:
        try:
            if store is None:
                store = open_store(settings.database_url)
            store.migrate()
        except EtlError as exc:
            return _unrecorded_failure(settings, trigger, Stage.OPEN, exc, send)
        try:
            with store.writer_lock(settings.lock_timeout):
                return _locked_run(settings, trigger, store, client, send, progress, secrets)
        except RunInProgress as exc:
            return _lock_timeout(settings, trigger, store, exc, send)
        except StoreError as exc:
            # The database itself failed mid-run (e.g. the connection to the server was lost and
            # could not be re-established): nothing more can be recorded, but subscribers are
            # told, and the next run marks this one interrupted.
            return _unrecorded_failure(settings, trigger, Stage.LOAD, exc, send)
    finally:
        if owns_store and store is not None:
            store.close()


def _send_with_apprise(url: str, message: Message) -> None:
    from .notify.channels import send_apprise  # only when a channel is configured

    send_apprise(url, message)


def _locked_run(
    settings: Settings,
    trigger: Trigger,
    store: Store,
    client: httpx.Client | None,
    send: Sender,
    progress: ProgressCallback | None,
    secrets: list[str],
) -> RunResult:
    interrupted = store.mark_interrupted(utcnow())
    if interrupted:
        log.warning("marked run(s) %s as interrupted", interrupted)
    previous = store.last_run()
    run = store.create_run(trigger, settings.environment, utcnow())
    if previous is not None and previous.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
        run.recovered_from = previous.id
    log.info("run #%d started", run.id, extra={"run_id": run.id, "trigger": str(trigger)})
    changes: list[Record] = []
    try:
        changes = _execute(run, settings, store, client, progress)
        run.status = RunStatus.SUCCEEDED
    except StageFailed as failure:
        _mark_failed(run, failure, secrets, store)
    run.finished_at = utcnow()
    channels: list[PendingChannel] = []
    if settings.notify:
        from .notify.channels import pending_channels

        channels = pending_channels(settings.notify)
    try:
        store.finish_run(run, changes, channels)
    except Exception as exc:
        # The load transaction rolled back: record the failure with no data change instead.
        if run.status is not RunStatus.SUCCEEDED:
            raise
        _mark_failed(run, StageFailed(Stage.LOAD, run.id, exc), secrets, store)
        changes = []
        store.finish_run(run, [], channels)
    log.info(
        "run #%d %s",
        run.id,
        run.status,
        extra={"inserted": run.inserted, "updated": run.updated, "unchanged": run.unchanged},
    )
    delivery = _deliver(settings, store, send, secrets)
    refreshed = store.get_run(run.id)
    if refreshed is not None:
        run.notification_status = refreshed.notification_status
    return RunResult(run=run, delivery=delivery, changes=changes)


def _execute(
    run: RunRecord,
    settings: Settings,
    store: Store,
    client: httpx.Client | None,
    progress: ProgressCallback | None,
) -> list[Record]:
    """Extract, validate, transform; fill in the run record; return the rows to write."""
    with _stage(Stage.EXTRACT, run):
        stored_count = store.count_records()
        last_ok = store.last_successful_run() if stored_count else None
        previous = {s.name: s for s in last_ok.sources} if last_ok else {}
        fetched = _fetch_all(settings, client, previous, progress)
        run.sources = [_public_meta(f.meta) for f in fetched.values()]
    if last_ok is not None and all(
        f.meta.sha256 == previous.get(name, SourceMeta(name, "")).sha256
        for name, f in fetched.items()
    ):
        # Both sources are byte-identical to the last successful load, so the stored table
        # already is the result: nothing to parse, nothing to write.
        run.unchanged = stored_count
        run.data_through = store.data_through()
        run.warnings = list(last_ok.warnings)
        log.info("sources unchanged since run #%d", last_ok.id)
        return []
    from .parse import parse_jhu, parse_nyt
    from .transform import diff_records, join_sources

    with _stage(Stage.VALIDATE, run):
        bodies = {name: _body(name, f) for name, f in fetched.items()}
        today = utcnow().date()  # rows dated after today (UTC) + 1 day are invalid
        nyt = parse_nyt(bodies["nyt"], today=today)
        jhu = parse_jhu(bodies["jhu"], today=today)
    with _stage(Stage.TRANSFORM, run):
        joined = join_sources(nyt, jhu)
        stored = store.stored_records()
        changes = diff_records(stored, joined.records)
    run.initial_load = not stored
    run.inserted = len(changes.inserted)
    run.updated = len(changes.updated)
    run.unchanged = changes.unchanged
    run.data_through = joined.records[-1].date
    run.warnings = joined.warnings
    return changes.to_write


def _fetch_all(
    settings: Settings,
    client: httpx.Client | None,
    previous: dict[str, SourceMeta],
    progress: ProgressCallback | None,
) -> dict[str, Fetched]:
    urls = {"nyt": settings.nyt_url, "jhu": settings.jhu_url}
    if settings.offline:
        urls = {name: snapshot_path(name) for name in SOURCES}
    policy = FetchPolicy(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        deadline=settings.deadline,
        max_bytes=settings.max_bytes,
        retries=settings.retries,
        retry_backoff=settings.retry_backoff,
    )
    own_client = client is None and any(is_remote(u) for u in urls.values())
    if own_client:
        from .extract import open_http_client

        client = open_http_client()
    try:
        fetched: dict[str, Fetched] = {}
        for name, url in urls.items():
            # Conditional requests compare against the masked URL we stored, never a secret.
            prior = previous.get(name)
            prior = prior if prior is not None and prior.url == mask_url(url) else None
            if prior is not None:
                prior = prior._replace(url=url)
            fetched[name] = fetch_source(
                name, url, client=client, policy=policy, previous=prior, progress=progress
            )
        if any(f.body is None for f in fetched.values()) and not all(
            f.body is None for f in fetched.values()
        ):
            # One source changed, the other answered 304: we need both bodies to join.
            for name, f in list(fetched.items()):
                if f.body is None:
                    fetched[name] = fetch_source(
                        name, urls[name], client=client, policy=policy, progress=progress
                    )
        return fetched
    finally:
        if own_client and client is not None:
            client.close()


def _body(name: str, fetched: Fetched) -> str:
    from .parse import decode_csv

    assert fetched.body is not None  # 304s were re-fetched or short-circuited above
    return decode_csv(fetched.body, source=name, content_type=fetched.content_type)


def _public_meta(meta: SourceMeta) -> SourceMeta:
    return meta._replace(url=mask_url(meta.url))


@contextmanager
def _stage(stage: Stage, run: RunRecord) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        raise StageFailed(stage, run.id, exc) from exc
    log.debug("stage %s done", stage, extra={"seconds": round(time.perf_counter() - started, 4)})


def _mark_failed(run: RunRecord, failure: StageFailed, secrets: list[str], store: Store) -> None:
    run.status = RunStatus.FAILED
    run.failed_stage = Stage(failure.stage)
    run.error = redact(describe(failure.cause), secrets)
    run.inserted = run.updated = run.unchanged = 0
    run.initial_load = False
    try:
        run.data_through = store.data_through()
    except Exception:  # the store itself may be what failed; the run is failed either way
        run.data_through = None
    log.error("run #%d failed at stage %s: %s", run.id, failure.stage, run.error)


def _deliver(
    settings: Settings, store: Store, send: Sender, secrets: list[str]
) -> DeliveryReport | None:
    if not settings.notify:
        return None
    from .notify.channels import deliver_pending

    return deliver_pending(
        store,
        settings.notify,
        retries=settings.notify_retries,
        backoff=settings.retry_backoff,
        send=send,
        secrets=secrets,
    )


def _failed_before_start(
    settings: Settings, trigger: Trigger, stage: Stage, exc: EtlError
) -> RunRecord:
    """A run record for a run that failed before it could be recorded the usual way."""
    now = utcnow()
    return RunRecord(
        id=0,
        trigger=trigger,
        environment=settings.environment,
        started_at=now,
        finished_at=now,
        status=RunStatus.FAILED,
        failed_stage=stage,
        error=redact(exc.message, settings.secrets()),
    )


def _lock_timeout(
    settings: Settings, trigger: Trigger, store: Store, exc: RunInProgress, send: Sender
) -> RunResult:
    """Record a run that never got the writer lock; its subscribers hear about it at once."""
    run = _failed_before_start(settings, trigger, Stage.LOCK, exc)
    try:
        run.data_through = store.data_through()
        run = store.record_failed_start(run)
    except EtlError as record_error:
        # The lock holder may keep the database busy; the failure is still reported below.
        log.warning("could not record the lock timeout: %s", record_error)
    _send_direct(settings, run, send)
    return RunResult(run=run)


def _unrecorded_failure(
    settings: Settings, trigger: Trigger, stage: Stage, exc: EtlError, send: Sender
) -> RunResult:
    """The store itself is unusable: nothing can be recorded, but subscribers are still told."""
    run = _failed_before_start(settings, trigger, stage, exc)
    log.error("run failed at stage %s: %s", stage, run.error)
    _send_direct(settings, run, send)
    return RunResult(run=run)


def _send_direct(settings: Settings, run: RunRecord, send: Sender) -> None:
    from .notify.render import render

    message = render(run, None)
    failures = []
    for url in settings.notify:
        try:
            send(url, message)
        except Exception as exc:  # recorded on the run, never raised
            failures.append(redact(str(exc), [*settings.secrets(), url]))
    if settings.notify:
        run.notification_status = f"undelivered: {'; '.join(failures)}" if failures else "delivered"


__all__ = ["RunResult", "run_etl"]
