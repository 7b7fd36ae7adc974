"""The only module that knows the order of the stages.

    open store -> lock -> extract -> validate -> transform -> load (one transaction) -> notify

Any stage failure is wrapped with the stage name and run id, recorded as a failed run in the same
transaction as its pending notifications, and the database's data is left exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from covid_etl.catalog import Source
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
    NATIONAL_NAME,
    ChangeEntry,
    RunRecord,
    RunStatus,
    SeriesCounts,
    SourceMeta,
    Stage,
    Trigger,
    utcnow,
)
from covid_etl.publish.original import publish_original
from covid_etl.ranges import date_ranges
from covid_etl.redact import mask_url, redact
from covid_etl.series.changelog import change_entries
from covid_etl.series.diff import diff_series
from covid_etl.series.registry import RULES, SERIES
from covid_etl.series.spec import Series
from covid_etl.settings import Settings
from covid_etl.sources.csv import decode_csv
from covid_etl.sources.fetch import (
    Fetched,
    FetchPolicy,
    fetch_sources,
    snapshot_path,
    unchanged_since,
)
from covid_etl.store import open_store
from covid_etl.store.base import SeriesWrite

if TYPE_CHECKING:
    import httpx

    from covid_etl.notify.channels import DeliveryReport, Sender
    from covid_etl.notify.render import Message
    from covid_etl.sources.fetch import ProgressCallback
    from covid_etl.store.base import PendingChannel, Store

# Notifying and the heartbeat are imported where they are used: a run with no channel and no
# heartbeat URL needs neither, and start-up is most of a daily no-change run (measured: ~5 ms of
# 0.1 s). The only package-internal imports kept out of the top of a module, with the command
# line's per-command ones (CONTRIBUTING, "Conventions").

log = logging.getLogger(__name__)

# Log records carrying this attribute say that a run failed (see covid_etl.cli).
RUN_FAILED_TAG = "_run_failed"


class Version(NamedTuple):
    """An archived day's files of some sources, loaded in place of fetching them."""

    day: dt.date
    files: Mapping[str, Fetched]


@dataclass(slots=True)
class RunResult:
    """A finished run and what happened to its notifications."""

    run: RunRecord
    delivery: DeliveryReport | None = None
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
    series: Sequence[Series] = SERIES,
    version: Version | None = None,
) -> RunResult:
    """Run the ETL once and return the finished run record (never raises for a failed run).

    ``send`` delivers one message to one channel URL; the default sends through Apprise.
    ``accept_removals``: stored dates the sources no longer have are deleted (and recorded)
    instead of failing the run; the operator's explicit way back from bad data once stored.
    ``event_id`` names the event that triggered the run: DuplicateEvent is raised when a
    succeeded run already handled it. ``series``: the declared series to build and load; the
    first is the spine (the national series), whose counts are the run's own. ``version``: an
    archived day's source files to load instead of fetching those sources (covid-etl replay),
    and that day as the run's as-of date (by default the UTC date of the run).
    """
    if send is None:
        send = _send_with_apprise
    secrets = settings.secrets()
    owns_store = store is None
    try:
        try:
            if store is None:
                store = open_store(settings.database_url, lock_timeout=settings.lock_timeout)
            store.migrate(series)
        except EtlError as exc:
            stage = Stage.LOCK if isinstance(exc, DatabaseLocked) else Stage.OPEN
            return _unrecorded_failure(settings, trigger, stage, exc, send, store, series[0])
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
                            series,
                            version,
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
            return _lock_timeout(settings, trigger, store, exc, send, series[0])
        except DatabaseLocked as exc:
            # Another program holds SQLite's own lock: recording the failure would wait for it
            # again, so subscribers are told directly.
            return _unrecorded_failure(settings, trigger, Stage.LOCK, exc, send, store, series[0])
        except StoreError as exc:
            # The database itself failed mid-run (e.g. the connection to the server was lost and
            # could not be re-established): nothing more can be recorded, but subscribers are
            # told, and the next run marks this one interrupted.
            return _unrecorded_failure(settings, trigger, Stage.LOAD, exc, send, store, series[0])
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
    from covid_etl.notify.channels import send_apprise

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
    series: Sequence[Series],
    version: Version | None = None,
) -> RunResult:
    interrupted = store.mark_interrupted(utcnow())
    if interrupted:
        log.warning("marked run(s) %s as interrupted", interrupted)
    previous = store.last_run()
    run = store.create_run(trigger, settings.environment, utcnow(), event_id)
    run.rules = RULES
    run.as_of = version.day if version is not None else run.started_at.date()
    active = _active_series(settings, series, version)
    for each in active[1:]:  # the first is the spine, whose counts are the run's own
        run.set_counts(each.name, SeriesCounts())
    if previous is not None and previous.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
        run.recovered_from = previous.id
    log.info("run #%d started", run.id, extra={"run_id": run.id, "trigger": str(trigger)})
    writes: list[SeriesWrite] = []
    change_log: list[ChangeEntry] = []
    failure: StageFailed | None = None
    try:
        writes, change_log = _execute(run, settings, store, client, progress, accept_removals,
                                      active, version)  # fmt: skip
        run.status = RunStatus.SUCCEEDED
    except StageFailed as failed:
        failure = failed
        _mark_failed(run, failed, secrets, store, active)
    run.finished_at = utcnow()
    channels: list[PendingChannel] = []
    if settings.notify:
        from covid_etl.notify.channels import pending_channels

        channels = pending_channels(settings.notify)
    try:
        store.finish_run(run, writes, channels, change_log)
        # The original system's files are the national series'.
        spine_changed = any(w.inserted or w.updated or w.removed for w in writes
                            if w.series.name == NATIONAL_NAME)  # fmt: skip
    except StoreConflict:
        raise  # nothing was written: run_etl starts over
    except Exception as exc:
        # The load transaction rolled back: record the failure with no data change instead.
        # A write that waited out another program's lock would wait again: report it directly.
        if run.status is not RunStatus.SUCCEEDED or isinstance(exc, DatabaseLocked):
            raise
        _mark_failed(run, StageFailed(Stage.LOAD, run.id, exc), secrets, store, active)
        spine_changed = False
        store.finish_run(run, [], channels)
    if spine_changed:
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
        return RunResult(run=run, failure=failure)
    if refreshed is not None:
        run.notification_status = refreshed.notification_status
    return RunResult(run=run, delivery=delivery, failure=failure)


def _active_series(
    settings: Settings, series: Sequence[Series], version: Version | None = None
) -> list[Series]:
    """The series whose sources are all switched on (COVID_ETL_STATES_URL=off leaves out the
    per-state series) or given by a replayed version, in declaration order."""
    given = version.files if version is not None else {}

    def enabled(source: Source) -> bool:
        return source.name in given or settings.source_enabled(source)

    return [s for s in series if all(enabled(src) for src in s.sources)]


def _execute(
    run: RunRecord,
    settings: Settings,
    store: Store,
    client: httpx.Client | None,
    progress: ProgressCallback | None,
    accept_removals: bool,
    active: Sequence[Series],
    version: Version | None = None,
) -> tuple[list[SeriesWrite], list[ChangeEntry]]:
    """Extract, validate, transform every active series; fill in the run record; return what to
    write to each series (stored keys are deleted only with ``accept_removals``) and the
    change-log entries of revised and removed rows (the store logs new rows itself)."""
    with _stage(Stage.EXTRACT, run):
        # The first series is the spine: with nothing of it stored, this is a first load.
        last_ok = store.last_successful_run() if store.partitions(active[0]) else None
        if last_ok is not None and last_ok.rules != RULES:
            # Loaded by other rules (an older covid-etl): every series is rebuilt from whole
            # bodies, with no conditional request, even though no source changed.
            log.info("run #%d built the series by other rules: rebuilding them", last_ok.id)
            last_ok = None
        sources = list(dict.fromkeys(src for s in active for src in s.sources))
        given = version.files if version is not None else {}
        # A replayed version is whole bodies: no conditional request, whose 304 has no body.
        conditional = last_ok.sources if last_ok is not None and version is None else []
        fetched = _fetch_all(settings, [s for s in sources if s.name not in given], client,
                             conditional, progress)  # fmt: skip
        fetched.update((name, given[name]) for name in given if name in {s.name for s in sources})
        run.sources = [_public_meta(f.meta) for f in fetched.values()]
    if last_ok is not None and unchanged_since(fetched, last_ok.sources):
        # Every source is byte-identical to the last successful load, so the stored series
        # already are the result: nothing to parse, nothing to write.
        for each in active:
            counts = SeriesCounts(unchanged=store.count(each), data_through=store.latest_date(each))
            run.set_counts(each.name, counts)
        run.warnings = list(last_ok.warnings)
        log.info("sources unchanged since run #%d", last_ok.id)
        return [], []
    with _stage(Stage.VALIDATE, run):
        bodies = {name: _body(name, f) for name, f in fetched.items()}
        today = utcnow().date()  # rows dated after today (UTC) + 1 day are invalid
        del fetched
        uses = Counter(src.name for s in active for src in s.sources)
        parsed: dict[str, Any] = {}
        for each in active:
            parsed[each.name] = each.parse({src.name: bodies[src.name] for src in each.sources},
                                           today)  # fmt: skip
            # A body is dropped once its last series is parsed: a county-sized states file is
            # ~100 MB of bytes and as much again of text, which the rest of the run does not need.
            for src in each.sources:
                uses[src.name] -= 1
                if not uses[src.name]:
                    del bodies[src.name]
    writes: list[SeriesWrite] = []
    change_log: list[ChangeEntry] = []
    run.warnings = []
    for each in active:
        with _stage(Stage.TRANSFORM, run):
            built = each.build(parsed.pop(each.name))
            spine = each is active[0]
            stored_partitions = store.partitions(each)
            changes = diff_series(
                each,
                built.rows,
                stored_partitions,
                functools.partial(store.rows, each),
                accept_removals=accept_removals,
            )
        run.set_counts(each.name, SeriesCounts(
            inserted=len(changes.inserted),
            updated=len(changes.updated),
            unchanged=changes.unchanged,
            removed=len(changes.removed),
            data_through=max(map(itemgetter(0), built.rows)),
        ))  # fmt: skip
        if spine:
            run.initial_load = not stored_partitions
            run.removed_dates = date_ranges([key[-1] for key in changes.removed])
        if changes.removed:
            log.info("removing %d stored %s row(s) the sources dropped", len(changes.removed),
                     each.name)  # fmt: skip
        run.warnings.extend(built.warnings)
        change_log += change_entries(each, changes)
        inserted, updated = _in_key_order(each, changes.inserted, changes.updated)
        writes.append(SeriesWrite(each, inserted, updated, changes.removed))
    return writes, change_log


def _in_key_order(series: Series, *groups: list[Any]) -> list[list[Any]]:
    """Rows in the table's key order (partition, date): each insert lands next to the previous
    one in the B-tree instead of all over it. The rows come in date order within each partition,
    and nearly always in partition order already (one pass), so a stable sort on the partition
    alone suffices."""
    if series.partition is None:
        return list(groups)
    by_partition = itemgetter(series.names.index(series.partition))
    return [sorted(rows, key=by_partition) for rows in groups]


def _fetch_all(
    settings: Settings,
    sources: Sequence[Source],
    client: httpx.Client | None,
    stored: list[SourceMeta],
    progress: ProgressCallback | None,
) -> dict[str, Fetched]:
    if settings.offline:
        urls = {source.name: snapshot_path(source) for source in sources}
    else:
        urls = {source.name: settings.source_url(source) for source in sources}
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


def _mark_failed(
    run: RunRecord,
    failure: StageFailed,
    secrets: list[str],
    store: Store,
    active: Sequence[Series],
) -> None:
    run.status = RunStatus.FAILED
    run.failed_stage = Stage(failure.stage)
    run.error = redact(describe(failure.cause), secrets)
    run.removed_dates = []
    run.initial_load = False
    for each in active:  # nothing changed; each series still holds what it held
        try:
            through = store.latest_date(each)
        except Exception:  # the store itself may be what failed; the run is failed either way
            through = None
        run.set_counts(each.name, SeriesCounts(data_through=through))
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
    settings: Settings,
    trigger: Trigger,
    store: Store,
    exc: RunInProgress,
    send: Sender,
    spine: Series,
) -> RunResult:
    """Record a run that never got the writer lock; its subscribers hear about it at once."""
    run = _failed_before_start(settings, trigger, Stage.LOCK, exc)
    data_known = _read_data_through(run, store, spine)
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
    spine: Series,
) -> RunResult:
    """The store itself is unusable: nothing can be recorded, but subscribers are still told."""
    run = _failed_before_start(settings, trigger, stage, exc)
    log.error("run failed at stage %s: %s", stage, run.error, extra={RUN_FAILED_TAG: True})
    # A corrupt file may still answer a query, but not with anything to vouch for.
    data_known = (
        store is not None
        and not isinstance(exc, DatabaseCorrupt)
        and _read_data_through(run, store, spine)
    )
    _send_direct(settings, run, send, data_known)
    return RunResult(run=run, data_known=data_known)


def _read_data_through(run: RunRecord, store: Store, spine: Series) -> bool:
    """Fill in what the store still holds; False when it cannot be read (state unknown)."""
    try:
        run.data_through = store.latest_date(spine)
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
