"""What the API serves, built from the store interface alone (so every backend works) and kept
separate from HTTP: the routes (:mod:`covid_etl.web.routes`) reach every read through
:class:`DataService`, and only parse, render and send.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from covid_etl.models import Anomaly, ChangeEntry, Record, RunRecord, RunStatus, utcnow
from covid_etl.publish.original import covid_data_rows, last_modified_text
from covid_etl.redact import redact
from covid_etl.series import spec
from covid_etl.series.anomalies import notes_by_place
from covid_etl.series.diff import partition_groups
from covid_etl.series.national import NATION
from covid_etl.series.registry import ANOMALIES, NATIONAL, SERIES, STATES
from covid_etl.store import open_store
from covid_etl.store.asof import rows_as_of, run_as_of
from covid_etl.store.base import Store
from covid_etl.web.cache import Revision, SeriesCache
from covid_etl.web.public_runs import public_run
from covid_etl.web.states import StatesSeries, build_series


@dataclass(frozen=True, slots=True)
class Series:
    """The full derived series of one store revision; windows are sliced from it."""

    revision: Revision
    rows: list[dict[str, Any]]
    last_success_at: str | None
    last_changed_at: dt.datetime | None
    # The latest run of the same revision, so a response never pairs data and a run from two
    # revisions.
    last_run: RunRecord | None = None
    # The stored rows the records are derived from (the original's view needs ``in_jhu``).
    stored: Sequence[Record] = ()


@dataclass(frozen=True, slots=True)
class Notes:
    """The NYT's anomaly notes of one store revision: all of them (key order) and by geoid."""

    revision: Revision
    all: list[Anomaly]
    by_place: dict[str, list[Anomaly]]


@dataclass(frozen=True, slots=True)
class Partitions:
    """A declared series' API records by partition, for one store revision."""

    revision: Revision
    rows: dict[str | None, list[dict[str, Any]]]


# Series as of a past run kept in memory (the national series of one run is about 1 MB).
AS_OF_KEPT = 16
# Reads of one series that a commit in between makes inconsistent are tried again this often.
SNAPSHOT_ATTEMPTS = 3


def _revision_of(run: RunRecord | None) -> Revision:
    return (0, "none") if run is None else (run.id, str(run.status))


def run_summary(run: RunRecord) -> dict[str, Any]:
    """The short form of a run shown in the summary."""
    return run.to_dict(
        ("id", "status", "trigger", "started_at", "finished_at", "inserted", "updated", "unchanged")
    )


class DataService:
    """Reads the store and derives what the endpoints return: the national and the per-state
    series are derived in full once per store revision, the change log read per request.

    The store is opened lazily on first use (so creating the app does no I/O) and migrated once,
    which lets a fresh server answer with an empty series instead of failing.
    """

    def __init__(
        self,
        database_url: str,
        secrets: list[str],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        store: Store | None = None,
        series: Sequence[spec.Series] = SERIES,
    ) -> None:
        self.database_url = database_url
        self.declared = tuple(series)
        self.secrets = secrets
        self.clock = clock
        self._store = store
        self._lock = threading.Lock()
        # The national series is kept under the revision it was read at, which a run may have
        # moved past the one asked for.
        self._series = SeriesCache(lambda _asked: self._read_series())
        self._notes = SeriesCache(self._read_notes)
        self._states = SeriesCache(
            lambda asked: build_series(asked, self.store.rows(STATES), self.notes(asked).by_place)
        )
        self._partitions: dict[str, SeriesCache[Partitions]] = {}
        # Series as of a run, by (series, run id): they never change, a few are kept.
        self._as_of: OrderedDict[tuple[str, int], Any] = OrderedDict()

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    store = open_store(self.database_url)
                    store.migrate(self.declared)
                    self._store = store
        return self._store

    def revision(self) -> Revision:
        """(latest run id, its status): changes whenever stored data can have changed."""
        return _revision_of(self.store.last_run())

    def series(self, revision: Revision) -> Series:
        return self._series.get(revision)

    def states(self, revision: Revision) -> StatesSeries:
        return self._states.get(revision)

    def notes(self, revision: Revision) -> Notes:
        """The stored anomaly notes (every series' averages apply them)."""
        return self._notes.get(revision)

    def _read_notes(self, revision: Revision) -> Notes:
        notes = self.store.rows(ANOMALIES)
        return Notes(revision, notes, notes_by_place(notes))

    def anomalies(
        self,
        revision: Revision,
        geoid: str | None,
        start: dt.date | None,
        end: dt.date | None,
    ) -> list[Anomaly]:
        """The notes of ``geoid`` (all when None) whose days overlap ``start``..``end``, by
        date, then geoid and type."""
        notes = self.notes(revision)
        chosen = notes.all if geoid is None else notes.by_place.get(geoid, [])
        found = [
            n for n in chosen
            if (start is None or n.last_day >= start) and (end is None or n.date <= end)
        ]  # fmt: skip
        return sorted(found, key=lambda n: (n.date, n.geoid, n.type))

    def partition_rows(
        self, series: spec.Series, revision: Revision, partition: str
    ) -> list[dict[str, Any]] | None:
        """One partition's API records (None when it has no stored row), from the series'
        records of ``revision``, derived once per revision and shared by every request."""
        cache = self._partitions.get(series.name)
        if cache is None:
            cache = self._partitions.setdefault(
                series.name, SeriesCache(functools.partial(self._read_partitions, series))
            )
        return cache.get(revision).rows.get(partition)

    def _read_partitions(self, series: spec.Series, revision: Revision) -> Partitions:
        groups = partition_groups(series, self.store.rows(series))
        place, by_place = series.place, self.notes(revision).by_place
        return Partitions(
            revision,
            {
                key: series.api_rows(rows, by_place.get(place(key), []) if place else [])
                for key, rows in groups.items()
            },
        )

    def _read_series(self) -> Series:
        """The series of one store revision. The reads are not one transaction on every backend,
        so they are bracketed by the latest run: when a run ended in between, read again."""
        for _ in range(SNAPSHOT_ATTEMPTS):
            before = self.store.last_run()
            stored = self.store.rows(NATIONAL)
            notes = self.notes(_revision_of(before)).by_place.get(NATION, [])
            rows = NATIONAL.api_rows(stored, notes)
            success = self.store.last_successful_run()
            finished = success.finished_at if success is not None else None
            changed = _last_change(self.store) if rows else None
            after = self.store.last_run()
            if _revision_of(before) == _revision_of(after):
                break
        return Series(
            _revision_of(after),
            rows,
            finished.isoformat() if finished else None,
            changed,
            after,
            stored,
        )

    # -- the data as of a day ----------------------------------------------------------------

    def as_of_run(self, day: dt.date) -> RunRecord:
        """The run whose data was the data as of ``day``; NoHistory before the store's history."""
        return run_as_of(self.store, day)

    def series_as_of(self, run: RunRecord) -> Series:
        """The national series as it stood after ``run`` (kept for a few runs: never changes)."""
        found: Series = self._kept(("national", run.id), lambda: self._national_as_of(run))
        return found

    def states_as_of(self, run: RunRecord) -> StatesSeries:
        """The per-state series as it stood after ``run``."""
        found: StatesSeries = self._kept(
            ("states", run.id),
            lambda: build_series(
                (run.id, "as-of"),
                rows_as_of(self.store, STATES, run),
                self._notes_as_of(run),
            ),
        )
        return found

    def _national_as_of(self, run: RunRecord) -> Series:
        stored = rows_as_of(self.store, NATIONAL, run)
        rows = NATIONAL.api_rows(stored, self._notes_as_of(run).get(NATION, []))
        finished = run.finished_at.isoformat() if run.finished_at else None
        return Series((run.id, "as-of"), rows, finished, run.finished_at, run, stored)

    def _notes_as_of(self, run: RunRecord) -> dict[str, list[Anomaly]]:
        """The NYT's notes as they stood after ``run``: the averages of that day apply them."""
        return notes_by_place(rows_as_of(self.store, ANOMALIES, run))

    def _kept(self, key: tuple[str, int], build: Callable[[], Any]) -> Any:
        with self._lock:
            found = self._as_of.get(key)
            if found is not None:
                self._as_of.move_to_end(key)
                return found
        value = build()
        with self._lock:
            self._as_of[key] = value
            while len(self._as_of) > AS_OF_KEPT:
                self._as_of.popitem(last=False)
        return value

    def summary(self, revision: Revision, as_of: RunRecord | None = None) -> dict[str, Any]:
        series = self.series(revision) if as_of is None else self.series_as_of(as_of)
        rows = series.rows
        latest = rows[-1] if rows else None
        recovered = next((r for r in reversed(rows) if r["recovered"] is not None), None)
        last = series.last_run
        data_through = latest["date"] if latest else None
        age = None
        if data_through is not None:
            age = (self.clock().date() - dt.date.fromisoformat(data_through)).days
        return {
            "data_through": data_through,
            "latest": latest,
            "totals": {
                "cases": latest["cases"] if latest else None,
                "deaths": latest["deaths"] if latest else None,
                "recovered": latest["recovered"] if latest else None,
            },
            "recovered_last_reported": (
                {"date": recovered["date"], "value": recovered["recovered"]} if recovered else None
            ),
            "last_run": run_summary(last) if last is not None else None,
            "freshness": {"data_age_days": age, "last_success_at": series.last_success_at},
        }

    def health(self) -> dict[str, Any]:
        """What a liveness probe needs: the store answers, how far the data goes and how the
        last run ended. An empty store or a failed run is still a healthy server."""
        store = self.store
        last = store.last_run()
        through = store.latest_date(NATIONAL)
        return {
            "data_through": through.isoformat() if through is not None else None,
            "last_run": _run_status(last) if last is not None else None,
        }

    def runs(self, limit: int) -> dict[str, Any]:
        # The store keeps each source as the run used it; the public form shows no server
        # path. Source URLs are masked when recorded; scrubbing the configured secrets again is
        # defence in depth against anything a library echoed into an error message.
        runs = [public_run(r.to_dict()) for r in self.store.list_runs(limit=limit)]
        return {"runs": [_scrub(run, self.secrets) for run in runs]}

    def changes(
        self,
        run_id: int | None,
        series: str | None,
        start: dt.date | None,
        end: dt.date | None,
        limit: int | None,
        offset: int,
    ) -> tuple[list[ChangeEntry], int] | None:
        """One page of change entries (by series, date and run) and the filter's total; None
        when ``run_id`` names no stored run."""
        store = self.store
        if run_id is not None and store.get_run(run_id) is None:
            return None
        total = store.count_changes(run_id, series, start, end)
        entries = store.changes(run_id, series, start, end, limit, offset) if offset < total else []
        return entries, total

    def legacy(self, revision: Revision) -> dict[str, Any]:
        series = self.series(revision)
        changed = series.last_changed_at
        return {
            "data": covid_data_rows(series.stored),
            "last_modified_date": last_modified_text(changed) if changed is not None else None,
        }

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _run_status(run: RunRecord) -> dict[str, Any]:
    return run.to_dict(("id", "status", "finished_at"))


def _last_change(store: Store, page: int = 100) -> dt.datetime | None:
    """When the stored rows last changed: the end of the latest succeeded run that wrote any.
    Only runs write rows, and a failed run writes none."""
    offset = 0
    while runs := store.list_runs(limit=page, offset=offset):
        for run in runs:
            if run.status == RunStatus.SUCCEEDED and run.changed > 0:
                return run.finished_at
        offset += page
    return None


def _scrub(value: Any, secrets: list[str]) -> Any:
    if not secrets:
        return value
    return json.loads(redact(json.dumps(value), [json.dumps(s)[1:-1] for s in secrets]))
