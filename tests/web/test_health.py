"""``/healthz`` is a liveness probe: 200 whenever the store answers, whatever the data's state;
503 only when the store cannot be read (a 503 makes an orchestrator restart the server)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

import covid_etl
from covid_etl.run.pipeline import run_etl
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers.env import fast_settings


def _health(url: str) -> tuple[int, dict[str, object]]:
    app = create_app(fast_settings(url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/healthz")
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()


def _failed_run(url: str, tmp_path: Path) -> int:
    missing = str(tmp_path / "missing-us.csv")
    jhu = str(Path(covid_etl.__file__).parent / "data" / "jhu-combined-us.csv")
    result = run_etl(fast_settings(url, nyt_url=missing, jhu_url=jhu))
    assert not result.succeeded
    return result.run.id


def test_healthz_empty_store_is_200_with_no_data(database_url: str) -> None:
    status, body = _health(database_url)
    assert status == 200
    freshness = body.pop("freshness")
    assert body == {
        "status": "ok",
        "data_through": None,
        "last_run": None,
        "scheduler": {"enabled": False},
        "stale": True,  # nothing has succeeded yet: reported, and still 200
    }
    assert isinstance(freshness, dict)
    assert freshness["last_success_run_id"] is None and freshness["last_run_id"] is None


def test_healthz_after_failed_first_run_is_200_with_the_failure(
    database_url: str, tmp_path: Path
) -> None:
    run_id = _failed_run(database_url, tmp_path)
    status, body = _health(database_url)
    assert status == 200
    assert body["data_through"] is None
    last_run = body["last_run"]
    assert isinstance(last_run, dict)
    assert (last_run["id"], last_run["status"]) == (run_id, "failed")
    assert last_run["finished_at"] is not None


def test_healthz_failed_run_after_a_load_still_reports_the_data(
    loaded_url: str, tmp_path: Path
) -> None:
    run_id = _failed_run(loaded_url, tmp_path)
    status, body = _health(loaded_url)
    assert status == 200
    assert body["data_through"] == "2023-01-24"
    assert body["last_run"] == {
        "id": run_id,
        "status": "failed",
        "finished_at": body["last_run"]["finished_at"],  # type: ignore[index]
    }


def test_healthz_loaded_store_reports_the_succeeded_run(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["data_through"] == "2023-01-24"
    assert body["last_run"]["status"] == "succeeded"
