"""What the states endpoints serve: each jurisdiction's stored series with derived columns and
per-100k figures, built from the store's rows (kept per store revision by the data service).

Derived columns use the national code (:mod:`covid_etl.series.derive`) over a jurisdiction's *full*
series, so a window or a snapshot date never changes a value. Per-100k figures divide by the
shipped census estimate; a jurisdiction without one (Guam, the Northern Mariana Islands, the
Virgin Islands) gets null there, never 0.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from covid_etl.models import Anomaly, StateRecord
from covid_etl.series.states import (
    STATES,
    derived_state_rows,
    fips_groups,
    load_population,
    state_geoid,
)
from covid_etl.web.cache import Revision

STATE_RECORD_FIELDS = tuple(column.name for column in STATES.record_columns)

SNAPSHOT_FIELDS = (
    "fips",
    "name",
    "population",
    "date",
    "cases",
    "deaths",
    "new_cases_7d_avg",
    "new_deaths_7d_avg",
    "cases_per_100k",
    "deaths_per_100k",
    "new_cases_7d_avg_per_100k",
    "new_deaths_7d_avg_per_100k",
)


@dataclass(frozen=True, slots=True)
class JurisdictionSeries:
    """One jurisdiction's full derived series (date order) and what the snapshot needs."""

    fips: str
    name: str
    population: int | None
    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class StatesSeries:
    revision: Revision
    by_fips: dict[str, JurisdictionSeries]
    data_from: str | None
    data_through: str | None


def build_series(
    revision: Revision,
    records: Sequence[StateRecord],
    notes: Mapping[str, Sequence[Anomaly]] | None = None,
) -> StatesSeries:
    """Group the store's rows (fips then date order, as ``Store.rows(STATES)`` gives them)
    into derived series per jurisdiction, in fips order; ``notes`` are the NYT's anomaly notes
    by geoid (``USA-06``), which the averages apply."""
    notes = notes or {}
    census = load_population()
    by_fips: dict[str, JurisdictionSeries] = {}
    for rows in fips_groups(records):
        fips = rows[0].fips
        known = census.get(fips)
        population = known.population if known is not None else None
        # The published name of the latest row: a fips keeps one name (the data contract).
        by_fips[fips] = JurisdictionSeries(
            fips,
            rows[-1].name,
            population,
            derived_state_rows(rows, population, notes.get(state_geoid(fips), ())),
        )
    first = min((j.rows[0]["date"] for j in by_fips.values()), default=None)
    through = max((j.rows[-1]["date"] for j in by_fips.values()), default=None)
    return StatesSeries(revision, by_fips, first, through)


def snapshot(series: StatesSeries, on: dt.date | None) -> dict[str, Any]:
    """Every jurisdiction on ``on`` (each one's latest row when None)."""
    day = on.isoformat() if on is not None else None
    return {
        "date": day,
        "data_from": series.data_from,
        "data_through": series.data_through,
        "states": [snapshot_entry(j, day) for j in series.by_fips.values()],
    }


def snapshot_entry(jurisdiction: JurisdictionSeries, on: str | None) -> dict[str, Any]:
    """The jurisdiction's latest row on or before ``on`` (its latest row when None); a
    jurisdiction with no row yet on that date has null figures."""
    row = _latest_on(jurisdiction.rows, on)
    entry: dict[str, Any] = {
        "fips": jurisdiction.fips,
        "name": jurisdiction.name,
        "population": jurisdiction.population,
    }
    for field in SNAPSHOT_FIELDS[3:]:
        entry[field] = row[field] if row is not None else None
    return entry


def _latest_on(rows: list[dict[str, Any]], on: str | None) -> dict[str, Any] | None:
    if on is None:
        return rows[-1] if rows else None
    # ISO dates sort as strings and rows are in date order: a binary search.
    dates = [row["date"] for row in rows]
    # The number of rows dated on or before ``on``; the last of them is the one.
    count = bisect_right(dates, on)
    return rows[count - 1] if count else None
