"""``covid-etl serve`` watches for staleness on its own clock.

When no run has succeeded within the max run age, subscribers get one "no successful run since
..." notice through the configured channels, once per episode (not at every check), and one
"recovered" notice when the next run succeeds. An episode is named by the last successful run
before it, so the watcher needs no state in the store: a new success ends the episode, and the
next silence is a new one. (A restart of ``serve`` during an episode announces it once more.)

:class:`Episodes` is the pure state machine; :class:`StaleWatcher` is the thread that reads the
store, feeds the machine and sends what it says.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from covid_etl.errors import EtlError
from covid_etl.models import utcnow
from covid_etl.monitor.staleness import Health, assess, read_facts
from covid_etl.notify.channels import send_apprise
from covid_etl.notify.render import Message
from covid_etl.redact import redact
from covid_etl.settings import Settings
from covid_etl.store import open_store

log = logging.getLogger(__name__)

Sender = Callable[[str, Message], None]
# How often the watcher looks, as a share of the max age, within these bounds in seconds: a
# notice comes at most a tenth of the max age late, and a 26h max age costs a query a minute.
CHECK_SHARE, MIN_INTERVAL, MAX_INTERVAL = 0.1, 0.25, 60.0


class NoticeKind(StrEnum):
    STALE = "stale"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    health: Health


class Episodes:
    """Which notices a sequence of verdicts calls for (pure: verdicts in, notices out)."""

    def __init__(self) -> None:
        # The last successful run (0: none) of the episode announced as stale, or None.
        self.announced: int | None = None

    def step(self, health: Health) -> list[Notice]:
        episode = health.facts.last_success_id or 0
        notices: list[Notice] = []
        if self.announced is not None and episode != self.announced:
            # A run succeeded since the stale notice: that ends the episode.
            notices.append(Notice(NoticeKind.RECOVERED, health))
            self.announced = None
        if health.stale and self.announced is None:
            notices.append(Notice(NoticeKind.STALE, health))
            self.announced = episode
        return notices


def notice_message(notice: Notice, environment: str) -> Message:
    """The notice as subscribers read it."""
    health = notice.health
    facts = health.facts
    if notice.kind is NoticeKind.STALE:
        if facts.last_success_at is None:
            subject = f"[{environment}] covid-etl: no successful run yet"
        else:
            since = _when(facts.last_success_at)
            subject = f"[{environment}] covid-etl: no successful run since {since}"
        lead = (
            "covid-etl has not completed a successful run within the max run age "
            "(COVID_ETL_MAX_RUN_AGE). Check the schedule, the service and the last run's error."
        )
    else:
        subject = f"[{environment}] covid-etl recovered: run #{facts.last_success_id} succeeded"
        lead = "A run succeeded again after the deployment had gone stale."
    return Message(subject=subject, body=f"{lead}\n\n{health.summary()}\n")


def check_interval(max_age: float) -> float:
    return min(MAX_INTERVAL, max(MIN_INTERVAL, max_age * CHECK_SHARE))


class StaleWatcher:
    """A daemon thread that checks the store every :func:`check_interval` seconds."""

    def __init__(
        self,
        settings: Settings,
        *,
        send: Sender | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.send = send or _send_with_apprise
        self.clock = clock
        self.episodes = Episodes()
        self.sent: list[Notice] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def max_age(self) -> float | None:
        return self.settings.max_run_age_seconds

    def start(self) -> None:
        if self.max_age is None or self._thread is not None:
            return  # staleness checks are off
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="covid-etl-stale-watch", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        assert self.max_age is not None
        interval = check_interval(self.max_age)
        while not self._stop.is_set():
            try:
                self.check_once()
            except Exception:  # a broken check must not end the watch
                log.exception("staleness check raised")
            if self._stop.wait(interval):
                break

    def check_once(self) -> list[Notice]:
        """Read the store, update the episode, send what it calls for."""
        try:
            store = open_store(self.settings.database_url, lock_timeout=self.settings.lock_timeout)
            try:
                store.migrate()
                facts = read_facts(store)
            finally:
                store.close()
        except EtlError as exc:
            # Unknown is not stale: /healthz and `covid-etl check` report the store itself.
            log.warning("staleness check could not read the store: %s", exc.message)
            return []
        notices = self.episodes.step(assess(facts, self.clock(), self.max_age))
        for notice in notices:
            self._announce(notice)
        return notices

    def _announce(self, notice: Notice) -> None:
        message = notice_message(notice, self.settings.environment)
        log.warning("%s", message.subject)
        self.sent.append(notice)
        deliver_notice(self.settings.notify, message, self.send, self.settings.secrets())


def deliver_notice(
    urls: Sequence[str], message: Message, send: Sender, secrets: Sequence[str]
) -> int:
    """Send to every channel once; failures are logged (masked), never raised. Returns how
    many channels accepted it."""
    delivered = 0
    for url in urls:
        try:
            send(url, message)
            delivered += 1
        except Exception as exc:  # a broken channel must not stop the others
            log.warning("notice to a channel failed: %s", redact(str(exc), [*secrets, url]))
    return delivered


def _send_with_apprise(url: str, message: Message) -> None:
    send_apprise(url, message)


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
