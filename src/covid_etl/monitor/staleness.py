"""Is the deployment stale? The dead man's switch behind ``covid-etl check``, ``/healthz`` and the
stale notice of ``covid-etl serve``.

A deployment is stale when no run has succeeded within the max run age (COVID_ETL_MAX_RUN_AGE):
the cron entry was lost, the service is down, runs hang or fail every day. The age of the *data*
is reported but never makes it stale: the upstream sources are frozen archives, so old data is
normal. :func:`assess` is pure (facts and a clock in, a verdict out); :func:`read_facts` is the
one function that asks the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from covid_etl.models import RunRecord
from covid_etl.series.registry import NATIONAL

if TYPE_CHECKING:
    from covid_etl.store.base import Store


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the store says about the runs, read once."""

    last_success_id: int | None = None
    last_success_at: dt.datetime | None = None
    last_run_id: int | None = None
    last_run_status: str | None = None
    data_through: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict at one moment, with the facts it rests on."""

    facts: RunFacts
    checked_at: dt.datetime
    max_age: float | None  # seconds; None: staleness checks are off

    @property
    def success_age(self) -> float | None:
        """Seconds since the last successful run finished."""
        if self.facts.last_success_at is None:
            return None
        return max(0.0, (self.checked_at - self.facts.last_success_at).total_seconds())

    @property
    def data_age_days(self) -> int | None:
        """Days from the latest stored date to today (reported only, never a reason)."""
        if self.facts.data_through is None:
            return None
        return (self.checked_at.date() - self.facts.data_through).days

    @property
    def stale(self) -> bool:
        if self.max_age is None:
            return False
        age = self.success_age
        return age is None or age > self.max_age

    def to_dict(self) -> dict[str, Any]:
        facts = self.facts
        age = self.success_age
        return {
            "stale": self.stale,
            "checked_at": self.checked_at.isoformat(),
            "max_run_age_seconds": self.max_age,
            "last_success_run_id": facts.last_success_id,
            "last_success_at": facts.last_success_at.isoformat() if facts.last_success_at else None,
            "last_success_age_seconds": round(age, 3) if age is not None else None,
            "last_run_id": facts.last_run_id,
            "last_run_status": facts.last_run_status,
            "data_through": facts.data_through.isoformat() if facts.data_through else None,
            "data_age_days": self.data_age_days,
        }

    def summary(self) -> str:
        """One line for a terminal or a cron monitor's log."""
        facts = self.facts
        limit = "staleness checks off" if self.max_age is None else f"max age {_span(self.max_age)}"
        if facts.last_success_at is None:
            head = f"no successful run yet ({limit})"
        else:
            when, age = _when(facts.last_success_at), _span(self.success_age or 0.0)
            if self.stale:
                head = f"no successful run since {when} (run #{facts.last_success_id}, "
            else:
                head = f"last successful run #{facts.last_success_id} at {when} ("
            head += f"{age} ago; {limit})"
        parts = ["stale" if self.stale else "healthy", head]
        if facts.last_run_id is not None and facts.last_run_id != facts.last_success_id:
            parts.append(f"last run #{facts.last_run_id} {facts.last_run_status}")
        if facts.data_through is not None:
            parts.append(f"data through {facts.data_through.isoformat()}")
        return f"{parts[0]}: " + "; ".join(parts[1:])


def facts_from_runs(
    last_success: RunRecord | None, last_run: RunRecord | None, data_through: dt.date | None
) -> RunFacts:
    """The facts from the store's answers (pure; the time of a success is when it finished)."""
    success_at = None
    if last_success is not None:
        success_at = last_success.finished_at or last_success.started_at
    return RunFacts(
        last_success_id=last_success.id if last_success else None,
        last_success_at=success_at,
        last_run_id=last_run.id if last_run else None,
        last_run_status=str(last_run.status) if last_run else None,
        data_through=data_through,
    )


def read_facts(store: Store) -> RunFacts:
    """Ask the store; its errors (StoreError and kin) propagate: an unreadable store is a
    finding of its own, not a healthy or stale one."""
    return facts_from_runs(
        store.last_successful_run(), store.last_run(), store.latest_date(NATIONAL)
    )


def assess(facts: RunFacts, now: dt.datetime, max_age: float | None) -> Health:
    """The verdict at ``now`` (pure)."""
    return Health(facts=facts, checked_at=now, max_age=max_age)


def _span(seconds: float) -> str:
    """A duration as people say it: 45s, 1h 30m, 2d 3h."""
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days >= 2:  # below two days, hours read better (26h, the default max age)
        return f"{days}d {hours}h" if hours else f"{days}d"
    hours += days * 24
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
