"""/api/v1/anomalies on the NYT's 615 real notes, stored by an offline run: every note, by place
and by overlapping dates, as JSON (flags as booleans, empty as null) and as the NYT's own CSV,
byte for byte; paging, the one error shape, ETags and gzip.

The expected notes are read from the shipped file itself with the csv module, not from the
store. The tests of what the store gives back (every note, the filters, both formats) run on
every backend; the HTTP mechanics (paging, errors, ETags, gzip) on one SQLite client.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import CACHED_PATHS, create_app
from tests.helpers.backends import on_every_backend
from tests.helpers.data import ANOMALIES_CURRENT
from tests.helpers.env import fast_settings
from tests.helpers.loaded import LoadedStores

PATH = "/api/v1/anomalies"
HEADER = (
    "date,end_date,county,state,geoid,type,omit_from_rolling_average,"
    "omit_from_rolling_average_on_subgeographies,description"
)
FLAGS = ("omit_from_rolling_average", "omit_from_rolling_average_on_subgeographies")
WYOMING = (
    "2020-04-09,,,Wyoming,USA-56,cases,yes,,Wyoming began reporting probable cases and deaths."
)
# A note on a range of days: found by a window that starts inside the range, after its date.
OHIO_RANGE = {
    "date": "2021-03-05",
    "end_date": "2021-03-08",
    "county": None,
    "state": "Ohio",
    "geoid": "USA-39",
    "type": "deaths",
    "omit_from_rolling_average": True,
    "omit_from_rolling_average_on_subgeographies": False,
    "description": "Ohio added more than 400 deaths of residents who died out of state.",
}

# The shipped file as published: its text, its lines (no newline at its end) and its notes.
TEXT = ANOMALIES_CURRENT.read_text("utf-8")
LINES = TEXT.split("\n")
PUBLISHED = list(csv.DictReader(io.StringIO(TEXT, newline="")))


def as_json(row: dict[str, str]) -> dict[str, Any]:
    """A published note as the API's JSON should give it: flags as booleans, empty as null."""
    return {
        key: (value == "yes") if key in FLAGS else (value or None) for key, value in row.items()
    }


def overlapping(start: str | None, end: str | None, geoid: str | None = None) -> list[Any]:
    """The published notes whose days [date, end_date or date] meet start..end, in the API's
    order (date, geoid, type), as JSON."""
    found = [
        row
        for row in PUBLISHED
        if (geoid is None or row["geoid"] == geoid)
        and (start is None or (row["end_date"] or row["date"]) >= start)
        and (end is None or row["date"] <= end)
    ]
    found.sort(key=lambda row: (row["date"], row["geoid"], row["type"]))
    return [as_json(row) for row in found]


def get(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get(PATH, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def backend_client(loaded_url: str) -> Iterator[TestClient]:
    """A client over a copy of a store loaded by one offline run, on the test's backend."""
    app = create_app(fast_settings(loaded_url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def client(
    loaded_stores: LoadedStores,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    """One SQLite client for the module's HTTP tests, which only read."""
    url = loaded_stores.sqlite_copy(request, tmp_path_factory.mktemp("anomalies"))
    app = create_app(fast_settings(url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_published_file_has_the_notes_the_tests_count_on() -> None:
    assert LINES[0] == HEADER and WYOMING in LINES
    assert len(PUBLISHED) == len(LINES) - 1 == 615
    assert sum(row["geoid"] == "USA" for row in PUBLISHED) == 23
    assert sum(bool(row["end_date"]) for row in PUBLISHED) == 58
    assert sum(not row["description"] for row in PUBLISHED) == 7
    assert as_json(next(r for r in PUBLISHED if r["end_date"] and r["geoid"] == "USA-39")) == (
        OHIO_RANGE
    )


@on_every_backend
def test_anomalies_give_every_stored_note_as_json_and_as_the_nyt_csv(
    backend_client: TestClient,
) -> None:
    body = get(backend_client)
    assert (body["total"], body["limit"], body["offset"]) == (615, 615, 0)
    assert body["anomalies"] == overlapping(None, None)
    assert list(body["anomalies"][0]) == HEADER.split(",")
    nulls = [n for n in body["anomalies"] if n["description"] is None]
    assert len(nulls) == 7
    flags = {n[flag] for n in body["anomalies"] for flag in FLAGS}
    assert flags == {True, False}  # booleans, never "yes" or null

    response = backend_client.get(PATH, params={"format": "csv"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    lines = response.text.split("\n")
    assert lines[0] == HEADER and lines[-1] == ""
    # Every row byte for byte as the NYT's line for the same note, in the API's order.
    assert sorted(lines[1:-1]) == sorted(LINES[1:])
    assert list(csv.DictReader(io.StringIO(response.text))) == sorted(
        PUBLISHED, key=lambda row: (row["date"], row["geoid"], row["type"])
    )
    assert WYOMING in lines


@on_every_backend
def test_anomalies_filter_by_exact_geoid_and_by_overlapping_dates(
    backend_client: TestClient,
) -> None:
    national = get(backend_client, geoid="USA")
    assert national["total"] == 23
    assert national["anomalies"] == overlapping(None, None, "USA")
    assert {n["geoid"] for n in national["anomalies"]} == {"USA"}

    city = get(backend_client, geoid="USA-36998")
    assert city["total"] == 8
    assert city["anomalies"] == overlapping(None, None, "USA-36998")
    assert {(n["county"], n["state"]) for n in city["anomalies"]} == {("New York City", "New York")}
    # A state's code is not a prefix of its counties'.
    assert get(backend_client, geoid="USA-36")["anomalies"] == overlapping(None, None, "USA-36")

    # Ohio's note on 2021-03-05..2021-03-08 is found from a window starting inside its range.
    inside = get(backend_client, geoid="USA-39", start="2021-03-07", end="2021-03-10")
    assert inside["anomalies"] == [OHIO_RANGE]
    assert OHIO_RANGE in get(backend_client, start="2021-03-08", end="2021-03-08")["anomalies"]
    assert OHIO_RANGE not in get(backend_client, start="2021-03-09")["anomalies"]
    assert OHIO_RANGE not in get(backend_client, end="2021-03-04")["anomalies"]
    for start, end in (("2021-03-07", "2021-03-07"), ("2021-01-01", None), (None, "2020-06-30")):
        params = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
        window = get(backend_client, **params)
        assert window["anomalies"] == overlapping(start, end), params
        assert window["total"] == len(window["anomalies"])


def test_anomalies_page_like_records(client: TestClient) -> None:
    everything = get(client)["anomalies"]
    page = get(client, limit=100, offset=600)
    assert (page["total"], page["limit"], page["offset"]) == (615, 100, 600)
    assert page["anomalies"] == everything[600:]
    window = get(client, geoid="USA", limit=5, offset=2)
    assert (window["total"], window["limit"], window["offset"]) == (23, 5, 2)
    assert window["anomalies"] == overlapping(None, None, "USA")[2:7]
    beyond = get(client, offset=1000)
    assert beyond["anomalies"] == [] and beyond["total"] == 615
    as_csv = client.get(PATH, params={"limit": 2, "offset": 1}, headers={"Accept": "text/csv"})
    assert as_csv.text == "\n".join([HEADER, WYOMING, LINES[3]]) + "\n"
    assert get(client, limit=100_000)["limit"] == 100_000


def test_anomalies_without_a_note_for_a_well_formed_place_are_an_empty_page(
    client: TestClient,
) -> None:
    assert get(client, geoid="USA-99") == {"anomalies": [], "total": 0, "limit": 0, "offset": 0}


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"geoid": "usa"}, "geoid", "expected USA, USA-SS (a state) or USA-SSCCC (a county)"),
        ({"geoid": "USA-6"}, "geoid", "expected USA, USA-SS (a state) or USA-SSCCC (a county)"),
        ({"geoid": "USA-0601"}, "geoid", "expected USA, USA-SS (a state) or USA-SSCCC (a county)"),
        ({"geoid": "36"}, "geoid", "expected USA, USA-SS (a state) or USA-SSCCC (a county)"),
        ({"geoid": "USA-360610"}, "geoid", "String should have at most 9 characters"),
        (
            {"start": "2021-03-10", "end": "2021-03-01"},
            "start",
            "2021-03-10 is after end 2021-03-01",
        ),
        ({"end": "2021-02-29"}, "end", "2021-02-29 is not a calendar date"),
        ({"limit": 100_001}, "limit", "Input should be less than or equal to 100000"),
        ({"limit": 0}, "limit", "Input should be greater than or equal to 1"),
        ({"offset": -1}, "offset", "Input should be greater than or equal to 0"),
        ({"format": "xml"}, "format", "Input should be 'json' or 'csv'"),
    ],
)
def test_anomalies_bad_parameter_is_422_in_the_one_error_shape(
    client: TestClient, params: dict[str, Any], parameter: str, message: str
) -> None:
    for _ in range(2):  # never answered from the cache either
        response = client.get(PATH, params=params)
        assert response.status_code == 422
        value = str(params[parameter])
        assert response.json() == {
            "error": {
                "status": 422,
                "code": "invalid_parameter",
                "message": f"{parameter}: {message}",
                "details": [{"parameter": parameter, "message": message, "value": value}],
            }
        }


def test_anomalies_format_follows_the_parameter_then_accept(client: TestClient) -> None:
    by_accept = client.get(PATH, params={"geoid": "USA"}, headers={"Accept": "text/csv"})
    by_param = client.get(PATH, params={"geoid": "USA", "format": "csv"})
    assert by_accept.text == by_param.text
    assert by_accept.text.startswith(HEADER + "\n")
    assert len(by_accept.text.split("\n")) == 1 + 23 + 1
    forced = client.get(PATH, params={"format": "json"}, headers={"Accept": "text/csv"})
    assert forced.json()["total"] == 615


def test_anomalies_carry_an_etag_answer_304_and_gzip(client: TestClient) -> None:
    first = client.get(PATH, headers={"Accept-Encoding": "identity"})
    assert first.headers["cache-control"] == "public, no-cache"
    assert "content-encoding" not in first.headers
    again = client.get(PATH, headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    zipped = client.get(PATH, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == first.content  # httpx decoded the gzip body
    assert int(zipped.headers["content-length"]) < len(first.content) / 3
    assert zipped.headers["etag"] != first.headers["etag"]
    tags = {
        client.get(PATH, params=params).headers["etag"]
        for params in ({}, {"geoid": "USA"}, {"format": "csv"}, {"start": "2021-01-01"})
    }
    assert len(tags) == 4


def test_anomalies_repeat_request_is_answered_by_the_fast_path(client: TestClient) -> None:
    assert PATH in CACHED_PATHS
    context = client.app.state.context  # type: ignore[attr-defined]
    path = PATH + "?geoid=USA-56&format=csv"
    first = client.get(path)
    context.cache.clear()  # the route's own cache: a request that reaches the route misses it
    misses = context.cache.misses
    again = client.get(path)  # answered from the raw-request cache, before routing
    assert context.cache.misses == misses
    assert (again.status_code, again.content, again.headers) == (200, first.content, first.headers)
    assert WYOMING in again.text.split("\n")


def test_anomalies_operation_is_documented_with_every_field_and_the_error_shape(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"][PATH]["get"]
    assert operation["summary"]
    assert "end_date" in operation["description"]
    names = [p["name"] for p in operation["parameters"]]
    assert names == ["geoid", "start", "end", "limit", "offset", "format"]
    geoid = operation["parameters"][0]
    assert geoid["schema"]["pattern"] == "^USA(-[0-9]{2}([0-9]{3})?)?$"
    assert geoid["description"]
    limit = operation["parameters"][3]["schema"]["anyOf"][0]
    assert limit["maximum"] == 100_000
    responses = operation["responses"]
    assert set(responses) == {"200", "304", "422", "500"}
    error = responses["422"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    assert "text/csv" in responses["200"]["content"]
    schemas = document["components"]["schemas"]
    page = responses["200"]["content"]["application/json"]["schema"]
    assert page == {"$ref": "#/components/schemas/AnomaliesPage"}
    note = schemas["AnomalyOut"]
    assert list(note["properties"]) == HEADER.split(",")
    assert set(note["required"]) == set(HEADER.split(","))
    for name in ("AnomaliesPage", "AnomalyOut"):
        undocumented = [
            k for k, v in schemas[name]["properties"].items() if not v.get("description")
        ]
        assert not undocumented, name
    assert note["properties"]["omit_from_rolling_average"]["type"] == "boolean"
