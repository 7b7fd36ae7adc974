"""``as_of=`` on the read endpoints, over a store that replayed 30 days of the NYT's real
versions: each answer is the data as it stood that day (the day's version, derived figures
computed over it), a day between runs answers as the run before, before the history is a 404 in
the error shape, and an as-of answer is cached and validated like any other."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from covid_etl.run.replay import replay
from covid_etl.settings import SCHEDULE_OFF, Settings
from covid_etl.store import open_store
from covid_etl.web.app import create_app
from tests.helpers.data import unpack_versions

FIRST, LAST = dt.date(2020, 4, 10), dt.date(2020, 5, 9)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("as-of")
    versions = folder / "versions"
    versions.mkdir()
    unpack_versions(versions, lambda day: FIRST <= day <= LAST)
    url = f"sqlite:///{folder / 'replayed.db'}"
    settings = Settings(database_url=url, offline=True, environment="testing")
    store = open_store(url)
    try:
        assert replay(settings, [versions], store).dates == 30
    finally:
        store.close()
    return url, versions


@pytest.fixture(scope="module")
def client(replayed: tuple[str, Path]) -> Iterator[TestClient]:
    url, _ = replayed
    app = create_app(Settings(database_url=url, schedule=SCHEDULE_OFF, environment="testing"))
    with TestClient(app) as test_client:
        yield test_client


def version(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("day", ["2020-04-14", "2020-04-25", "2020-05-09"])
def test_records_and_summary_as_of_a_day_are_that_days_version(
    client: TestClient, replayed: tuple[str, Path], day: str
) -> None:
    _, folder = replayed
    body = client.get(f"/api/v1/records?as_of={day}").json()
    published = version(folder, f"us-{day}.csv")
    got = [(r["date"], r["cases"], r["deaths"]) for r in body["records"]]
    assert got == [(r["date"], int(r["cases"]), int(r["deaths"])) for r in published]
    # Derived over that day's series: the last day's new cases are that version's difference.
    assert body["records"][-1]["new_cases"] == int(published[-1]["cases"]) - int(
        published[-2]["cases"]
    )
    summary = client.get(f"/api/v1/summary?as_of={day}").json()
    assert summary["data_through"] == day and summary["latest"] == body["records"][-1]


def test_states_as_of_a_day_are_that_days_version(
    client: TestClient, replayed: tuple[str, Path]
) -> None:
    _, folder = replayed
    day = "2020-04-20"
    published = version(folder, f"us-states-{day}.csv")
    snapshot = client.get(f"/api/v1/states?as_of={day}").json()
    assert snapshot["data_through"] == day
    latest = {r["fips"]: r for r in published if r["date"] == day}
    assert {s["fips"]: s["cases"] for s in snapshot["states"]} == {
        fips: int(row["cases"]) for fips, row in latest.items()
    }
    records = client.get(f"/api/v1/states/36/records?as_of={day}").json()["records"]
    assert [(r["date"], r["cases"]) for r in records] == [
        (r["date"], int(r["cases"])) for r in published if r["fips"] == "36"
    ]


def test_a_day_after_the_last_run_answers_as_the_last_run(client: TestClient) -> None:
    later = client.get("/api/v1/records?as_of=2030-01-01")
    assert later.status_code == 200
    assert later.json() == client.get("/api/v1/records").json()


def test_before_the_history_is_a_404_in_the_error_shape(client: TestClient) -> None:
    for path in (
        "/api/v1/records",
        "/api/v1/summary",
        "/api/v1/states",
        "/api/v1/states/06/records",
    ):
        answer = client.get(f"{path}?as_of=2020-04-09")
        assert answer.status_code == 404, path
        assert answer.json()["error"] == {
            "status": 404,
            "code": "no_history",
            "message": "no data as of 2020-04-09: history is kept from 2020-04-10",
            "details": [],
        }
    assert client.get("/api/v1/records?as_of=2020-02-30").status_code == 422


def test_an_as_of_answer_has_an_etag_and_answers_304(client: TestClient) -> None:
    first = client.get("/api/v1/states/06/records?as_of=2020-04-20")
    again = client.get(
        "/api/v1/states/06/records?as_of=2020-04-20",
        headers={"if-none-match": first.headers["etag"]},
    )
    assert (first.status_code, again.status_code) == (200, 304)
    other = client.get("/api/v1/states/06/records?as_of=2020-04-21")
    assert other.headers["etag"] != first.headers["etag"]
