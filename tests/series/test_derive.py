"""Derived columns as pure functions, on hand-made series."""

from __future__ import annotations

import datetime as dt

from covid_etl.models import Record
from covid_etl.series.derive import day_over_day, trailing_average
from covid_etl.series.national import derived_rows


def test_day_over_day_first_value_is_null() -> None:
    assert day_over_day([5, 7, 7, 10]) == [None, 2, 0, 3]


def test_day_over_day_null_on_either_side_is_null() -> None:
    assert day_over_day([1, None, 3, 4]) == [None, None, None, 1]


def test_day_over_day_decrease_is_negative() -> None:
    assert day_over_day([10, 8]) == [None, -2]


def test_trailing_average_null_until_seven_values() -> None:
    values: list[int | None] = [None, 1, 2, 3, 4, 5, 6, 7, 8]
    out = trailing_average(values)
    assert out[:7] == [None] * 7
    assert out[7] == 4.0
    assert out[8] == 5.0


def test_trailing_average_null_inside_window_restarts() -> None:
    values: list[int | None] = [1] * 7 + [None] + [2] * 7
    out = trailing_average(values)
    assert out[6] == 1.0
    assert out[7:14] == [None] * 7
    assert out[14] == 2.0


def test_trailing_average_rounds_to_two_decimals() -> None:
    assert trailing_average([1, 0, 0, 0, 0, 0, 0])[6] == 0.14


def _records(*values: tuple[int, int, int | None]) -> list[Record]:
    start = dt.date(2020, 3, 1)
    return [Record(start + dt.timedelta(days=i), *v) for i, v in enumerate(values)]


def test_derived_rows_empty_series_is_empty() -> None:
    assert derived_rows([]) == []


def test_derived_rows_null_recovered_gives_null_new_recovered() -> None:
    rows = derived_rows(_records((1, 0, 5), (3, 1, None), (6, 1, None)))
    assert [r["new_recovered"] for r in rows] == [None, None, None]
    assert [r["new_cases"] for r in rows] == [None, 2, 3]
    assert rows[1]["recovered"] is None
