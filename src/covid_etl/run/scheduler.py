"""Run the ETL on a schedule inside a long-running process (``covid-etl serve``).

One background thread sleeps until the next fire time and runs the pipeline with trigger
``schedule``. Overlap is impossible twice over: a fire is skipped while this process's previous
run is still going, and also while any other process holds the store's writer lock (a manual
``covid-etl run``), so a busy lock never queues or fails a second run.

The fire times come from a function, not a cron object, so tests can fire every two seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from covid_etl.cron import parse_cron
from covid_etl.errors import EtlError, RunInProgress
from covid_etl.models import RunRecord, Trigger, utcnow
from covid_etl.run.pipeline import run_etl
from covid_etl.settings import Settings
from covid_etl.store import open_store

log = logging.getLogger(__name__)

NextFire = Callable[[dt.datetime], dt.datetime]

# How long stopping waits for a run in progress. The run's thread is a daemon, so a run still
# going ends with the process: the database rolls back its uncommitted transaction (nothing is
# half written) and the next run marks its record interrupted. Waiting for the run instead
# would let a stalled source or database hold a SIGTERM for minutes.
STOP_GRACE_SECONDS = 2.0


class Scheduler:
    """Fires :meth:`fire` at each time ``next_fire`` gives; :meth:`start`/:meth:`stop` the thread.

    ``catch_up``: at start, run once if the most recent fire time before now has no run started
    at or after it (the process was down at 21:00, say). That holds exactly when the first fire
    time after the latest run's start is already in the past.
    """

    def __init__(
        self,
        settings: Settings,
        next_fire: NextFire,
        *,
        description: str = "",
        catch_up: bool = True,
        run_once: Callable[[], Any] | None = None,
        on_run: Callable[[], None] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.next_fire = next_fire
        self.description = description
        self.catch_up = catch_up
        self.run_once = run_once or self._run_pipeline
        self.on_run = on_run
        self.clock = clock
        self.next_fire_at: dt.datetime | None = None
        self.fired = 0
        self.skipped = 0
        self.last_run_id: int | None = None
        self._busy = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="covid-etl-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Stop waiting for fire times. A run in progress gets ``timeout`` seconds to finish;
        after that it is abandoned, so that a server asked to stop does stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning(
                    "stopping with a scheduled run still going: it is abandoned, its "
                    "transaction rolls back and the next run marks it interrupted"
                )
            self._thread = None

    def _loop(self) -> None:
        try:
            if self.catch_up and self.missed():
                log.info("the last scheduled run was missed; catching up now")
                self.fire()
        except Exception:  # a broken store at start must not kill the schedule
            log.exception("catch-up check failed")
        while not self._stop.is_set():
            fire_at = self.next_fire(self.clock())
            self.next_fire_at = fire_at
            delay = max(0.0, (fire_at - self.clock()).total_seconds())
            if self._stop.wait(delay):
                break
            try:
                self.fire()
            except Exception:  # logged; the next fire time still comes
                log.exception("scheduled run raised")

    # -- one fire -------------------------------------------------------------------------------

    def missed(self) -> bool:
        """Whether the most recent fire time before now has no run started at or after it."""
        latest = self._latest_run()
        if latest is None:
            return True
        return self.next_fire(latest.started_at) <= self.clock()

    def fire(self) -> Any | None:
        """Run the pipeline now, unless a run is already going (then return None)."""
        if not self._busy.acquire(blocking=False):
            self._skip("the previous scheduled run is still going")
            return None
        try:
            if self._lock_held_elsewhere():
                self._skip("another run holds the writer lock")
                return None
            self.fired += 1
            result = self.run_once()
            run = getattr(result, "run", None)
            if isinstance(run, RunRecord):
                self.last_run_id = run.id
            if self.on_run is not None:
                self.on_run()
            return result
        finally:
            self._busy.release()

    def _skip(self, reason: str) -> None:
        self.skipped += 1
        log.warning("scheduled run skipped: %s", reason)

    def _run_pipeline(self) -> Any:
        return run_etl(self.settings, trigger=Trigger.SCHEDULE)

    def _lock_held_elsewhere(self) -> bool:
        """Probe the writer lock without waiting. The pipeline takes it again for the run; if
        someone slips in between, the run waits for them instead of overlapping."""
        try:
            store = open_store(self.settings.database_url)
        except EtlError:
            return False  # let the run itself record why the store cannot be opened
        try:
            with store.writer_lock(0):
                return False
        except RunInProgress:
            return True
        except EtlError:
            return False
        finally:
            store.close()

    def _latest_run(self) -> RunRecord | None:
        store = open_store(self.settings.database_url)
        try:
            store.migrate()
            return store.last_run()
        finally:
            store.close()

    def status(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "schedule": self.description,
            "next_run_at": self.next_fire_at.isoformat() if self.next_fire_at else None,
            "running": self._busy.locked(),
            "fired": self.fired,
            "skipped": self.skipped,
        }


def cron_scheduler(settings: Settings, expression: str, **kwargs: Any) -> Scheduler:
    """A scheduler firing on a five-field UTC cron expression."""
    cron = parse_cron(expression)
    return Scheduler(settings, cron.next_after, description=f"{expression} (UTC)", **kwargs)
