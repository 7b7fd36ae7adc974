"""The per-state series (NYT ``us-states.csv``): rows keyed by (date, fips). Pure.

- The diff: the NYT revises the past, so every stored key is compared, not only new dates; only
  rows whose values differ are written. As for the national series, a run never deletes on its
  own: incoming data that lacks stored keys is refused unless the operator accepted the removals
  (``covid-etl run --accept-removals``).
- Warnings: a cumulative value that falls from one reported day to the next, one line per state
  (``format_falls``), which ``parse_falls`` reads back for the summaries that group them.
- Per-capita figures: the U.S. Census Bureau's Vintage 2019 estimates shipped with the package
  (``data/state-population-2019.csv``: ``fips,state,population``). They cover the 50 states, DC
  and Puerto Rico; Guam (66), the Northern Mariana Islands (69) and the U.S. Virgin Islands (78)
  have no estimate in that vintage, so their per-capita figures are unknown (None), never 0.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import compress, groupby, islice
from operator import itemgetter, lt
from typing import Any, NamedTuple

from covid_etl.catalog import NYT_STATES
from covid_etl.errors import HistoryShrinks
from covid_etl.models import STATES_NAME, Anomaly, StateKey, StateRecord
from covid_etl.ranges import describe_keys
from covid_etl.series.derive import (
    AVERAGES,
    CASES,
    DEATHS,
    NEW_CASES,
    NEW_DEATHS,
    OMITTED,
    date_column,
    nyt_figures,
    rounded,
)
from covid_etl.series.spec import Built, Column, Key, Series
from covid_etl.sources.nyt_states import parse_states


def _shrinks(lost: Sequence[StateKey]) -> HistoryShrinks:
    return HistoryShrinks(
        f"the new states data lacks {len(lost)} (date, fips) row(s) that are already stored "
        f"({describe_keys(lost)}); refusing to load a truncated or shrunken source; "
        "if the source really dropped these rows, accept the removals with "
        "`covid-etl run --accept-removals`"
    )


# Decreases spelled out per state and column in a warning; the rest are counted.
SHOWN_DECREASES = 3


class Fall(NamedTuple):
    """A cumulative value below the one of the day before."""

    date: dt.date
    before: int
    after: int

    @property
    def drop(self) -> int:
        """How far the value fell (positive)."""
        return self.before - self.after


class ColumnFalls(NamedTuple):
    """The days one state's cumulative ``column`` (cases or deaths) fell: how many, the first
    :data:`SHOWN_DECREASES` of them, as its warning spells them out, and the largest fall (the
    first of equal ones), which the warning names too when it is not among those listed."""

    column: str
    days: int
    listed: tuple[Fall, ...]
    largest: Fall


class StateFalls(NamedTuple):
    """What one per-state decrease warning says, in the fields it was written from."""

    name: str
    fips: str
    columns: tuple[ColumnFalls, ...]


def decrease_warnings(rows: Sequence[StateRecord]) -> list[str]:
    """One line per state whose cumulative cases or deaths fall from one reported day to the
    next; ``rows`` in date order within each fips, as :func:`parse_states` returns them."""
    return [format_falls(state) for state in state_falls(rows)]


def state_falls(rows: Sequence[StateRecord]) -> list[StateFalls]:
    """The states whose cumulative cases or deaths fall, in fips order."""
    found: list[StateFalls] = []
    for group in fips_groups(rows):
        columns = tuple(
            falls
            for column, i in (("cases", 3), ("deaths", 4))
            if (falls := _column_falls(group, column, i)) is not None
        )
        if columns:
            found.append(StateFalls(group[0].name, group[0].fips, columns))
    return found


def fips_groups(rows: Sequence[StateRecord]) -> list[list[StateRecord]]:
    """One list per fips, in fips order, each in the order of ``rows`` (by date)."""
    # A stable sort by fips keeps each state's rows in their order, and costs one pass over
    # rows that are already in fips order (the parser's and the store's): C iterators only.
    by_fips = itemgetter(1)
    return [list(group) for _, group in groupby(sorted(rows, key=by_fips), key=by_fips)]


def _column_falls(series: Sequence[StateRecord], column: str, i: int) -> ColumnFalls | None:
    values: list[int] = list(map(itemgetter(i), series))
    # The positions k where values[k] < values[k - 1], found by C iterators alone: a
    # county-sized file has millions of pairs and only a few hundred decreases.
    falls = list(compress(range(1, len(values)), map(lt, islice(values, 1, None), values)))
    if not falls:
        return None
    listed = tuple(Fall(series[k].date, values[k - 1], values[k]) for k in falls[:SHOWN_DECREASES])
    # max() keeps the first of equal drops; a few hundred positions at most, so plain Python.
    k = max(falls, key=lambda k: values[k - 1] - values[k])
    return ColumnFalls(column, len(falls), listed, Fall(series[k].date, values[k - 1], values[k]))


WARNING_PREFIX = "states: "


def format_falls(state: StateFalls) -> str:
    """The warning's text: ``states: Ohio (39): cumulative deaths decrease on 1 day(s):
    2021-03-02 (17348 -> 16750)``, with ``and N more`` past the listed days, and ``, the
    largest 2021-06-04 (63340 -> 62965)`` when the largest fall is not among them."""
    parts = []
    for falls in state.columns:
        shown = ", ".join(map(_fall_text, falls.listed))
        more = falls.days - len(falls.listed)
        parts.append(
            f"{falls.column} decrease on {falls.days} day(s): {shown}"
            + (f" and {more} more" if more else "")
            + (
                ""
                if falls.largest in falls.listed
                else f", the largest {_fall_text(falls.largest)}"
            )
        )
    return f"{WARNING_PREFIX}{state.name} ({state.fips}): cumulative " + "; ".join(parts)


def _fall_text(fall: Fall) -> str:
    return f"{fall.date.isoformat()} ({fall.before} -> {fall.after})"


_HEAD = re.compile(r"states: (?P<name>.+) \((?P<fips>\d\d)\): cumulative (?P<parts>.+)")
_PART = re.compile(
    r"(?P<column>cases|deaths) decrease on (?P<days>\d+) day\(s\): (?P<listed>.+?)"
    r"(?: and \d+ more)?(?:, the largest (?P<largest>.+))?"
)
_FALL = re.compile(r"(\d{4}-\d\d-\d\d) \((\d+) -> (\d+)\)")


def parse_falls(text: str) -> StateFalls | None:
    """The fields of a warning :func:`format_falls` wrote; None for any other text.

    Run records keep their warnings as text (stored, served and sent as such), so a reader
    that wants them grouped reads them back with this. Only text that formats back to itself
    is taken, so a warning of another kind, or of an older wording, is never misread.
    """
    head = _HEAD.fullmatch(text)
    if head is None:
        return None
    columns = []
    for part in head["parts"].split("; "):
        match = _PART.fullmatch(part)
        if match is None:
            return None
        listed = tuple(
            Fall(dt.date.fromisoformat(day), int(before), int(after))
            for day, before, after in _FALL.findall(match["listed"])
        )
        named = _FALL.fullmatch(match["largest"] or "")
        if not listed and named is None:
            return None
        largest = (
            Fall(dt.date.fromisoformat(named[1]), int(named[2]), int(named[3]))
            if named is not None
            else max(listed, key=lambda fall: fall.drop)
        )
        columns.append(ColumnFalls(match["column"], int(match["days"]), listed, largest))
    state = StateFalls(head["name"], head["fips"], tuple(columns))
    return state if format_falls(state) == text else None


POPULATION_FILE = "state-population-2019.csv"


# Jurisdictions of the NYT file without an estimate in the shipped vintage.
TERRITORIES = {"66": "Guam", "69": "Northern Mariana Islands", "78": "Virgin Islands"}


class Jurisdiction(NamedTuple):
    """A state, DC or territory by FIPS code, with its population when one is known."""

    fips: str
    name: str
    population: int | None


def parse_population(text: str) -> dict[str, Jurisdiction]:
    """``fips -> Jurisdiction`` from the census CSV text, plus the territories (population None)."""
    table = {fips: Jurisdiction(fips, name, None) for fips, name in TERRITORIES.items()}
    for row in csv.DictReader(io.StringIO(text)):
        fips = row["fips"]
        table[fips] = Jurisdiction(fips, row["state"], int(row["population"]))
    return table


@cache
def load_population() -> dict[str, Jurisdiction]:
    """The shipped table, read once per process."""
    from importlib import resources

    text = (resources.files("covid_etl") / "data" / POPULATION_FILE).read_text(encoding="utf-8")
    return parse_population(text)


PER = 100_000


def per_100k(value: float | None, population: int | None) -> float | None:
    """``value`` per 100,000 inhabitants; None when either is unknown (no population: not 0)."""
    if value is None or not population:
        return None
    return value * PER / population


def parse_states_source(texts: Mapping[str, str], today: dt.date) -> list[StateRecord]:
    return parse_states(texts[NYT_STATES.name], today=today)


def build_states(rows: list[StateRecord]) -> Built:
    """The rows as parsed (fips then date order), warned about per state; never derived from,
    nor checked against, the national series: both are kept as published."""
    return Built(rows, decrease_warnings(rows))


def states_shrinks(lost: Sequence[Key]) -> HistoryShrinks:
    return _shrinks([(day, fips) for fips, day in lost])


def derive_states(
    rows: Sequence[StateRecord], notes: Sequence[Anomaly] = ()
) -> list[dict[str, Any]]:
    """One jurisdiction's API records, per 100k by its census estimate (null without one)."""
    known = load_population().get(rows[0].fips) if rows else None
    return derived_state_rows(rows, known.population if known is not None else None, notes)


def state_geoid(fips: str | None) -> str:
    """The NYT's geoid of a state (``06`` -> ``USA-06``): whose notes apply to it."""
    return f"USA-{fips}"


STATES = Series(
    name=STATES_NAME,
    table="states",
    row=StateRecord,
    columns=(
        Column("date", dt.date, "Day, YYYY-MM-DD."),
        Column("fips", str, "Two-digit FIPS code."),
        Column("name", str, "The jurisdiction's name as the NYT spells it.", export_as="state"),
        Column("cases", int, "Cumulative cases (NYT)."),
        Column("deaths", int, "Cumulative deaths (NYT)."),
    ),
    partition="fips",
    sources=(NYT_STATES,),
    parse=parse_states_source,
    build=build_states,
    shrinks=states_shrinks,
    derive=derive_states,
    place=state_geoid,
    api_columns=(
        date_column("2020-01-25"),
        CASES,
        DEATHS,
        NEW_CASES,
        NEW_DEATHS,
        *AVERAGES,
        *OMITTED,
        Column(
            "cases_per_100k",
            float,
            "Cases per 100,000 inhabitants (Census 2019), rounded to 2 decimals; null without "
            "an estimate.",
            True,
        ),
        Column(
            "deaths_per_100k",
            float,
            "Deaths per 100,000 inhabitants (Census 2019), rounded to 2 decimals; null without "
            "an estimate.",
            True,
        ),
        Column(
            "new_cases_7d_avg_per_100k",
            float,
            "The unrounded new_cases_7d_avg per 100,000 inhabitants, rounded to 2 decimals; "
            "null without an estimate or an average.",
            True,
        ),
        Column(
            "new_deaths_7d_avg_per_100k",
            float,
            "The unrounded new_deaths_7d_avg per 100,000 inhabitants, rounded to 2 decimals; "
            "null without an estimate or an average.",
            True,
        ),
    ),
)


__all__ = [
    "STATES",
    "ColumnFalls",
    "Fall",
    "Jurisdiction",
    "StateFalls",
    "decrease_warnings",
    "fips_groups",
    "format_falls",
    "load_population",
    "parse_falls",
    "parse_population",
    "per_100k",
    "state_falls",
]


# Two decimals, like the 7-day averages: finer digits are noise next to the census estimate.
_DIGITS = 2


def rate(value: float | None, population: int | None) -> float | None:
    """``value`` per 100k rounded to two decimals; null without a population."""
    figure = per_100k(value, population)
    return None if figure is None else round(figure, _DIGITS)


def derived_state_rows(
    records: Sequence[StateRecord], population: int | None, notes: Sequence[Anomaly] = ()
) -> list[dict[str, Any]]:
    """One dict per record (date order) with the API's columns (``STATES.api_columns``); the
    averages by the NYT's rule with the state's notes, per 100k from the unrounded average (as
    the NYT computes it)."""
    new_cases, new_deaths, cases, deaths = nyt_figures(records, notes)
    return [
        {
            "date": r.date.isoformat(),
            "cases": r.cases,
            "deaths": r.deaths,
            "new_cases": new_cases[i],
            "new_deaths": new_deaths[i],
            "new_cases_7d_avg": rounded(cases.averages[i]),
            "new_deaths_7d_avg": rounded(deaths.averages[i]),
            "new_cases_omitted": cases.left_out[i],
            "new_deaths_omitted": deaths.left_out[i],
            "cases_per_100k": rate(r.cases, population),
            "deaths_per_100k": rate(r.deaths, population),
            "new_cases_7d_avg_per_100k": rate(cases.averages[i], population),
            "new_deaths_7d_avg_per_100k": rate(deaths.averages[i], population),
        }
        for i, r in enumerate(records)
    ]
