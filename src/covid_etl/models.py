"""Typed records shared by every stage: data rows, source metadata and the run record.

Immutable values are NamedTuples rather than frozen dataclasses: every run imports this module,
and a NamedTuple class is built about six times faster (start-up is most of a no-change run).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

# The series whose counts keep the places today's runs have: the national series in the run's
# own fields, the per-state one in ``states`` (covid_etl.series.registry declares both).
NATIONAL_NAME = "national"
STATES_NAME = "states"


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
    REPLAY = "replay"  # one archived daily version of the sources (covid-etl replay)


class DeliveryStatus(StrEnum):
    """Delivery state of one notification on one channel."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Record(NamedTuple):
    """One row of the national series: every NYT date, with JHU's recovered where JHU has
    the date. ``in_jhu`` is 1 where JHU has a row for the date and 0 where it has none: the
    original system's outputs keep only the dates of both sources (its inner join). An int,
    not a bool, so that it reads and logs the same on every backend."""

    date: dt.date
    cases: int
    deaths: int
    recovered: int | None
    in_jhu: int = 1

    def values(self) -> tuple[int, int, int | None]:
        return (self.cases, self.deaths, self.recovered)


class Anomaly(NamedTuple):
    """One of the NYT's notes on an anomalous day or range of days (rolling-averages/
    anomalies.csv), its fields named as the NYT's columns. A note is identified by its place
    (``geoid``: ``USA``, ``USA-SS`` or ``USA-SSCCC``), measure (``type``: ``cases``,
    ``deaths`` or ``both``) and first day. The two flags are ``"yes"`` or None, as published;
    empty texts are None."""

    date: dt.date
    geoid: str
    type: str
    end_date: dt.date | None
    county: str | None
    state: str | None
    omit_from_rolling_average: str | None
    omit_from_rolling_average_on_subgeographies: str | None
    description: str | None

    @property
    def last_day(self) -> dt.date:
        return self.end_date or self.date

    def covers(self, measure: str) -> bool:
        """Whether the note is about ``measure`` (``cases`` or ``deaths``)."""
        return self.type == measure or self.type == "both"


# A row of the per-state series is identified by its date and its two-digit FIPS code.
StateKey = tuple[dt.date, str]


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
class SeriesCounts:
    """What a run did to one series (absent from a run when the series' source is off)."""

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
    def from_dict(cls, data: dict[str, Any]) -> SeriesCounts:
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
    # The as-of date of the run (read back with the log for display; not stored with it).
    as_of: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat() if self.as_of else None,
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
    # The day whose data the run loaded: a live run's UTC date, a replayed version's date. The
    # data "as of D" is the store after the last succeeded run whose as-of date is D or earlier.
    as_of: dt.date | None = None
    # The version of the rules that built the stored series (covid_etl.series.registry.RULES);
    # None for runs recorded before schema 8. A run skips its sources only when they are the
    # last load's bytes *and* that load followed the same rules.
    rules: int | None = None
    # The per-state series' counts; None when the states source is off (COVID_ETL_STATES_URL).
    states: SeriesCounts | None = None
    # The counts of any other series, by name (none today), each shown as its own object like
    # ``states``. Reported by the run (its summary, its notification) but not stored: a series
    # whose counts belong in the run history adds a column for them, as the per-state series
    # did (schema 4), so that today's stored and public run records stay as they are.
    series: dict[str, SeriesCounts] = field(default_factory=dict)

    def counts(self, name: str) -> SeriesCounts | None:
        """What the run did to the series ``name``; the national series' counts are the run's
        own fields (inserted, updated, ...), so it has none here."""
        return self.states if name == STATES_NAME else self.series.get(name)

    def set_counts(self, name: str, counts: SeriesCounts) -> None:
        """Record what the run did to a series: the national series in the run's own fields
        (its removed dates are the caller's), the per-state one in ``states``, any other under
        its name."""
        if name == NATIONAL_NAME:
            self.inserted, self.updated = counts.inserted, counts.updated
            self.unchanged, self.removed = counts.unchanged, counts.removed
            self.data_through = counts.data_through
        elif name == STATES_NAME:
            self.states = counts
        else:
            self.series[name] = counts

    @property
    def changed(self) -> int:
        """Rows changed in the database: new dates, revised ones and accepted removals."""
        return self.inserted + self.updated + self.removed

    def to_dict(self, names: Sequence[str] = ()) -> dict[str, Any]:
        """The fields ``names`` (by default ``PUBLIC_RUN_FIELDS``: what the API and the CLI
        show) as JSON values: ISO dates, plain strings. The store writes and reads its rows
        through this pair with ``RUN_FIELDS``; summaries pick the fields they show."""
        if names:
            return {name: _plain(getattr(self, name)) for name in names}
        shown = {name: _plain(getattr(self, name)) for name in PUBLIC_RUN_FIELDS}
        shown.update((name, counts.to_dict()) for name, counts in self.series.items())
        return shown

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """The inverse of :meth:`to_dict`; also takes date and time objects where it gives ISO
        text (a database driver's native types). Missing optional keys get their defaults."""
        present = [name for name in RUN_FIELDS if name in data]
        return cls(**{name: _RUN_PARSERS.get(name, _same)(data[name]) for name in present})


# Every field of a run record, in the order of its dict form and of the store's columns.
PUBLIC_RUN_FIELDS = (
    "id", "trigger", "environment", "status", "started_at", "finished_at", "failed_stage",
    "error", "warnings", "initial_load", "inserted", "updated", "unchanged", "removed",
    "removed_dates", "data_through", "as_of", "states", "sources", "recovered_from",
    "notification_status",
)  # fmt: skip
# Kept by the store but never shown: which process ran the run, which event started it, and
# which rules built its series.
PRIVATE_RUN_FIELDS = ("pid", "host", "event_id", "rules")
RUN_FIELDS = PUBLIC_RUN_FIELDS + PRIVATE_RUN_FIELDS
# Reported by the run but not stored (see RunRecord.series).
UNSTORED_RUN_FIELDS = ("series",)


def _plain(value: Any) -> Any:
    """One field value as JSON: enums as their text, dates as ISO text, lists copied."""
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, list):
        return [v.to_dict() if isinstance(v, SourceMeta) else v for v in value]
    if isinstance(value, SeriesCounts):
        return value.to_dict()
    return value


def _same(value: Any) -> Any:
    return value


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None or value == "" else parse(value)


def _timestamp(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _list(value: Any) -> list[Any]:
    return list(value or [])


_RUN_PARSERS: dict[str, Callable[[Any], Any]] = {
    "id": int, "inserted": int, "updated": int, "unchanged": int, "removed": int,
    "initial_load": bool, "trigger": Trigger, "status": RunStatus, "failed_stage": _optional(Stage),
    "started_at": _timestamp, "finished_at": _optional(_timestamp), "data_through": _optional(_day),
    "as_of": _optional(_day), "warnings": _list, "removed_dates": _list,
    "sources": lambda v: [SourceMeta.from_dict(s) for s in v or []],
    "states": _optional(SeriesCounts.from_dict),
}  # fmt: skip


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (the only clock the project uses)."""
    return dt.datetime.now(dt.UTC)
