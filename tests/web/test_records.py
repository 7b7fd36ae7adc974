"""/api/v1/records on the real 1100-row data: values, derived columns, formats, filters, paging."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers.data import ANOMALIES_CURRENT, JHU_CURRENT, NYT_CURRENT
from tests.helpers.env import fast_settings
from tests.helpers.loaded import LoadedStores
from tests.helpers.reference import expected_csv, expected_rows

EXPECTED = expected_rows(NYT_CURRENT, JHU_CURRENT)


@pytest.fixture(scope="module")
def client(
    loaded_stores: LoadedStores,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    """One client for the module, over a store after one offline run: every test here only
    reads."""
    url = loaded_stores.sqlite_copy(request, tmp_path_factory.mktemp("records"))
    app = create_app(fast_settings(url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _all(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/records", params={"format": "json", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _diff(values: list[int | None]) -> list[int | None]:
    out: list[int | None] = [None]
    for prev, cur in itertools.pairwise(values):
        out.append(None if prev is None or cur is None else cur - prev)
    return out


def _daily(values: list[int]) -> list[int]:
    """A place's first day counts from 0."""
    return [cur - prev for prev, cur in itertools.pairwise([0, *values])]


def _left_out(measure: str) -> set[str]:
    """The national days the NYT's notes leave out of ``measure``'s average (read plainly)."""
    days: set[str] = set()
    with ANOMALIES_CURRENT.open(newline="") as f:
        for note in csv.DictReader(f):
            if note["geoid"] != "USA" or note["omit_from_rolling_average"] != "yes":
                continue
            if note["type"] not in (measure, "both"):
                continue
            day = dt.date.fromisoformat(note["date"])
            last = dt.date.fromisoformat(note["end_date"] or note["date"])
            while day <= last:
                days.add(day.isoformat())
                day += dt.timedelta(days=1)
    return days


def _nyt_avg7(dates: list[str], daily: list[int], left_out: set[str]) -> list[float]:
    """The NYT's rule on a series without gaps: the 7 days ending on each day, days before the
    first counting as 0, negative or noted days left out of the mean."""
    out = []
    for i in range(len(daily)):
        kept = [0] * max(0, 6 - i)  # the days before the first row
        for j in range(max(0, i - 6), i + 1):
            if daily[j] >= 0 and dates[j] not in left_out:
                kept.append(daily[j])
        out.append(round(sum(kept) / len(kept), 2))
    return out


def test_records_all_rows_equal_the_reference(client: TestClient) -> None:
    body = _all(client)
    assert (body["total"], body["limit"], body["offset"]) == (1100, 1100, 0)
    got = [(r["date"], r["cases"], r["deaths"], r["recovered"]) for r in body["records"]]
    assert got == EXPECTED


def test_records_derived_columns_match_an_independent_computation(client: TestClient) -> None:
    rows = _all(client)["records"]
    dates = [r[0] for r in EXPECTED]
    new_cases = _daily([r[1] for r in EXPECTED])
    new_deaths = _daily([r[2] for r in EXPECTED])
    assert [r["new_cases"] for r in rows] == new_cases
    assert [r["new_deaths"] for r in rows] == new_deaths
    assert [r["new_recovered"] for r in rows] == _diff([r[3] for r in EXPECTED])
    cases_out, deaths_out = _left_out("cases"), _left_out("deaths")
    assert [r["new_cases_7d_avg"] for r in rows] == _nyt_avg7(dates, new_cases, cases_out)
    assert [r["new_deaths_7d_avg"] for r in rows] == _nyt_avg7(dates, new_deaths, deaths_out)
    assert [r["new_cases_omitted"] for r in rows] == [
        v < 0 or d in cases_out for d, v in zip(dates, new_cases, strict=True)
    ]
    assert [r["new_deaths_omitted"] for r in rows] == [
        v < 0 or d in deaths_out for d, v in zip(dates, new_deaths, strict=True)
    ]
    # The NYT left out real days (a noted backlog, a negative day) and no average is negative.
    assert sum(r["new_deaths_omitted"] for r in rows) > 5
    assert min(r["new_cases_7d_avg"] for r in rows) >= 0


def test_records_first_day_counts_from_zero_as_the_nyt_does(client: TestClient) -> None:
    """The NYT's first day (2020-01-21), which JHU lacks: its new cases are its cases, its
    average counts the six days before as 0 (the NYT publishes 0.14), recovered is null."""
    first = _all(client, limit=1)["records"][0]
    assert first == {
        "date": "2020-01-21",
        "cases": 1,
        "deaths": 0,
        "recovered": None,
        "new_cases": 1,
        "new_deaths": 0,
        "new_recovered": None,
        "new_cases_7d_avg": 0.14,
        "new_deaths_7d_avg": 0.0,
        "new_cases_omitted": False,
        "new_deaths_omitted": False,
    }


def test_records_seven_day_average_has_a_value_from_the_first_day(client: TestClient) -> None:
    rows = _all(client, limit=10)["records"]
    assert all(isinstance(r["new_cases_7d_avg"], int | float) for r in rows)
    expected = round(sum(r["new_cases"] for r in rows[1:8]) / 7, 2)
    assert rows[7]["new_cases_7d_avg"] == expected


def test_records_recovered_null_after_reporting_stops(client: TestClient) -> None:
    rows = _all(client, start="2020-12-12", end="2020-12-15")["records"]
    assert [r["recovered"] is None for r in rows] == [False, False, True, True]
    assert rows[1]["new_recovered"] is not None
    assert rows[2]["new_recovered"] is None  # the day after the last report
    assert rows[3]["new_recovered"] is None
    assert all(isinstance(r["new_cases"], int) for r in rows)


def test_records_window_first_row_has_full_series_values(client: TestClient) -> None:
    full = {r["date"]: r for r in _all(client)["records"]}
    window = _all(client, start="2021-01-01", end="2021-01-31")
    assert window["total"] == 31
    assert window["records"][0] == full["2021-01-01"]
    assert window["records"][0]["new_cases"] is not None
    paged = _all(client, limit=5, offset=400)["records"]
    assert paged == [full[d] for d in sorted(full)[400:405]]


def test_records_pages_concatenate_to_the_full_series(client: TestClient) -> None:
    full = _all(client)["records"]
    pages = []
    for offset in range(0, 1200, 100):
        page = _all(client, limit=100, offset=offset)
        assert (page["total"], page["limit"], page["offset"]) == (1100, 100, offset)
        pages.extend(page["records"])
    assert pages == full


def test_records_offset_past_the_end_is_empty(client: TestClient) -> None:
    body = _all(client, offset=5000)
    assert body["records"] == [] and body["total"] == 1100


def test_records_range_outside_the_data_is_empty(client: TestClient) -> None:
    body = _all(client, start="2019-01-01", end="2019-12-31")
    assert body["records"] == [] and body["total"] == 0


def test_records_single_day_range_is_one_row(client: TestClient) -> None:
    body = _all(client, start="2021-06-15", end="2021-06-15")
    assert [r["date"] for r in body["records"]] == ["2021-06-15"]


def test_records_csv_agrees_with_json(client: TestClient) -> None:
    rows = _all(client)["records"]
    response = client.get("/api/v1/records?format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(response.text)))
    assert len(parsed) == len(rows) == 1100
    for got, want in zip(parsed, rows, strict=True):
        assert got == {k: _csv_cell(v) for k, v in want.items()}


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_records_csv_base_columns_equal_the_export(client: TestClient) -> None:
    text = client.get("/api/v1/records?format=csv").text
    base = [",".join(line.split(",")[:4]) for line in text.splitlines()]
    assert "\n".join(base) + "\n" == expected_csv(NYT_CURRENT, JHU_CURRENT)


def test_records_accept_text_csv_returns_csv(client: TestClient) -> None:
    response = client.get("/api/v1/records?limit=2", headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines()[1].startswith("2020-01-21,1,0,,1,0,,0.14,")


def test_records_format_parameter_wins_over_accept(client: TestClient) -> None:
    response = client.get("/api/v1/records?format=json&limit=1", headers={"Accept": "text/csv"})
    assert response.json()["records"][0]["date"] == "2020-01-21"


def test_records_numbers_are_json_numbers(client: TestClient) -> None:
    for row in _all(client)["records"]:
        for key, value in row.items():
            if key == "date":
                assert isinstance(value, str)
            elif key.endswith("_omitted"):
                assert isinstance(value, bool)
            else:
                assert value is None or (isinstance(value, int | float) and value is not True)


BAD_PARAMETERS = [
    ("start", {"start": "2020-13-01"}),
    ("start", {"start": "2021-02-29"}),
    ("start", {"start": "2020-02-30"}),
    ("start", {"start": "yesterday"}),
    ("end", {"end": "2020-1-5"}),
    ("end", {"end": "2020-01-05T00:00"}),
    ("start", {"start": "2021-01-02", "end": "2021-01-01"}),
    ("format", {"format": "xml"}),
    ("limit", {"limit": "0"}),
    ("limit", {"limit": "-3"}),
    ("limit", {"limit": "100001"}),
    ("limit", {"limit": "ten"}),
    ("offset", {"offset": "-1"}),
    ("offset", {"offset": "1.5"}),
]


@pytest.mark.parametrize(("parameter", "params"), BAD_PARAMETERS)
def test_records_bad_parameter_is_422_with_the_error_shape(
    client: TestClient, parameter: str, params: dict[str, str]
) -> None:
    response = client.get("/api/v1/records", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"status", "code", "message", "details"}
    assert (error["status"], error["code"]) == (422, "invalid_parameter")
    assert parameter in error["message"]
    assert error["details"][0]["parameter"] == parameter


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_runs_bad_limit_is_422_with_the_error_shape(client: TestClient, limit: str) -> None:
    response = client.get("/api/v1/runs", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["parameter"] == "limit"
