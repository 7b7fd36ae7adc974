"""``/covid_data`` read the way the original React front-end reads it.

That front-end parses every field of every row (``parseInt`` for counts and diffs,
``parseFloat`` for logarithms) and sums ``parseInt(row["<x>-diff"])`` per month for its bar
charts. The helpers below reproduce JavaScript's semantics on the JSON values, so a null, which
JavaScript turns into the string "null", becomes NaN exactly as it did in the browser.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from typing import Any

from fastapi.testclient import TestClient

from covid_etl.models import Record
from covid_etl.publish.original import LEGACY_COLUMNS, covid_data_rows, last_modified_text

NAN = float("nan")
_INT_PREFIX = re.compile(r"^[+-]?[0-9]+")
_FLOAT_PREFIX = re.compile(r"^[+-]?(Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)")
COUNTS = ("cases", "deaths", "recoveries")


def js_string(value: Any) -> str:
    """``String(value)`` for a value JSON.parse produced."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))  # JavaScript prints 6.0 as "6"
    return str(value)


def parse_int(value: Any) -> float:
    """JavaScript ``parseInt(value)`` (base 10): the leading integer, or NaN."""
    match = _INT_PREFIX.match(js_string(value).lstrip())
    return float(int(match.group())) if match else NAN


def parse_float(value: Any) -> float:
    """JavaScript ``parseFloat(value)``: the leading decimal literal, or NaN."""
    match = _FLOAT_PREFIX.match(js_string(value).lstrip())
    return float(match.group().replace("Infinity", "inf")) if match else NAN


def monthly_sums(rows: list[dict[str, Any]], column: str) -> dict[str, float]:
    """What the front-end's bar charts draw: the month's sum of the parsed diffs."""
    sums: dict[str, float] = defaultdict(float)
    for row in rows:
        sums[row["date"][:7]] += parse_int(row[column])
    return dict(sums)


def test_js_parsing_helpers_follow_javascript() -> None:
    assert math.isnan(parse_int(None)) and math.isnan(parse_float(None))
    assert parse_int("-6298082") == -6298082 and parse_int(12.9) == 12
    assert parse_float(0) == 0 and parse_float(1.5) == 1.5 and parse_float("2e3x") == 2000


def test_covid_data_parses_without_nan_in_every_field_of_every_row(client: TestClient) -> None:
    rows = client.get("/covid_data").json()["data"]
    assert len(rows) == 816
    for row in rows:
        assert list(row) == list(LEGACY_COLUMNS)
        assert None not in row.values(), row
        for column in (*COUNTS, "date-diff", "cases-diff", "deaths-diff", "recoveries-diff"):
            assert not math.isnan(parse_int(row[column])), (row["date"], column)
        for column in ("cases-log", "deaths-log", "recoveries-log"):
            assert math.isfinite(parse_float(row[column])), (row["date"], column)


def test_covid_data_monthly_diff_sums_match_the_cumulative_series(client: TestClient) -> None:
    rows = client.get("/covid_data").json()["data"]
    # The original's rows are the dates of both sources (to JHU's last day, 2022-04-16).
    stored = client.get("/api/v1/records?start=2020-01-22&end=2022-04-16").json()["records"]
    by_month_end: dict[str, dict[str, Any]] = {}
    for record in stored:
        by_month_end[record["date"][:7]] = record  # the month's last stored day
    months = sorted(by_month_end)
    assert months[0] == "2020-01" and months[-1] == "2022-04"
    stored_names = {"cases": "cases", "deaths": "deaths", "recoveries": "recovered"}
    for column, name in stored_names.items():
        sums = monthly_sums(rows, f"{column}-diff")
        assert list(sums) == months
        before = stored[0][name] or 0  # the first row's diff is 0: sums start from it
        for month in months:
            end = by_month_end[month][name] or 0  # unreported recoveries count as 0
            assert sums[month] == end - before, (column, month)
            before = end
        assert sum(sums.values()) == (stored[-1][name] or 0) - (stored[0][name] or 0)


def test_covid_data_follows_the_original_values(client: TestClient) -> None:
    body = client.get("/covid_data").json()
    rows = {row["date"]: row for row in body["data"]}
    first = body["data"][0]
    assert first["date"] == "2020-01-22"
    assert [first[c] for c in ("date-diff", "cases-diff", "deaths-diff", "recoveries-diff")] == [
        0,
        0,
        0,
        0,
    ]
    assert (first["month"], first["day_of_week"]) == ("January", "Wednesday")
    assert first["deaths-log"] == 0  # log of 0 is undefined: the original wrote 0
    assert rows["2020-12-14"]["recoveries-diff"] == -6298082
    assert rows["2020-12-14"]["recoveries"] == 0 and rows["2020-12-14"]["recoveries-log"] == 0
    assert rows["2020-12-13"]["recoveries"] == 6298082
    assert math.isclose(rows["2020-12-13"]["recoveries-log"], math.log(6298082))
    assert {row["date-diff"] for row in body["data"][1:]} == {1}
    assert (
        rows["2022-04-16"]["month"] == "April" and rows["2022-04-16"]["day_of_week"] == "Saturday"
    )
    last_run = client.get("/api/v1/summary").json()["last_run"]
    finished = dt.datetime.fromisoformat(last_run["finished_at"])
    assert body["last_modified_date"] == finished.astimezone(dt.UTC).strftime("%m/%d/%Y, %H:%M:%S")
    assert re.fullmatch(r"\d\d/\d\d/\d{4}, \d\d:\d\d:\d\d", body["last_modified_date"])


def test_covid_data_rows_is_a_pure_function_of_the_records() -> None:
    records = [
        Record(dt.date(2020, 3, 1), 1, 0, None),
        Record(dt.date(2020, 3, 2), 3, 1, 5),
        Record(dt.date(2020, 3, 5), 4, 2, None),  # a gap of 3 days; recoveries unreported
    ]
    rows = covid_data_rows(records)
    assert [r["date-diff"] for r in rows] == [0, 1, 3]
    assert [r["recoveries"] for r in rows] == [0, 5, 0]
    assert [r["recoveries-diff"] for r in rows] == [0, 5, -5]
    assert [r["cases-diff"] for r in rows] == [0, 2, 1]
    assert [r["recoveries-log"] for r in rows] == [0, math.log(5), 0]
    assert rows[0]["month"] == "March" and rows[0]["day_of_week"] == "Sunday"
    assert covid_data_rows(records) == rows  # same input, same output
    moment = dt.datetime(2022, 4, 17, 23, 5, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert last_modified_text(moment) == "04/17/2022, 21:05:09"
