"""/api/v1/runs/{id}/changes and /api/v1/changes on the real 2021-06-15 -> 2021-06-16 revision,
on every backend: values, paging, CSV, the one error shape, ETags."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from covid_etl.run.pipeline import run_etl
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers.data import jhu_history, nyt_history, serve_real
from tests.helpers.env import fast_settings
from tests.helpers.reference import expected_rows
from tests.helpers.servers import SourceServer


def values(day: str) -> dict[str, dict[str, int | None]]:
    rows = expected_rows(nyt_history(day), jhu_history(day))
    return {d: {"cases": c, "deaths": de, "recovered": r} for d, c, de, r in rows}


@pytest.fixture
def revised(database_url: str, source_server: SourceServer) -> Iterator[TestClient]:
    """Run 1 loads 2021-06-15 (512 rows), run 2 revises it with 2021-06-16 (17 entries)."""
    for day in ("2021-06-15", "2021-06-16"):
        urls = serve_real(source_server, nyt_history(day), jhu_history(day))
        assert run_etl(fast_settings(database_url, **urls)).succeeded
    app = create_app(fast_settings(database_url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_run_changes_lists_the_revision_with_values_before_and_after(
    revised: TestClient,
) -> None:
    body = get(revised, "/api/v1/runs/2/changes")
    assert (body["total"], body["limit"], body["offset"]) == (17, 17, 0)
    old, new = values("2021-06-15"), values("2021-06-16")
    for change in body["changes"]:
        assert change["run_id"] == 2 and change["series"] == "national"
        assert change["after"] == new[change["date"]]
        expected_before = old.get(change["date"])
        assert change["before"] == expected_before
        assert change["kind"] == ("updated" if expected_before else "inserted")
    assert [c["date"] for c in body["changes"]] == sorted(c["date"] for c in body["changes"])


def test_run_changes_pages_like_records(revised: TestClient) -> None:
    everything = get(revised, "/api/v1/runs/2/changes")["changes"]
    page = get(revised, "/api/v1/runs/2/changes", limit=5, offset=15)
    assert (page["total"], page["limit"], page["offset"]) == (17, 5, 15)
    assert page["changes"] == everything[15:]
    beyond = get(revised, "/api/v1/runs/2/changes", limit=5, offset=100)
    assert beyond["changes"] == [] and beyond["total"] == 17
    assert get(revised, "/api/v1/runs/1/changes", limit=10)["total"] == 512


def test_run_changes_as_csv(revised: TestClient) -> None:
    response = revised.get("/api/v1/runs/2/changes", headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 17
    last = rows[-1]
    assert (last["date"], last["kind"], last["cases_before"]) == ("2021-06-16", "inserted", "")
    assert last["cases_after"] == str(values("2021-06-16")["2021-06-16"]["cases"])
    assert revised.get("/api/v1/runs/2/changes?format=csv").text == response.text


def test_unknown_run_is_404_in_the_one_error_shape(revised: TestClient) -> None:
    response = revised.get("/api/v1/runs/99/changes")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"status": 404, "code": "not_found", "message": "no run #99", "details": []}
    }
    bad = revised.get("/api/v1/changes", params={"series": "New York"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_parameter"
    reversed_range = revised.get("/api/v1/changes?start=2021-06-15&end=2021-06-01")
    assert reversed_range.status_code == 422
    assert "is after end" in reversed_range.json()["error"]["message"]


def test_changes_of_a_date_range_show_how_a_day_evolved(revised: TestClient) -> None:
    body = get(revised, "/api/v1/changes", series="national", start="2021-06-15", end="2021-06-15")
    assert body["total"] == 2
    first, second = body["changes"]
    assert (first["run_id"], first["kind"], first["before"]) == (1, "inserted", None)
    assert (second["run_id"], second["kind"]) == (2, "updated")
    assert first["after"] == second["before"] == values("2021-06-15")["2021-06-15"]
    assert second["after"] == values("2021-06-16")["2021-06-15"]
    assert get(revised, "/api/v1/changes", series="36")["total"] == 0
    assert get(revised, "/api/v1/changes")["total"] == 512 + 17


def test_changes_carry_an_etag_and_answer_304(revised: TestClient) -> None:
    first = revised.get("/api/v1/runs/2/changes", headers={"Accept-Encoding": "gzip"})
    assert first.headers["content-encoding"] == "gzip"
    etag = first.headers["etag"]
    again = revised.get("/api/v1/runs/2/changes", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert first.headers["x-content-type-options"] == "nosniff"
