"""A run's warnings as a reader takes them in: each national one as it is, the per-state
decreases summed up in two lines. Pure.

A run record keeps its warnings as text, exactly as the run wrote them: stored with the run,
served by the API and ``covid-etl runs --json``, and listed in full at the end of a notification
or by ``covid-etl run --verbose``. This module only changes how they are shown. It recognises a
per-state decrease warning by reading its text back with ``series.states.parse_falls``, the
inverse of the function that wrote it; any other warning is shown as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from covid_etl.series.states import Fall, StateFalls, parse_falls

# Fewer per-state warnings than this are shown as they are: two summary lines would not be
# shorter.
FOLD_FROM = 3
# The places with the most decreases that the summary names.
NAMED_PLACES = 3
COLUMNS = ("cases", "deaths")


class Folded(NamedTuple):
    """A run's warnings split for display."""

    shown: list[str]  # to show as they are, in the run's order
    summary: list[str]  # the lines that stand for ``folded`` (none when nothing was folded)
    folded: list[str]  # the per-state decrease warnings, in the run's order


def fold_warnings(warnings: Sequence[str]) -> Folded:
    """Split ``warnings`` into those shown as they are and the per-state decreases, summed up
    when there are at least :data:`FOLD_FROM` of them."""
    read = [(text, parse_falls(text)) for text in warnings]
    states = [state for _, state in read if state is not None]
    if len(states) < FOLD_FROM:
        return Folded(list(warnings), [], [])
    return Folded(
        shown=[text for text, state in read if state is None],
        summary=summary_lines(states),
        folded=[text for text, state in read if state is not None],
    )


def summary_lines(states: Sequence[StateFalls]) -> list[str]:
    """Two lines on the per-state decreases: how many in each column and where, then the
    largest in each column (each warning names its state's largest, listed or not)."""
    times = {column: 0 for column in COLUMNS}
    places = {column: 0 for column in COLUMNS}
    largest: dict[str, tuple[StateFalls, Fall]] = {}
    for state in states:
        for falls in state.columns:
            times[falls.column] += falls.days
            places[falls.column] += 1
            top = largest.get(falls.column)
            if top is None or falls.largest.drop > top[1].drop:
                largest[falls.column] = (state, falls.largest)
    by_column = ", ".join(
        f"{column} {times[column]} times in {places[column]}" for column in COLUMNS if times[column]
    )
    # A stable sort: places with as many decreases keep their fips order.
    most = sorted(states, key=lambda s: -sum(f.days for f in s.columns))[:NAMED_PLACES]
    named = ", ".join(f"{s.name} ({sum(f.days for f in s.columns)})" for s in most)
    biggest = "; ".join(
        _largest(column, *largest[column]) for column in COLUMNS if column in largest
    )
    return [
        f"states: cumulative values decrease {sum(times.values())} times in {len(states)} "
        f"place(s): {by_column}; most in {named}",
        f"states: largest decreases: {biggest}",
    ]


def _largest(column: str, state: StateFalls, fall: Fall) -> str:
    return (
        f"{column} -{fall.drop:,} in {state.name} on {fall.date.isoformat()} "
        f"({fall.before} -> {fall.after})"
    )


__all__ = ["Folded", "fold_warnings", "summary_lines"]
