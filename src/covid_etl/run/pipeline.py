"""The only module that knows the order of the stages.

    open store -> lock -> extract -> validate -> transform -> load (one transaction) -> notify

Any stage failure is wrapped with the stage name and run id, recorded as a failed run in the same
transaction as its pending notifications, and the database's data is left exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from covid_etl.errors import (
    DatabaseCorrupt,
    DatabaseLocked,
    EtlError,
    RunInProgress,
    StageFailed,
    StoreConflict,
    StoreError,
    describe,
)
from covid_etl.models import (
    Record,
    RunRecord,
    RunStatus,
    SourceMeta,
    Stage,
    StatesCounts,
    Trigger,
    utcnow,
)
from covid_etl.publish.original import publish_original
from covid_etl.ranges import date_ranges
from covid_etl.redact import mask_url, redact
from covid_etl.settings import Settings
from covid_etl.sources.fetch import (
    Fetched,
    FetchPolicy,
    fetch_sources,
    snapshot_path,
    unchanged_since,
)
from covid_etl.store import open_store

if TYPE_CHECKING:
    import httpx

    from covid_etl.models import ChangeEntry, StateRecord
    from covid_etl.notify.channels import DeliveryReport, Sender
    from covid_etl.notify.render import Message
    from covid_etl.series.states import StateChanges
    from covid_etl.sources.fetch import ProgressCallback
    from covid_etl.store.base import PendingChannel, Store

# Parsing, joining and notifying are imported where they are used: a daily run whose sources
# answer 304 Not Modified needs none of them, and start-up is most of such a run's time.

log = logging.getLogger(__name__)

# Log records carrying this attribute say that a run failed (see covid_etl.cli).
RUN_FAILED_TAG = "_run_failed"


@dataclass(slots=True)
class RunResult:
    """A finished run and what happened to its notifications."""

    run: RunRecord
    delivery: DeliveryReport | None = None
    changes: list[Record] = field(default_factory=list)
    # Why the run failed, when it failed in a stage (the record keeps only the sentence).
    failure: StageFailed | None = None
    # False when the store could not be read to say what data it holds (it is unavailable).
    data_known: bool = True

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
    accept_removals: bool = False,
    event_id: str | None = None,
) -> RunResult:
    """Run the ETL once and return the finished run record (never raises for a failed run).

    ``send`` delivers one message to one channel URL; the default sends through Apprise.
    ``accept_removals``: stored dates the sources no longer have are deleted (and recorded)
    instead of failing the run; the operator's explicit way back from bad data once stored.
    ``event_id`` names the event that triggered the run: DuplicateEvent is raised when a
    succeeded run already handled it.
    """
    if send is None:
        send = _send_with_apprise
    secrets = settings.secrets()
    owns_store = store is None
    try:
        try:
            if store is None:
                store = open_store(settings.database_url, lock_timeout=settings.lock_timeout)
            store.migrate()
        except EtlError as exc:
            stage = Stage.LOCK if isinstance(exc, DatabaseLocked) else Stage.OPEN
            return _unrecorded_failure(settings, trigger, stage, exc, send, store)
        try:
            for attempt in (1, 2):
                try:
                    with store.writer_lock(settings.lock_timeout):
                        result = _locked_run(
                            settings,
                            trigger,
                            store,
                            client,
                            send,
                            progress,
                            secrets,
                            accept_removals,
                            event_id,
                        )
                    return _heartbeat(settings, result)  # outside the lock: the run is committed
                except StoreConflict as exc:
                    # Another run committed first and this one wrote nothing: start again from
                    # what it committed (usually there is nothing left to do), once.
                    if attempt == 2:
                        raise
                    log.warning("%s; trying once more", exc)
            raise AssertionError("unreachable")
        except RunInProgress as exc:
            return _lock_timeout(settings, trigger, store, exc, send)
        except DatabaseLocked as exc:
            # Another program holds SQLite's own lock: recording the failure would wait for it
            # again, so subscribers are told directly.
            return _unrecorded_failure(settings, trigger, Stage.LOCK, exc, send, store)
        except StoreError as exc:
            # The database itself failed mid-run (e.g. the connection to the server was lost and
            # could not be re-established): nothing more can be recorded, but subscribers are
            # told, and the next run marks this one interrupted.
            return _unrecorded_failure(settings, trigger, Stage.LOAD, exc, send, store)
    finally:
        if owns_store and store is not None:
            store.close()


def _heartbeat(settings: Settings, result: RunResult) -> RunResult:
    """Ping the heartbeat URL after a successful run (never after a failed one)."""
    if result.succeeded and settings.heartbeat_url:
        from covid_etl.monitor.heartbeat import send_heartbeat

        send_heartbeat(settings.heartbeat_url)
    return result


def _send_with_apprise(url: str, message: Message) -> None:
    from covid_etl.notify.channels import send_apprise  # only when a channel is configured

    send_apprise(url, message)


def _locked_run(
    settings: Settings,
    trigger: Trigger,
    store: Store,
    client: httpx.Client | None,
    send: Sender,
    progress: ProgressCallback | None,
    secrets: list[str],
    accept_removals: bool,
    event_id: str | None,
) -> RunResult:
    interrupted = store.mark_interrupted(utcnow())
    if interrupted:
        log.warning("marked run(s) %s as interrupted", interrupted)
    previous = store.last_run()
    run = store.create_run(trigger, settings.environment, utcnow(), event_id)
    run.states = StatesCounts() if settings.states_enabled else None
    if previous is not None and previous.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
        run.recovered_from = previous.id
    log.info("run #%d started", run.id, extra={"run_id": run.id, "trigger": str(trigger)})
    changes: list[Record] = []
    removed: list[dt.date] = []
    states: StateChanges | None = None
    change_log: list[ChangeEntry] = []
    failure: StageFailed | None = None
    try:
        changes, removed, states, change_log = _execute(
            run, settings, store, client, progress, accept_removals
        )
        run.status = RunStatus.SUCCEEDED
    except StageFailed as failed:
        failure = failed
        _mark_failed(run, failed, secrets, store)
    run.finished_at = utcnow()
    channels: list[PendingChannel] = []
    if settings.notify:
        from covid_etl.notify.channels import pending_channels

        channels = pending_channels(settings.notify)
    try:
        state_writes = _state_writes(states) if failure is None else {}
        store.finish_run(run, changes, channels, removed, **state_writes, change_log=change_log)
        national_changed = bool(changes or removed)
    except StoreConflict:
        raise  # nothing was written: run_etl starts over
    except Exception as exc:
        # The load transaction rolled back: record the failure with no data change instead.
        # A write that waited out another program's lock would wait again: report it directly.
        if run.status is not RunStatus.SUCCEEDED or isinstance(exc, DatabaseLocked):
            raise
        _mark_failed(run, StageFailed(Stage.LOAD, run.id, exc), secrets, store)
        changes, national_changed = [], False
        store.finish_run(run, [], channels)
    if national_changed:  # the original system's files are the national series'
        publish_original(store)
    log.info(
        "run #%d %s",
        run.id,
        run.status,
        extra={"inserted": run.inserted, "updated": run.updated, "unchanged": run.unchanged},
    )
    # The run is committed: nothing from here on may turn it into a failure.
    try:
        delivery = _deliver(settings, store, send, secrets)
        refreshed = store.get_run(run.id)
    except Exception as exc:  # the store or a channel failed after the commit; the run stands
        error = redact(describe(exc), secrets)
        log.warning("run #%d is committed, but its delivery was not recorded: %s", run.id, error)
        run.notification_status = f"delivery not recorded ({error}); the next run retries it"
        return RunResult(run=run, changes=changes, failure=failure)
    if refreshed is not None:
        run.notification_status = refreshed.notification_status
    return RunResult(run=run, delivery=delivery, changes=changes, failure=failure)


def _state_writes(states: StateChanges | None) -> dict[str, Any]:
    if states is None or not (states.inserted or states.updated or states.removed):
        return {}
    # In the table's key order (fips, date): each insert lands next to the previous one in the
    # B-tree instead of all over it. The rows come in date order within each fips, and nearly
    # always in fips order already (one pass), so a stable sort on the fips alone suffices.
    by_fips = itemgetter(1)
    return {
        "states_inserted": sorted(states.inserted, key=by_fips),
        "states_updated": sorted(states.updated, key=by_fips),
        "states_removed": states.removed,
    }


def _execute(
    run: RunRecord,
    settings: Settings,
    store: Store,
    client: httpx.Client | None,
    progress: ProgressCallback | None,
    accept_removals: bool = False,
) -> tuple[list[Record], list[dt.date], StateChanges | None, list[ChangeEntry]]:
    """Extract, validate, transform; fill in the run record; return the rows to write, the
    stored dates to delete (only with ``accept_removals``), the per-state changes (None when
    the states are off or unchanged) and the change-log entries describing all of them."""
    with _stage(Stage.EXTRACT, run):
        stored_count = store.count_records()
        last_ok = store.last_successful_run() if stored_count else None
        fetched = _fetch_all(settings, client, last_ok.sources if last_ok else [], progress)
        run.sources = [_public_meta(f.meta) for f in fetched.values()]
    if last_ok is not None and unchanged_since(fetched, last_ok.sources):
        # Both sources are byte-identical to the last successful load, so the stored table
        # already is the result: nothing to parse, nothing to write.
        run.unchanged = stored_count
        run.data_through = store.data_through()
        run.warnings = list(last_ok.warnings)
        if run.states is not None:
            run.states = StatesCounts(
                unchanged=store.count_states(), data_through=store.states_data_through()
            )
        log.info("sources unchanged since run #%d", last_ok.id)
        return [], [], None, []
    from covid_etl.series.changelog import national_entries, state_entries
    from covid_etl.series.national import diff_records, join_sources
    from covid_etl.sources.csv import parse_jhu, parse_nyt

    with _stage(Stage.VALIDATE, run):
        bodies = {name: _body(name, f) for name, f in fetched.items()}
        today = utcnow().date()  # rows dated after today (UTC) + 1 day are invalid
        # Each body is dropped once parsed: a county-sized states file is ~100 MB of bytes and
        # as much again of text, which the rest of the run does not need.
        del fetched
        nyt = parse_nyt(bodies.pop("nyt"), today=today)
        jhu = parse_jhu(bodies.pop("jhu"), today=today)
        state_rows = _parse_states(bodies.pop("states", None))
    with _stage(Stage.TRANSFORM, run):
        joined = join_sources(nyt, jhu)
        stored = store.stored_records()
        changes = diff_records(stored, joined.records, accept_removals=accept_removals)
    run.initial_load = not stored
    run.inserted = len(changes.inserted)
    run.updated = len(changes.updated)
    run.unchanged = changes.unchanged
    run.removed = len(changes.removed)
    run.removed_dates = date_ranges(changes.removed)
    if changes.removed:
        log.info("removing %d stored date(s) the sources dropped: %s", run.removed,
                 ", ".join(run.removed_dates))  # fmt: skip
    run.data_through = joined.records[-1].date
    run.warnings = joined.warnings
    change_log = national_entries(stored, changes.inserted, changes.updated, changes.removed)
    del stored
    states = None
    if state_rows is not None:
        states = _diff_states(run, store, state_rows, accept_removals)
        # Inserted rows' entries are the rows themselves: the store writes them with the rows.
        change_log += state_entries(states.previous, states.updated, states.removed)
    return changes.to_write, changes.removed, states, change_log


def _parse_states(text: str | None) -> list[StateRecord] | None:
    if text is None:
        return None
    from covid_etl.sources.nyt_states import parse_states

    return parse_states(text, today=utcnow().date())


def _diff_states(
    run: RunRecord, store: Store, rows: list[StateRecord], accept_removals: bool
) -> StateChanges:
    """The per-state series against the stored one; fills in ``run.states`` and its warnings.
    Never derived from, nor checked against, the national series: both are kept as published."""
    from covid_etl.series.states import decrease_warnings, diff_states_by_fips

    with _stage(Stage.TRANSFORM, run):
        changes = diff_states_by_fips(
            rows, store.stored_state_fips(), store.state_records, accept_removals=accept_removals
        )
    run.states = StatesCounts(
        inserted=len(changes.inserted),
        updated=len(changes.updated),
        unchanged=changes.unchanged,
        removed=len(changes.removed),
        data_through=max(map(itemgetter(0), rows)),
    )
    if changes.removed:
        log.info("removing %d stored per-state row(s) the source dropped", len(changes.removed))
    run.warnings.extend(decrease_warnings(rows))
    return changes


def _fetch_all(
    settings: Settings,
    client: httpx.Client | None,
    stored: list[SourceMeta],
    progress: ProgressCallback | None,
) -> dict[str, Fetched]:
    urls = {source.name: settings.source_url(source) for source in settings.enabled_sources()}
    if settings.offline:
        urls = {name: snapshot_path(name) for name in urls}
    policy = FetchPolicy(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        deadline=settings.deadline,
        max_bytes=settings.max_bytes,
        retries=settings.retries,
        retry_backoff=settings.retry_backoff,
    )
    return fetch_sources(urls, policy, stored=stored, client=client, progress=progress)


def _body(name: str, fetched: Fetched) -> str:
    from covid_etl.sources.csv import decode_csv

    assert fetched.body is not None  # 304s were re-fetched (extract) or short-circuited above
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
    run.inserted = run.updated = run.unchanged = run.removed = 0
    run.removed_dates = []
    run.initial_load = False
    if run.states is not None:
        run.states = StatesCounts()
        try:
            run.states.data_through = store.states_data_through()
        except Exception:  # as below: the store may be what failed
            run.states.data_through = None
    try:
        run.data_through = store.data_through()
    except Exception:  # the store itself may be what failed; the run is failed either way
        run.data_through = None
    # Tagged so that a caller printing its own summary (the CLI) can leave this line out.
    log.error(
        "run #%d failed at stage %s: %s", run.id, failure.stage, run.error,
        extra={RUN_FAILED_TAG: True},
    )  # fmt: skip


def _deliver(
    settings: Settings, store: Store, send: Sender, secrets: list[str]
) -> DeliveryReport | None:
    if not settings.notify:
        return None
    from covid_etl.notify.channels import deliver_pending

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
    data_known = _read_data_through(run, store)
    try:
        run = store.record_failed_start(run)
    except EtlError as record_error:
        # The lock holder may keep the database busy; the failure is still reported below.
        log.warning("could not record the lock timeout: %s", record_error)
    _send_direct(settings, run, send, data_known)
    return RunResult(run=run, data_known=data_known)


def _unrecorded_failure(
    settings: Settings,
    trigger: Trigger,
    stage: Stage,
    exc: EtlError,
    send: Sender,
    store: Store | None,
) -> RunResult:
    """The store itself is unusable: nothing can be recorded, but subscribers are still told."""
    run = _failed_before_start(settings, trigger, stage, exc)
    log.error("run failed at stage %s: %s", stage, run.error, extra={RUN_FAILED_TAG: True})
    # A corrupt file may still answer a query, but not with anything to vouch for.
    data_known = (
        store is not None
        and not isinstance(exc, DatabaseCorrupt)
        and _read_data_through(run, store)
    )
    _send_direct(settings, run, send, data_known)
    return RunResult(run=run, data_known=data_known)


def _read_data_through(run: RunRecord, store: Store) -> bool:
    """Fill in what the store still holds; False when it cannot be read (state unknown)."""
    try:
        run.data_through = store.data_through()
    except Exception as exc:  # the store is what failed; the message then says so
        log.warning("cannot read what the store holds: %s", describe(exc))
        return False
    return True


def _send_direct(settings: Settings, run: RunRecord, send: Sender, data_known: bool) -> None:
    from covid_etl.notify.render import render

    message = render(run, None, data_known=data_known)
    failures = []
    for url in settings.notify:
        try:
            send(url, message)
        except Exception as exc:  # recorded on the run, never raised
            failures.append(redact(str(exc), [*settings.secrets(), url]))
    if settings.notify:
        run.notification_status = f"undelivered: {'; '.join(failures)}" if failures else "delivered"


__all__ = ["RunResult", "run_etl"]
