"""Typed records shared by every stage: data rows, source metadata and the run record.

Immutable values are NamedTuples rather than frozen dataclasses: every run imports this module,
and a NamedTuple class is built about six times faster (start-up is most of a no-change run).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class Stage(StrEnum):
    """Pipeline stages, in the order the pipeline runs them."""

    OPEN = "open"
    LOCK = "lock"
    EXTRACT = "extract"
    VALIDATE = "validate"
    TRANSFORM = "transform"
    LOAD = "load"


class RunStatus(StrEnum):
    """Life cycle of a run: running until it succeeds, fails, or is found dead."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Trigger(StrEnum):
    """What started a run."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    EVENT = "event"


class DeliveryStatus(StrEnum):
    """Delivery state of one notification on one channel."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Record(NamedTuple):
    """One joined row of the national series."""

    date: dt.date
    cases: int
    deaths: int
    recovered: int | None

    def values(self) -> tuple[int, int, int | None]:
        return (self.cases, self.deaths, self.recovered)


class StateRecord(NamedTuple):
    """One row of the per-state series (NYT us-states.csv): cumulative figures of one
    jurisdiction (state, DC or territory, by its two-digit FIPS code) on one date."""

    date: dt.date
    fips: str
    name: str
    cases: int
    deaths: int

    @property
    def key(self) -> tuple[dt.date, str]:
        return (self.date, self.fips)


@dataclass(slots=True)
class StatesCounts:
    """What a run did to the per-state series (absent from a run when the states are off)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    data_through: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "data_through": self.data_through.isoformat() if self.data_through else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatesCounts:
        through = data.get("data_through")
        return cls(
            inserted=int(data.get("inserted") or 0),
            updated=int(data.get("updated") or 0),
            unchanged=int(data.get("unchanged") or 0),
            removed=int(data.get("removed") or 0),
            data_through=dt.date.fromisoformat(through) if through else None,
        )


class ChangeEntry(NamedTuple):
    """One row a run changed, in the change log: the series (``national`` or a state's FIPS
    code), the date, the kind (``inserted``, ``updated`` or ``removed``) and the row's values
    before (None for inserted) and after (None for removed). ``run_id`` is 0 until stored."""

    series: str
    date: dt.date
    kind: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    run_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "series": self.series,
            "date": self.date.isoformat(),
            "kind": self.kind,
            "before": self.before,
            "after": self.after,
        }


class NytRow(NamedTuple):
    """One validated row of NYT us.csv."""

    date: dt.date
    cases: int
    deaths: int


class JhuRow(NamedTuple):
    """One validated US national row of the JHU combined file (recovered null when not reported)."""

    date: dt.date
    recovered: int | None


class SourceMeta(NamedTuple):
    """What we know about one download: recorded with the run, used for conditional requests."""

    name: str
    url: str
    status: int | None = None
    bytes: int = 0
    sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceMeta:
        return cls(
            name=str(data["name"]),
            url=str(data["url"]),
            status=data.get("status"),
            bytes=int(data.get("bytes") or 0),
            sha256=data.get("sha256"),
            etag=data.get("etag"),
            last_modified=data.get("last_modified"),
            not_modified=bool(data.get("not_modified", False)),
        )


@dataclass(slots=True)
class RunRecord:
    """One run of the pipeline: written to the run history, rendered into notifications, served
    by the API."""

    id: int
    trigger: Trigger
    environment: str
    started_at: dt.datetime
    status: RunStatus = RunStatus.RUNNING
    finished_at: dt.datetime | None = None
    failed_stage: Stage | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    initial_load: bool = False
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    data_through: dt.date | None = None
    sources: list[SourceMeta] = field(default_factory=list)
    recovered_from: int | None = None
    notification_status: str | None = None
    pid: int | None = None
    host: str | None = None
    # Stored rows deleted because the operator accepted that the source dropped their dates
    # (``covid-etl run --accept-removals``), and those dates as ranges (``2021-01-01..2021-01-05``).
    removed: int = 0
    removed_dates: list[str] = field(default_factory=list)
    # The AWS event that started the run: a second delivery of it is refused (at-least-once).
    event_id: str | None = None
    # The per-state series' counts; None when the states source is off (COVID_ETL_STATES_URL).
    states: StatesCounts | None = None

    @property
    def changed(self) -> int:
        """Rows changed in the database: new dates, revised ones and accepted removals."""
        return self.inserted + self.updated + self.removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trigger": str(self.trigger),
            "environment": self.environment,
            "status": str(self.status),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "failed_stage": str(self.failed_stage) if self.failed_stage else None,
            "error": self.error,
            "warnings": list(self.warnings),
            "initial_load": self.initial_load,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "removed_dates": list(self.removed_dates),
            "data_through": self.data_through.isoformat() if self.data_through else None,
            "states": self.states.to_dict() if self.states is not None else None,
            "sources": [s.to_dict() for s in self.sources],
            "recovered_from": self.recovered_from,
            "notification_status": self.notification_status,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (the only clock the project uses)."""
    return dt.datetime.now(dt.UTC)
