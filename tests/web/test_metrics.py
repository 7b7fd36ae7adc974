"""``GET /metrics`` and ``/healthz``'s staleness: the Prometheus text parses, the run counters
move after a run, HTTP requests are counted by route template, and no secret reaches a label."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from covid_etl.models import utcnow
from covid_etl.run.pipeline import run_etl
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers.env import fast_settings
from tests.helpers.servers import WebhookSink

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def runs(samples: Samples, status: str) -> float:
    return samples[("covid_etl_runs_total", (("status", status),))]


def app_client(
    database_url: str, clock: Callable[[], dt.datetime] = utcnow, **settings: Any
) -> TestClient:
    app = create_app(fast_settings(database_url, schedule=SCHEDULE_OFF, **settings), clock=clock)
    return TestClient(app, raise_server_exceptions=False)


def test_run_metrics_move_after_a_run(database_url: str) -> None:
    with app_client(database_url) as client:
        before = scrape(client)
        assert runs(before, "succeeded") == runs(before, "failed") == 0
        assert ("covid_etl_last_success_timestamp_seconds", ()) not in before
        assert before[("covid_etl_stale", ())] == 1  # nothing has succeeded yet

        run = run_etl(fast_settings(database_url, offline=True)).run
        after = scrape(client)
    assert runs(after, "succeeded") == 1 and runs(after, "failed") == 0
    assert run.finished_at is not None
    assert after[("covid_etl_last_success_timestamp_seconds", ())] == run.finished_at.timestamp()
    assert after[("covid_etl_last_run_rows", (("change", "inserted"),))] == 1100
    assert after[("covid_etl_last_run_rows", (("change", "updated"),))] == 0
    assert 0 < after[("covid_etl_last_run_duration_seconds", ())] < 120
    assert after[("covid_etl_notifications_pending", ())] == 0
    assert after[("covid_etl_stale", ())] == 0


def test_undelivered_notification_shows_as_pending(sqlite_url: str, webhook: WebhookSink) -> None:
    webhook.fail = True
    run_etl(fast_settings(sqlite_url, offline=True, notify=(webhook.url,)))
    with app_client(sqlite_url) as client:
        assert scrape(client)[("covid_etl_notifications_pending", ())] == 1


def test_http_requests_are_counted_by_route_template_and_status(sqlite_url: str) -> None:
    run_etl(fast_settings(sqlite_url, offline=True))
    with app_client(sqlite_url) as client:
        for _ in range(2):
            assert client.get("/api/v1/records", params={"limit": "5"}).status_code == 200
        assert client.get("/api/v1/runs").status_code == 200
        assert client.get("/api/v1/records", params={"start": "nope"}).status_code == 422
        for junk in ("/no/such/page-1", "/no/such/page-2", "/wp-login.php?user=admin"):
            assert client.get(junk).status_code == 404
        assert client.request("BREW", "/api/v1/runs").status_code == 405
        samples = scrape(client)

    def requests(route: str, status: str) -> float:
        labels = (("method", "GET"), ("route", route), ("status", status))
        return samples.get(("covid_etl_http_requests_total", labels), 0)

    assert requests("/api/v1/records", "200") == 2
    assert requests("/api/v1/records", "422") == 1
    assert requests("/api/v1/runs", "200") == 1
    # An invented method is one "other" series, not a label of its own.
    methods = {
        dict(labels)["method"]: value
        for (name, labels), value in samples.items()
        if name == "covid_etl_http_requests_total" and dict(labels)["method"] != "GET"
    }
    assert methods == {"other": 1}
    routes = {dict(labels).get("route") for (name, labels) in samples if "http" in name}
    # The raw paths are not labels: every path the dashboard's files do not have shares one.
    assert not [r for r in routes if r and ("no/such" in r or "wp-login" in r)]
    assert requests("/{path}", "404") == 3
    histogram = ("covid_etl_http_request_duration_seconds_count", (("route", "/api/v1/records"),))
    assert samples[histogram] == 3


def test_no_secret_reaches_the_metrics(sqlite_url: str) -> None:
    token = "5f8a1c2e7d3b4e9ab1c60a2d4e6f8b10"
    hook = f"json://etl:hook-password@127.0.0.1:9/{token}"
    run_etl(fast_settings(sqlite_url, offline=True))
    with app_client(sqlite_url, notify=(hook,), heartbeat_url=f"https://hc.example/{token}") as c:
        c.get(f"/api/v1/records?token={token}")
        body = c.get("/metrics").text
    assert token not in body and "hook-password" not in body and "hc.example" not in body


def test_healthz_turns_stale_and_stays_200(sqlite_url: str) -> None:
    run_etl(fast_settings(sqlite_url, offline=True))
    later = utcnow() + dt.timedelta(hours=27)
    with app_client(sqlite_url, clock=lambda: later) as client:
        response = client.get("/healthz")
        metrics = scrape(client)
    assert response.status_code == 200
    body = response.json()
    assert body["stale"] is True and body["freshness"]["stale"] is True
    assert body["freshness"]["last_success_run_id"] == 1
    assert body["freshness"]["last_success_age_seconds"] > 26 * 3600
    assert metrics[("covid_etl_stale", ())] == 1
