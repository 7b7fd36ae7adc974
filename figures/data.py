"""The real files the figures are drawn from, read through covid-etl's own parsers and join.

Only files in the repository are read: the snapshot shipped in the package and the consecutive
day versions kept under tests/fixtures/real/. Nothing is downloaded.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

from covid_etl.models import JhuRow, NytRow, Record, StateRecord
from covid_etl.series.diff import Changes, diff_series
from covid_etl.series.national import NATIONAL, join_sources
from covid_etl.sources.csv import parse_jhu, parse_nyt
from covid_etl.sources.nyt_states import parse_states

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = ROOT / "src" / "covid_etl" / "data"
REAL = ROOT / "tests" / "fixtures" / "real"
NYT = PACKAGE_DATA / "nyt-us.csv"
JHU = PACKAGE_DATA / "jhu-combined-us.csv"
STATES = PACKAGE_DATA / "nyt-us-states.csv"
# The parsers refuse dates after "today" plus one day; the files are historical, so any later
# fixed day gives the same rows. Fixed, so the figures do not depend on the clock.
TODAY = dt.date(2030, 1, 1)


def nyt_rows(path: Path = NYT) -> list[NytRow]:
    return parse_nyt(path.read_text(encoding="utf-8"), today=TODAY)


def jhu_rows(path: Path = JHU) -> list[JhuRow]:
    return parse_jhu(path.read_text(encoding="utf-8"), today=TODAY)


def national() -> list[Record]:
    """The national series as a run stores it from the shipped snapshot."""
    return join_sources(nyt_rows(), jhu_rows()).records


def snapshot(day: str) -> list[Record]:
    """The national series as a run on ``day`` stored it, from that day's versions of both files."""
    nyt = nyt_rows(REAL / "nyt" / f"us-{day}.csv")
    jhu = jhu_rows(REAL / "jhu" / f"time-series-19-covid-combined-US-{day}.csv")
    return join_sources(nyt, jhu).records


class Revision(NamedTuple):
    """What loading ``new`` over ``old`` did, and by how much each revised day's cases moved."""

    changes: Changes
    cases_delta: dict[dt.date, int]


def revision(old: str, new: str) -> Revision:
    stored = {record.date: record for record in snapshot(old)}
    rows = list(stored.values())
    changes = diff_series(NATIONAL, snapshot(new), [None], lambda _: rows)
    delta = {r.date: r.cases - stored[r.date].cases for r in changes.updated}
    return Revision(changes, delta)


def states() -> list[StateRecord]:
    return parse_states(STATES.read_text(encoding="utf-8"), today=TODAY)


class Totals(NamedTuple):
    cases: int
    deaths: int


def states_summed() -> dict[dt.date, Totals]:
    """The per-state file added up over every jurisdiction, per day."""
    cases: dict[dt.date, int] = defaultdict(int)
    deaths: dict[dt.date, int] = defaultdict(int)
    for row in states():
        cases[row.date] += row.cases
        deaths[row.date] += row.deaths
    return {day: Totals(cases[day], deaths[day]) for day in sorted(cases)}
