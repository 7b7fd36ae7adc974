"""Derived columns as pure functions: the NYT's averaging rule on hand-made series, and on every
row of the NYT's own published averages."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict

import pytest

from covid_etl.models import Anomaly, Record, StateRecord
from covid_etl.series.derive import daily_values, day_over_day, left_out_days, nyt_average
from covid_etl.series.national import derived_rows
from covid_etl.series.states import derived_state_rows, parse_population
from covid_etl.sources.anomalies import parse_anomalies
from covid_etl.sources.csv import parse_nyt
from covid_etl.sources.nyt_states import parse_states
from tests.helpers.data import (
    ANOMALIES_CURRENT,
    NYT_2021_07_08,
    POPULATION_REAL,
    ROLLING,
    STATES_REAL,
)

TODAY = dt.date(2026, 1, 1)
D0 = dt.date(2020, 3, 1)


def _days(n: int) -> list[dt.date]:
    return [D0 + dt.timedelta(days=i) for i in range(n)]


def _note(day: dt.date, kind: str, *, end: dt.date | None = None, omit: bool = True) -> Anomaly:
    return Anomaly(day, "USA", kind, end, None, None, "yes" if omit else None, None, "why")


def test_day_over_day_first_value_is_null() -> None:
    assert day_over_day([5, 7, 7, 10]) == [None, 2, 0, 3]


def test_day_over_day_null_on_either_side_is_null() -> None:
    assert day_over_day([1, None, 3, 4]) == [None, None, None, 1]


def test_daily_values_count_the_first_day_from_zero() -> None:
    assert daily_values([5, 7, 7, 4]) == [5, 2, 0, -3]


def test_average_counts_days_before_the_first_row_as_zero() -> None:
    out = nyt_average(_days(3), [1, 0, 6])
    assert out.averages == [1 / 7, 1 / 7, 1.0]
    assert out.left_out == [False, False, False]


def test_a_negative_day_is_left_out_and_the_divisor_shrinks() -> None:
    out = nyt_average(_days(7), [7, 7, 7, -14, 7, 7, 7])
    assert out.left_out[3] is True
    assert out.averages[6] == 42 / 6  # six days counted
    assert min(a for a in out.averages if a is not None) >= 0


def test_a_noted_day_is_left_out_of_its_measure_only() -> None:
    days = _days(8)
    spike = [1, 1, 1, 1, 1, 1, 1, 701]
    notes = [_note(days[7], "cases")]
    cases = nyt_average(days, spike, left_out_days(notes, "cases"))
    deaths = nyt_average(days, spike, left_out_days(notes, "deaths"))
    assert cases.averages[7] == 1.0 and cases.left_out[7]
    assert deaths.averages[7] == pytest.approx(707 / 7) and not deaths.left_out[7]


def test_a_note_of_both_with_an_end_date_covers_its_range() -> None:
    days = _days(10)
    notes = [_note(days[2], "both", end=days[4]), _note(days[8], "cases", omit=False)]
    assert left_out_days(notes, "deaths") == {days[2], days[3], days[4]}
    assert left_out_days(notes, "cases") == {days[2], days[3], days[4]}


def test_a_gap_counts_as_a_day_of_zero() -> None:
    days = [D0, D0 + dt.timedelta(days=3)]
    assert nyt_average(days, [7, 14]).averages == [1.0, 3.0]


def test_a_window_with_every_day_left_out_has_no_average() -> None:
    days = _days(14)
    notes = [_note(days[7], "cases", end=days[13])]
    out = nyt_average(days, [1] * 14, left_out_days(notes, "cases"))
    # Days before the first row count as 0 and are never left out: day one's window has six.
    assert out.averages[0] == 1 / 7 and out.averages[6] == 1.0
    assert out.averages[13] is None


def _records(*values: tuple[int, int, int | None]) -> list[Record]:
    return [Record(D0 + dt.timedelta(days=i), *v) for i, v in enumerate(values)]


def test_derived_rows_empty_series_is_empty() -> None:
    assert derived_rows([]) == []


def test_derived_rows_null_recovered_gives_null_new_recovered() -> None:
    rows = derived_rows(_records((1, 0, 5), (3, 1, None), (6, 1, None)))
    assert [r["new_recovered"] for r in rows] == [None, None, None]
    assert [r["new_cases"] for r in rows] == [1, 2, 3]
    assert rows[1]["recovered"] is None


# -- every row of the NYT's own published averages (vintage 2021-07-08) --------------------------


def _published(name: str) -> dict[tuple[str, str], dict[str, str]]:
    with (ROLLING / name).open(newline="") as f:
        return {(row["geoid"], row["date"]): row for row in csv.DictReader(f)}


def _notes_by_place() -> dict[str, list[Anomaly]]:
    by_place: dict[str, list[Anomaly]] = defaultdict(list)
    for note in parse_anomalies(ANOMALIES_CURRENT.read_text(), today=TODAY):
        by_place[note.geoid].append(note)
    return by_place


def _assert_row(ours: dict[str, object], theirs: dict[str, str], per_100k: bool) -> None:
    pairs = [("new_cases", "cases"), ("new_deaths", "deaths")]
    pairs += [("new_cases_7d_avg", "cases_avg"), ("new_deaths_7d_avg", "deaths_avg")]
    if per_100k:
        pairs += [
            ("new_cases_7d_avg_per_100k", "cases_avg_per_100k"),
            ("new_deaths_7d_avg_per_100k", "deaths_avg_per_100k"),
        ]
    for field, column in pairs:
        assert ours[field] == pytest.approx(float(theirs[column]), abs=1e-9), (
            f"{theirs['geoid']} {theirs['date']} {field}: ours {ours[field]}, NYT {theirs[column]}"
        )


def test_national_averages_equal_the_nyts_on_every_day() -> None:
    published = _published("us.csv")
    rows = [Record(r.date, r.cases, r.deaths, None) for r in
            parse_nyt(NYT_2021_07_08.read_text(), today=TODAY)]  # fmt: skip
    ours = derived_rows(rows, _notes_by_place()["USA"])
    assert len(ours) == len(published) == 535
    for row in ours:
        _assert_row(row, published[("USA", str(row["date"]))], per_100k=False)
        assert row["new_cases_7d_avg"] >= 0 and row["new_deaths_7d_avg"] >= 0


# The NYT used other population figures than Census 2019 for these in this vintage, and has
# per-100k figures for three territories with no Census 2019 estimate (docs/how-it-works.md).
OTHER_POPULATION = {"13", "72", "66", "69", "78"}


def test_state_averages_equal_the_nyts_on_every_state_day() -> None:
    published = _published("us-states.csv")
    census = parse_population(POPULATION_REAL.read_text())
    notes = _notes_by_place()
    by_fips: dict[str, list[StateRecord]] = defaultdict(list)
    for record in parse_states(STATES_REAL.read_text(), today=TODAY):
        by_fips[record.fips].append(record)
    compared = 0
    for fips, rows in by_fips.items():
        geoid = f"USA-{fips}"
        ours = derived_state_rows(rows, census[fips].population, notes.get(geoid, []))
        for row in ours:
            _assert_row(row, published[(geoid, str(row["date"]))], fips not in OTHER_POPULATION)
            assert row["new_cases_7d_avg"] is not None and row["new_cases_7d_avg"] >= 0
            assert row["new_deaths_7d_avg"] is not None and row["new_deaths_7d_avg"] >= 0
            compared += 1
    assert compared == len(published) == 27_129
