"""One ETL invocation: the same pipeline as ``covid-etl run``, with the event's environment.

Success returns the run summary (the shape of ``covid-etl run --json`` plus the rendered
``subject`` and ``body``), which becomes the OnSuccess destination's ``responsePayload``. A failed
run raises :class:`RunFailed` whose message is the rendered failure: Lambda reports the
invocation as failed (metrics, alarms, OnFailure) and the record carries the reason verbatim.
The function never publishes itself; the notify function does, once, from that record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from covid_etl.aws.events import Invocation, store_url_for
from covid_etl.aws.metrics import emit_run_metrics
from covid_etl.errors import DuplicateEvent, EtlError, RunFailed
from covid_etl.models import ChangeEntry, Record, RunRecord, RunStatus, utcnow
from covid_etl.notify.render import Message, render
from covid_etl.run.pipeline import run_etl
from covid_etl.run.summary import run_summary_json
from covid_etl.settings import Settings, settings_from_env
from covid_etl.store import open_store
from covid_etl.store.base import Store, latest_record

log = logging.getLogger(__name__)

# Seconds kept back from the invocation's time for the load, the run record and the return.
RESERVE_SECONDS = 15.0


def _no_channels(url: str, message: Message) -> None:
    # Lambda notifies through its destination and SNS; Apprise is not even installed there.
    raise RuntimeError("no notification channels in AWS Lambda")


def fit_to_time_left(settings: Settings, remaining: float | None) -> Settings:
    """Shrink the waits so a stuck source or a long lock wait fails as a recorded run before
    Lambda kills the invocation (which would record nothing)."""
    if remaining is None:
        return settings
    # The lock wait and the two downloads happen one after another.
    share = max(1.0, (remaining - RESERVE_SECONDS) / 3)
    return settings.replace(
        lock_timeout=min(settings.lock_timeout, share),
        deadline=min(settings.deadline, share),
        read_timeout=min(settings.read_timeout, share),
        connect_timeout=min(settings.connect_timeout, share),
    )


def run_invocation(
    invocation: Invocation, environ: Mapping[str, str], remaining: float | None = None
) -> dict[str, Any]:
    """Run the pipeline for one invocation; return the summary or raise RunFailed.
    ``remaining``: seconds the invocation has left (Lambda's context)."""
    settings = settings_from_env(environ, environment=invocation.environment, notify=())
    settings = fit_to_time_left(settings, remaining)
    settings = settings.replace(
        database_url=store_url_for(settings.database_url, invocation.environment),
        # The heartbeat vouches for the scheduled production runs, not for smoke tests.
        heartbeat_url=settings.heartbeat_url if invocation.environment == "production" else "",
    )
    store: Store | None
    try:
        store = open_store(settings.database_url)
    except EtlError:
        store = None  # run_etl opens it again and records the failure with its reason
    duplicate = False
    try:
        try:
            run = run_etl(
                settings,
                trigger=invocation.trigger,
                store=store,
                send=_no_channels,
                accept_removals=invocation.accept_removals,
                event_id=invocation.event_id,
            ).run
        except DuplicateEvent as exc:
            # The same event was delivered again: report the first run, load nothing.
            log.warning("duplicate delivery of event %s: %s", invocation.event_id, exc)
            run, duplicate = exc.run, True
        message = render(run, _latest(store, run), changes=_changes(store, run))
    finally:
        if store is not None:
            store.close()
    summary = {
        **run_summary_json(run),
        "environment": invocation.environment,
        "trigger": str(run.trigger),
        "event_id": invocation.event_id,
        "duplicate": duplicate,
        "subject": message.subject,
        "body": message.body,
    }
    if not duplicate:  # a redelivered event is not another run: it is not counted again
        emit_run_metrics(run, invocation.environment, utcnow())
    if run.status is not RunStatus.SUCCEEDED and not duplicate:
        raise RunFailed(message.subject, message.body, summary)
    return summary


def _changes(store: Store | None, run: RunRecord) -> list[ChangeEntry]:
    if store is None or run.status is not RunStatus.SUCCEEDED:
        return []
    try:
        return store.changes(run_id=run.id)
    except EtlError:
        return []  # like the figures, a courtesy: the run's outcome is what matters


def _latest(store: Store | None, run: RunRecord) -> Record | None:
    if store is None:
        return None
    try:
        return latest_record(store, run)
    except EtlError:
        return None  # the figures are a courtesy; the run's outcome is what matters
