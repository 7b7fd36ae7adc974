"""Summary, runs, the legacy table, health, docs and the HTTP behaviour every response shares."""

from __future__ import annotations

import datetime as dt
import gzip
import math
import re
from typing import Any

from fastapi.testclient import TestClient

from covid_etl.models import Record
from covid_etl.run.pipeline import run_etl
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers.backends import on_every_backend
from tests.helpers.data import JHU_CURRENT, serve_real
from tests.helpers.env import fast_settings
from tests.helpers.servers import SourceServer

LEGACY_COLUMNS = [
    "date",
    "cases",
    "deaths",
    "recoveries",
    "date-diff",
    "month",
    "day_of_week",
    "cases-diff",
    "cases-log",
    "deaths-diff",
    "deaths-log",
    "recoveries-diff",
    "recoveries-log",
]


def _app_client(url: str, **kwargs: Any) -> TestClient:
    app = create_app(fast_settings(url, schedule=SCHEDULE_OFF), **kwargs)
    return TestClient(app, raise_server_exceptions=False)


def test_summary_real_data_has_latest_totals_and_last_report(client: TestClient) -> None:
    body = client.get("/api/v1/summary").json()
    assert body["data_through"] == "2023-01-24"
    assert body["latest"]["date"] == "2023-01-24"
    assert body["totals"] == {"cases": 101795726, "deaths": 1111991, "recovered": None}
    assert body["recovered_last_reported"] == {"date": "2020-12-13", "value": 6298082}
    run = body["last_run"]
    assert set(run) == {
        "id",
        "status",
        "trigger",
        "started_at",
        "finished_at",
        "inserted",
        "updated",
        "unchanged",
    }
    assert (run["status"], run["trigger"], run["inserted"]) == ("succeeded", "manual", 1100)
    assert body["freshness"]["last_success_at"] == run["finished_at"]


def test_summary_data_age_counts_days_from_data_through(loaded_url: str) -> None:
    clock = lambda: dt.datetime(2023, 2, 3, 23, 59, tzinfo=dt.UTC)  # noqa: E731
    with _app_client(loaded_url, clock=clock) as client:
        assert client.get("/api/v1/summary").json()["freshness"]["data_age_days"] == 10


def test_summary_empty_store_has_nulls(database_url: str) -> None:
    with _app_client(database_url) as client:
        body = client.get("/api/v1/summary").json()
        assert body["data_through"] is None and body["latest"] is None
        assert body["last_run"] is None and body["recovered_last_reported"] is None
        assert body["freshness"] == {"data_age_days": None, "last_success_at": None}
        records = client.get("/api/v1/records").json()
        assert records == {"records": [], "total": 0, "limit": 0, "offset": 0}


@on_every_backend
def test_summary_new_run_shows_at_once(client: TestClient, loaded_url: str) -> None:
    before = client.get("/api/v1/summary")
    run_etl(fast_settings(loaded_url, offline=True))
    after = client.get("/api/v1/summary")
    assert after.json()["last_run"]["id"] > before.json()["last_run"]["id"]
    assert after.headers["etag"] != before.headers["etag"]


def test_runs_lists_most_recent_first_with_limit(client: TestClient, loaded_url: str) -> None:
    run_etl(fast_settings(loaded_url, offline=True))
    runs = client.get("/api/v1/runs").json()["runs"]
    assert len(runs) == 2 and runs[0]["id"] > runs[1]["id"]
    one = client.get("/api/v1/runs?limit=1").json()["runs"]
    assert [r["id"] for r in one] == [runs[0]["id"]]
    assert runs[0]["unchanged"] == 1100


def test_runs_source_credentials_are_masked(database_url: str, source_server: SourceServer) -> None:
    urls = serve_real(source_server)
    jhu_path = "/jhu.csv?token=tok-9f8e7d6c5b"
    secret_urls = {
        "nyt_url": urls["nyt_url"].replace("http://", "http://reader:pw-Zq81xk@"),
        "jhu_url": source_server.serve(jhu_path, JHU_CURRENT.read_bytes()),
    }
    result = run_etl(fast_settings(database_url, **secret_urls))
    assert result.succeeded, result.run.error
    app = create_app(fast_settings(database_url, schedule=SCHEDULE_OFF, **secret_urls))
    with TestClient(app) as client:
        text = client.get("/api/v1/runs").text
    assert "pw-Zq81xk" not in text and "tok-9f8e7d6c5b" not in text
    assert "***" in text


def test_covid_data_has_the_thirteen_columns_with_numbers(client: TestClient) -> None:
    body = client.get("/covid_data").json()
    assert set(body) == {"data", "last_modified_date"}
    rows = body["data"]
    assert len(rows) == 816  # the original's inner join: the dates of both sources
    assert (rows[0]["date"], rows[-1]["date"]) == ("2020-01-22", "2022-04-16")
    for row in rows:
        assert list(row) == LEGACY_COLUMNS
        for key in ("date", "month", "day_of_week"):
            assert isinstance(row[key], str)
        for key in set(LEGACY_COLUMNS) - {"date", "month", "day_of_week"}:
            value = row[key]
            assert isinstance(value, int | float) and value is not True
    first = rows[0]
    assert (first["date-diff"], rows[1]["date-diff"]) == (0, 1)
    assert (first["month"], first["day_of_week"]) == ("January", "Wednesday")
    assert first["cases-log"] == 0.0 and first["deaths-log"] == 0
    last = rows[-1]
    assert math.isclose(last["cases-log"], math.log(80524627))
    assert last["recoveries"] == 0 and last["recoveries-log"] == 0
    assert last["cases-diff"] == 80524627 - rows[-2]["cases"]


def test_healthz_reports_store_and_scheduler(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    freshness = body.pop("freshness")
    last_run = body.pop("last_run")
    assert body == {
        "status": "ok",
        "data_through": "2023-01-24",
        "scheduler": {"enabled": False},
        "stale": False,
    }
    assert freshness["stale"] is False
    assert freshness["last_success_run_id"] == freshness["last_run_id"] == 1
    assert freshness["last_run_status"] == "succeeded"
    assert freshness["data_through"] == "2023-01-24"
    assert (last_run["id"], last_run["status"]) == (1, "succeeded")
    assert response.headers["cache-control"] == "no-store"


def test_etag_matching_request_is_304(client: TestClient) -> None:
    for path in ("/api/v1/records", "/api/v1/summary", "/api/v1/runs", "/covid_data"):
        first = client.get(path)
        assert first.headers["cache-control"] == "public, no-cache"
        again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == first.headers["etag"]


def test_etag_differs_per_window_and_format(client: TestClient) -> None:
    tags = {
        client.get("/api/v1/records", params=params).headers["etag"]
        for params in ({}, {"limit": "5"}, {"format": "csv"}, {"start": "2021-01-01"})
    }
    assert len(tags) == 4


def test_gzip_when_accepted_and_identity_otherwise(client: TestClient) -> None:
    zipped = client.get("/api/v1/records", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    plain = client.get("/api/v1/records", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert zipped.content == plain.content  # httpx decoded the gzip body
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content


def test_security_headers_and_cors_on_every_response(client: TestClient) -> None:
    for path in ("/api/v1/summary", "/api/v1/records?limit=0", "/nowhere", "/docs"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert not re.search(r"https?:|\*", csp), csp  # no external origin, no wildcard
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["access-control-allow-origin"] == "*"


def test_cors_preflight_allows_reads_only(client: TestClient) -> None:
    response = client.options(
        "/api/v1/records",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"


def test_unknown_path_is_404_with_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"status": 404, "code": "not_found", "message": "Not Found", "details": []}
    }


def test_write_method_is_405_with_the_error_shape(client: TestClient) -> None:
    response = client.post("/api/v1/records")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


class _BrokenStore:
    """A store whose reads fail with a message that must not reach the client."""

    url_for_display = "broken://"

    def migrate(self) -> None:
        pass

    def last_run(self, **_: Any) -> None:
        raise RuntimeError("boom at /srv/secret/path.db")

    def records(self, *args: Any, **kwargs: Any) -> list[Record]:
        raise RuntimeError("boom")

    def close(self) -> None:
        pass


def test_server_fault_is_500_with_the_error_shape_and_no_trace(database_url: str) -> None:
    with _app_client(database_url, store=_BrokenStore()) as client:
        response = client.get("/api/v1/records")
        assert response.status_code == 500
        assert response.json() == {
            "error": {
                "status": 500,
                "code": "internal_error",
                "message": "internal server error",
                "details": [],
            }
        }
        assert "boom" not in response.text and "Traceback" not in response.text
        assert response.headers["x-content-type-options"] == "nosniff"
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["error"]["code"] == "unavailable"


def test_docs_page_loads_nothing_from_outside(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "http" not in html
    for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
        if asset.startswith("data:"):  # inline, fetched from nowhere
            continue
        assert client.get("/" + asset).status_code == 200, asset
    assert client.get("/openapi.json").json()["info"]["title"] == "covid-etl"


def test_repeat_request_from_cache_is_identical_to_the_first(client: TestClient) -> None:
    for path in ("/api/v1/records?limit=3", "/api/v1/summary", "/covid_data"):
        first = client.get(path)
        again = client.get(path)  # answered from the raw-request cache
        assert again.status_code == 200
        assert again.content == first.content
        assert again.headers == first.headers
    cached = client.app.state.context.cache  # type: ignore[attr-defined]
    assert cached.misses == 3


def test_repeat_bad_request_is_never_served_from_cache(client: TestClient) -> None:
    for _ in range(2):
        assert client.get("/api/v1/records?limit=0").status_code == 422


def test_head_request_has_get_headers_and_no_body(client: TestClient) -> None:
    got = client.get("/api/v1/summary", headers={"Accept-Encoding": "identity"})
    head = client.head("/api/v1/summary", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-length"] == str(len(got.content))


def test_dashboard_is_served_at_root_from_this_server_only(client: TestClient) -> None:
    html = client.get("/")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"#]+\.(?:js|css))"', html.text)
    assert assets, "the page references its scripts and styles"
    total = len(html.content)
    for asset in assets:
        assert not re.match(r"(?:https?:)?//", asset), asset  # relative: never another origin
        response = client.get("/" + asset, headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200, asset
        total += len(response.content)
    assert total < 150 * 1024  # HTML, JS and CSS before any data


def test_openapi_documents_the_error_shape_for_422(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    response = spec["paths"]["/api/v1/records"]["get"]["responses"]["422"]
    ref = response["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ErrorBody")
    names = {p["name"] for p in spec["paths"]["/api/v1/records"]["get"]["parameters"]}
    assert names == {"start", "end", "limit", "offset", "format", "as_of"}
