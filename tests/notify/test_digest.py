"""Folding a run's warnings for display, on the warnings the real snapshot gives: the per-state
decreases are read back from their text and summed up; every other warning is left as it is."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from covid_etl.models import StateRecord
from covid_etl.notify.digest import FOLD_FROM, fold_warnings
from covid_etl.series.national import join_sources
from covid_etl.series.states import (
    ColumnFalls,
    Fall,
    StateFalls,
    decrease_warnings,
    format_falls,
    parse_falls,
    state_falls,
)
from covid_etl.sources.csv import parse_jhu, parse_nyt
from covid_etl.sources.nyt_states import parse_states
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT, STATES_REAL

TODAY = dt.date(2023, 2, 1)


def state_rows() -> list[StateRecord]:
    return parse_states(STATES_REAL.read_text(), today=TODAY)


def national_warnings() -> list[str]:
    nyt = parse_nyt(NYT_CURRENT.read_text(), today=TODAY)
    return join_sources(nyt, parse_jhu(JHU_CURRENT.read_text(), today=TODAY)).warnings


def test_every_real_per_state_warning_reads_back_into_what_wrote_it() -> None:
    rows = state_rows()
    warnings = decrease_warnings(rows)
    assert len(warnings) == 43
    assert [parse_falls(text) for text in warnings] == state_falls(rows)
    assert [parse_falls(text) for text in national_warnings()] == [None] * 5


def test_real_warnings_fold_into_two_lines_whose_figures_come_from_the_rows() -> None:
    rows = state_rows()
    national, per_state = national_warnings(), decrease_warnings(rows)
    # The figures, counted straight from the rows: every day a state's value is below the
    # day before's, per column.
    falls: dict[str, list[tuple[int, str, dt.date]]] = {"cases": [], "deaths": []}
    previous: dict[str, StateRecord] = {}
    for row in sorted(rows, key=lambda r: (r.fips, r.date)):
        before = previous.get(row.fips)
        for column in falls:
            if before is not None and getattr(row, column) < getattr(before, column):
                drop = getattr(before, column) - getattr(row, column)
                falls[column].append((drop, row.name, row.date))
        previous[row.fips] = row
    places = {name for column in falls.values() for _, name, _ in column}
    in_cases = {name for _, name, _ in falls["cases"]}
    in_deaths = {name for _, name, _ in falls["deaths"]}
    assert (len(falls["cases"]), len(in_cases), len(falls["deaths"]), len(in_deaths)) == (
        37, 25, 152, 37
    )  # fmt: skip
    per_place = Counter(name for column in falls.values() for _, name, _ in column)
    assert per_place.most_common(3) == [("Kansas", 17), ("Nebraska", 15), ("Arizona", 14)]
    biggest = {column: max(found) for column, found in falls.items()}
    assert [(d, n, str(day)) for d, n, day in biggest.values()] == [
        (40527, "Florida", "2021-06-04"), (598, "Ohio", "2021-03-02")
    ]  # fmt: skip

    folded = fold_warnings(national + per_state)

    assert folded.shown == national and folded.folded == per_state
    assert folded.summary == [
        f"states: cumulative values decrease 189 times in {len(places)} place(s): cases 37 times "
        "in 25, deaths 152 times in 37; most in Kansas (17), Nebraska (15), Arizona (14)",
        "states: largest decreases: cases -40,527 in Florida on 2021-06-04 "
        "(2329859 -> 2289332); deaths -598 in Ohio on 2021-03-02 (17348 -> 16750)",
    ]
    assert len(places) == 43


def test_fewer_per_state_warnings_than_the_threshold_are_shown_as_they_are() -> None:
    warnings = ["JHU ends on ...", *decrease_warnings(state_rows())[: FOLD_FROM - 1]]
    assert fold_warnings(warnings) == (warnings, [], [])


def test_text_that_does_not_write_back_to_itself_is_never_folded() -> None:
    real = decrease_warnings(state_rows())
    odd = [
        # Two days counted, one listed and no "and 1 more": not what the writer writes.
        "states: Maine (23): cumulative deaths decrease on 2 day(s): 2020-08-04 (124 -> 123)",
        # A column the per-state series does not have.
        "states: Maine (23): cumulative recovered decrease on 1 day(s): 2020-08-04 (124 -> 123)",
        # Another kind of warning about the states.
        "states: Maine (23): cumulative deaths stay flat for 30 day(s)",
    ]
    assert [parse_falls(text) for text in odd] == [None, None, None]

    folded = fold_warnings([*odd, *real])

    assert folded.shown == odd and folded.folded == real


def falls(column: str, *found: Fall) -> ColumnFalls:
    """A column's falls as the warning producer records them (the first three listed)."""
    return ColumnFalls(column, len(found), found[:3], max(found, key=lambda f: f.drop))


def test_largest_is_the_largest_drop_not_the_largest_value() -> None:
    day = dt.date(2021, 1, 5)
    big_state = StateFalls("Big", "01", (falls("cases", Fall(day, 900_000, 899_990)),))
    small = StateFalls("Small", "02", (falls("cases", Fall(day, 500, 100)),))
    third = StateFalls("Third", "04", (falls("cases", Fall(day, 50, 49)),))

    folded = fold_warnings([format_falls(s) for s in (big_state, small, third)])

    assert folded.summary[1] == (
        "states: largest decreases: cases -400 in Small on 2021-01-05 (500 -> 100)"
    )


def test_largest_counts_a_fall_the_warning_does_not_list() -> None:
    """A warning spells out a state's first three falls per column; a larger later one is named
    after them, read back, and is the summary's largest."""
    d = [dt.date(2021, 3, k) for k in range(1, 6)]
    deaths = falls(
        "deaths", Fall(d[0], 10, 9), Fall(d[1], 9, 8), Fall(d[2], 8, 7), Fall(d[4], 99, 9)
    )
    late = StateFalls("Late", "01", (deaths,))
    other = StateFalls("Other", "02", (falls("deaths", Fall(d[0], 50, 10)),))
    third = StateFalls("Third", "04", (falls("cases", Fall(d[0], 5, 4)),))
    text = format_falls(late)
    assert text == (
        "states: Late (01): cumulative deaths decrease on 4 day(s): 2021-03-01 (10 -> 9), "
        "2021-03-02 (9 -> 8), 2021-03-03 (8 -> 7) and 1 more, the largest 2021-03-05 (99 -> 9)"
    )
    assert parse_falls(text) == late

    folded = fold_warnings([text, format_falls(other), format_falls(third)])

    assert folded.summary[1] == (
        "states: largest decreases: cases -1 in Third on 2021-03-01 (5 -> 4); "
        "deaths -90 in Late on 2021-03-05 (99 -> 9)"
    )


def test_the_producer_names_the_largest_fall_of_all_days() -> None:
    """On the real file: California's deaths fell most on 2021-07-02, past the three falls its
    warning lists; the warning names it."""
    california = next(s for s in state_falls(state_rows()) if s.fips == "06")
    deaths = next(c for c in california.columns if c.column == "deaths")
    assert deaths.largest not in deaths.listed
    assert deaths.largest == Fall(dt.date(2021, 7, 2), 63709, 63257)
