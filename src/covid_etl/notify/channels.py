"""Deliver messages to channels, with retries, after the run is committed.

A channel is an Apprise URL (``mailto://``, ``json://``, ``slack://``, ``ntfy://``...). Each run
stores one pending notification per configured channel in the same transaction as its data;
delivery happens afterwards and only updates the delivery state, so a broken channel can never
change or hide a run's outcome. What fails now stays pending and the next run delivers it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from covid_etl.errors import ConfigError, DeliveryError
from covid_etl.models import DeliveryStatus, utcnow
from covid_etl.notify.render import Message, render
from covid_etl.redact import mask_url, redact
from covid_etl.store.base import PendingChannel, Store, latest_record

log = logging.getLogger(__name__)

Sender = Callable[[str, Message], None]


def channel_key(url: str) -> str:
    """A stable id for a channel URL that does not reveal it (stored instead of the URL)."""
    return hashlib.sha256(url.encode()).hexdigest()[:24]


def pending_channels(urls: Sequence[str]) -> list[PendingChannel]:
    return [PendingChannel(key=channel_key(u), label=mask_url(u)) for u in urls]


def check_channels(urls: Sequence[str]) -> None:
    """Fail fast on a channel URL Apprise does not understand (a configuration error)."""
    if not urls:
        return
    import apprise

    for url in urls:
        if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
            raise ConfigError(f"COVID_ETL_NOTIFY: {mask_url(url)!r} is not a usable channel URL")


def send_apprise(url: str, message: Message) -> None:
    """Send through Apprise; raise DeliveryError with what Apprise logged on failure."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise DeliveryError(f"{mask_url(url)} is not a usable channel URL")
    capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
    with capture as captured:
        ok = notifier.notify(
            title=message.subject, body=message.body, body_format=apprise.NotifyFormat.TEXT
        )
    if not ok:
        detail = " ".join(captured.getvalue().split()) or "no detail given"
        raise DeliveryError(f"{mask_url(url)} did not accept the message: {detail}")


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int
    undelivered: int
    errors: list[str]


def deliver_pending(
    store: Store,
    urls: Sequence[str],
    *,
    retries: int,
    backoff: float,
    send: Sender = send_apprise,
    secrets: Sequence[str] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Deliver every pending notification whose channel is still configured."""
    by_key = {channel_key(u): u for u in urls}
    delivered = undelivered = 0
    errors: list[str] = []
    touched: set[int] = set()
    for note in store.pending_notifications():
        touched.add(note.run_id)
        url = by_key.get(note.channel_key)
        if url is None:
            store.update_notification(
                note.id, DeliveryStatus.FAILED, note.attempts, "channel no longer configured",
                utcnow(),
            )  # fmt: skip
            continue
        run = store.get_run(note.run_id)
        if run is None:  # cannot happen with foreign keys; keep the row for inspection
            continue
        message = render(run, latest_record(store, run), changes=store.changes(run_id=run.id))
        attempts = note.attempts
        error: str | None = None
        for attempt in range(retries + 1):
            attempts += 1
            try:
                send(url, message)
                error = None
                break
            except Exception as exc:  # any channel failure is recorded, never raised
                error = redact(str(exc) or type(exc).__name__, [*secrets, url])
                log.warning(
                    "notification to %s failed (attempt %d): %s", note.channel, attempts, error
                )
                if attempt < retries:
                    sleep(backoff * (2**attempt) * random.uniform(0.5, 1.0))
        if error is None:
            delivered += 1
            store.update_notification(note.id, DeliveryStatus.DELIVERED, attempts, None, utcnow())
        else:
            undelivered += 1
            errors.append(f"{note.channel}: {error}")
            store.update_notification(note.id, DeliveryStatus.PENDING, attempts, error, utcnow())
    for run_id in touched:
        store.set_notification_status(run_id, _summary(store, run_id))
    return DeliveryReport(delivered=delivered, undelivered=undelivered, errors=errors)


def _summary(store: Store, run_id: int) -> str:
    rows = store.notifications(run_id)
    waiting = [n for n in rows if n.status is DeliveryStatus.PENDING]
    dropped = [n for n in rows if n.status is DeliveryStatus.FAILED]
    if not waiting and not dropped:
        return f"delivered to {len(rows)} channel(s)"
    parts = []
    if waiting:
        parts.append(
            f"{len(waiting)} channel(s) undelivered, retried on the next run "
            f"({waiting[0].last_error})"
        )
    if dropped:
        parts.append(f"{len(dropped)} channel(s) dropped (no longer configured)")
    return "; ".join(parts)
