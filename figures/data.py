"""The real files the figures are drawn from, read through covid-etl's own parsers and join.

Only files in the repository are read: the snapshot shipped in the package, the consecutive
day versions kept under tests/fixtures/real/ and the archives of the NYT's daily versions there
(read with the standard library's tarfile and csv). Nothing is downloaded.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import tarfile
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
# The national file of the same day as the shipped per-state file, 2021-07-08.
SAME_DAY_NATIONAL = REAL / "nyt" / "us-2021-07-08.csv"
# 470 daily versions of the NYT's us-states.csv, 2020-03-25 .. 2021-07-08, oldest first.
STATE_VINTAGES = REAL / "nyt" / "vintages" / "us-states-vintages.tar.xz"
STATES_HEADER = "date,state,fips,cases,deaths"
MEASURES = ("cases", "deaths")
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


class Settling(NamedTuple):
    """How the per-state figures settled over an archive of daily versions of us-states.csv.

    A (date, state) row is first published by the first version that has it. A later version is
    a revision of a measure when it changes that measure's value, removes the row (a revision to
    null) or has it again after a removal; ``lags[measure]`` holds, for every row, the days from
    its first publication to the last such revision (0 if never revised). These are the
    definitions of ``covid-etl revisions`` (``covid_etl.series.revisions``), applied to the
    archive directly."""

    versions: int
    first: dt.date  # the oldest version's date
    last: dt.date  # the newest version's date
    revisions: int  # rows whose cases or deaths a version changed, summed over the versions
    removed: int  # rows a version removed
    lags: dict[str, list[int]]  # by measure, one per (date, state) row ever published


@functools.cache
def state_settling(path: Path = STATE_VINTAGES) -> Settling:
    """Read every version in ``path`` (a tar archive of ``us-states-YYYY-MM-DD.csv``, oldest
    first) once, comparing each with the one before: only the lines that differ are parsed."""
    first: dict[tuple[str, str], dt.date] = {}
    last: dict[str, dict[tuple[str, str], dt.date]] = {m: {} for m in MEASURES}
    previous: set[str] = set()
    days: list[dt.date] = []
    revisions = removed = 0
    with tarfile.open(path) as archive:
        for member in archive:  # in archive order: an xz stream is read once, front to back
            if not member.isfile():
                continue
            day = dt.date.fromisoformat(Path(member.name).name.removeprefix("us-states-")[:10])
            if days and day <= days[-1]:
                raise ValueError(f"{path}: {member.name} is not after {days[-1]}")
            days.append(day)
            source = archive.extractfile(member)
            assert source is not None
            header, *rows = source.read().decode("utf-8").splitlines()
            if header != STATES_HEADER:
                raise ValueError(f"{path}: {member.name} has the header {header!r}")
            lines = set(rows)
            now = _rows(lines - previous)
            gone = _rows(previous - lines)
            for key, values in now.items():
                before = gone.get(key)
                if key not in first:
                    first[key] = day
                    continue
                if before is not None and before != values:
                    revisions += 1  # (a line that differs by the state's name alone is none)
                for index, measure in enumerate(MEASURES):
                    # None: the row is back after a removal, a revision of both measures
                    if before is None or before[index] != values[index]:
                        last[measure][key] = day
            for key in gone.keys() - now.keys():
                removed += 1
                for measure in MEASURES:
                    last[measure][key] = day
            previous = lines
    lags = {
        measure: [(revised[key] - day).days if key in revised else 0 for key, day in first.items()]
        for measure, revised in last.items()
    }
    return Settling(len(days), days[0], days[-1], revisions, removed, lags)


def _rows(lines: set[str]) -> dict[tuple[str, str], tuple[int, int]]:
    """``date,state,fips,cases,deaths`` lines by (date, fips): (cases, deaths)."""
    return {(row[0], row[2]): (int(row[3]), int(row[4])) for row in csv.reader(lines)}
