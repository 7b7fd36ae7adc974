"""Derived columns, computed from the stored cumulative series and the NYT's anomaly notes.

Pure functions over one place's rows in date order. They always run
over the *full* series and the API slices afterwards, so the first row of a filtered or paged
window still gets its true day-over-day value instead of a null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Any, NamedTuple

from covid_etl.models import Anomaly
from covid_etl.series.spec import Column

WINDOW = 7
_DAY = dt.timedelta(days=1)


def daily_values(values: Sequence[int]) -> list[int]:
    """Each day's new count: the cumulative value minus the previous row's; a place's first
    row counts from 0 (its daily value is its cumulative one), as the NYT counts."""
    return [current - previous for previous, current in zip((0, *values), values, strict=False)]


def day_over_day(values: Sequence[int | None]) -> list[int | None]:
    """``values[i] - values[i-1]``; null for the first value or where either side is null."""
    out: list[int | None] = [None] * len(values)
    for i in range(1, len(values)):
        current, previous = values[i], values[i - 1]
        if current is not None and previous is not None:
            out[i] = current - previous
    return out


def left_out_days(notes: Iterable[Anomaly], measure: str) -> set[dt.date]:
    """The days the NYT's notes leave out of ``measure``'s averages (``omit_from_rolling_average``
    yes; ``end_date`` extends a note over a range)."""
    days: set[dt.date] = set()
    for note in notes:
        if note.omit_from_rolling_average and note.covers(measure):
            day = note.date
            while day <= note.last_day:
                days.add(day)
                day += _DAY
    return days


class Averaged(NamedTuple):
    """A measure's 7-day averages (unrounded; None where every day of the window is left out)
    and, per row, whether that day is left out of them."""

    averages: list[float | None]
    left_out: list[bool]


def nyt_average(
    dates: Sequence[dt.date], daily: Sequence[int], omitted: Collection[dt.date] = frozenset()
) -> Averaged:
    """The NYT's 7-day average of each row's day: the mean over the 7 calendar days ending on
    it, where a day without a row counts as 0 (before a place's first row, or a gap) and a day
    is left out, shrinking the divisor, when its daily value is negative or it is in
    ``omitted``. Reproduces every published NYT average (docs/how-it-works.md)."""
    left_out = [value < 0 or day in omitted for day, value in zip(dates, daily, strict=True)]
    averages: list[float | None] = []
    first = 0  # the oldest row inside the current window
    for i, day in enumerate(dates):
        while dates[first] <= day - WINDOW * _DAY:
            first += 1
        total, days = 0, WINDOW
        for j in range(first, i + 1):
            if left_out[j]:
                days -= 1
            else:
                total += daily[j]
        averages.append(total / days if days else None)
    return Averaged(averages, left_out)


class NytFigures(NamedTuple):
    """A place's daily new cases and deaths and their averages by the NYT's rule."""

    new_cases: list[int]
    new_deaths: list[int]
    cases: Averaged
    deaths: Averaged


def nyt_figures(rows: Sequence[Any], notes: Iterable[Anomaly]) -> NytFigures:
    """The daily figures of a place's rows (date order; fields ``date``, ``cases``, ``deaths``)
    with the NYT's notes on that place."""
    notes = list(notes)
    dates = [r.date for r in rows]
    new_cases = daily_values([r.cases for r in rows])
    new_deaths = daily_values([r.deaths for r in rows])
    return NytFigures(
        new_cases,
        new_deaths,
        nyt_average(dates, new_cases, left_out_days(notes, "cases")),
        nyt_average(dates, new_deaths, left_out_days(notes, "deaths")),
    )


def rounded(value: float | None) -> float | None:
    """Two decimals, as the NYT publishes its averages."""
    return None if value is None else round(value, 2)


# The columns both series derive from cumulative counts, as their APIs document them.
CASES = Column("cases", int, "Cumulative cases (NYT).")
DEATHS = Column("deaths", int, "Cumulative deaths (NYT).")
NEW_CASES = Column(
    "new_cases",
    int,
    "Daily new cases: cases minus the previous day's (a place's first day: its cases); "
    "negative when the NYT revised the cumulative count down.",
)
NEW_DEATHS = Column(
    "new_deaths",
    int,
    "Daily new deaths: deaths minus the previous day's (a place's first day: its deaths); "
    "negative when the NYT revised the cumulative count down.",
)
_AVERAGE_RULE = (
    "the NYT's rule: the mean over the 7 days ending on this day, days before the first row "
    "counting as 0, days left out (negative, or an NYT note says so) shrinking the divisor; "
    "null only if all 7 are left out"
)
AVERAGES = (
    Column(
        "new_cases_7d_avg",
        float,
        f"7-day average of new_cases, rounded to 2 decimals, by {_AVERAGE_RULE}.",
        True,
    ),
    Column(
        "new_deaths_7d_avg",
        float,
        f"7-day average of new_deaths, rounded to 2 decimals, by {_AVERAGE_RULE}.",
        True,
    ),
)
OMITTED = (
    Column(
        "new_cases_omitted",
        bool,
        "True when this day's new_cases is left out of the 7-day averages: it is negative, or "
        "an NYT anomaly note (/api/v1/anomalies) leaves it out.",
    ),
    Column(
        "new_deaths_omitted",
        bool,
        "True when this day's new_deaths is left out of the 7-day averages (negative, or an "
        "NYT anomaly note leaves it out).",
    ),
)


def date_column(example: str) -> Column:
    return Column("date", str, "Day, YYYY-MM-DD.", example=example)
