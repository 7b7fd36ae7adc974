"""Derived columns, computed from the stored cumulative series and nothing else.

Pure functions over a list of :class:`~covid_etl.models.Record` in date order. They always run
over the *full* series and the API slices afterwards, so the first row of a filtered or paged
window still gets its true day-over-day value instead of a null.
"""

from __future__ import annotations

from collections.abc import Sequence

from covid_etl.series.spec import Column

WINDOW = 7


def day_over_day(values: Sequence[int | None]) -> list[int | None]:
    """``values[i] - values[i-1]``; null for the first value or where either side is null."""
    out: list[int | None] = [None] * len(values)
    for i in range(1, len(values)):
        current, previous = values[i], values[i - 1]
        if current is not None and previous is not None:
            out[i] = current - previous
    return out


def trailing_average(values: Sequence[int | None], window: int = WINDOW) -> list[float | None]:
    """Mean of the last ``window`` values; null until ``window`` consecutive non-null values
    exist (a null inside the window makes the average null rather than silently shorter)."""
    out: list[float | None] = [None] * len(values)
    total = 0
    run = 0  # length of the current streak of non-null values ending at i
    for i, value in enumerate(values):
        if value is None:
            run, total = 0, 0
            continue
        run += 1
        total += value
        if run > window:
            dropped = values[i - window]
            assert dropped is not None  # inside the streak
            total -= dropped
        if run >= window:
            out[i] = round(total / window, 2)
    return out


# The columns both series derive from cumulative counts, as their APIs document them.
CASES = Column("cases", int, "Cumulative cases (NYT).")
DEATHS = Column("deaths", int, "Cumulative deaths (NYT).")
NEW_CASES = Column("new_cases", int, "Cases minus the previous day's; null on day one.", True)
NEW_DEATHS = Column("new_deaths", int, "Deaths minus the previous day's.", True)
AVERAGES = (
    Column("new_cases_7d_avg", float, "Mean of the last 7 daily new_cases.", True),
    Column("new_deaths_7d_avg", float, "Mean of the last 7 daily new_deaths.", True),
)


def date_column(example: str) -> Column:
    return Column("date", str, "Day, YYYY-MM-DD.", example=example)
