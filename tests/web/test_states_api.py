"""``/api/v1/states`` and ``/api/v1/states/{fips}/records`` on the real per-state file shipped
with the package, on every store backend."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from covid_etl.run.pipeline import run_etl
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers.backends import on_every_backend
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT
from tests.helpers.env import ANOMALIES_LOCAL, cli_env, fast_settings
from tests.helpers.loaded import LoadedStores

SHIPPED_STATES = Path(str(resources.files("covid_etl") / "data" / "nyt-us-states.csv"))
TERRITORIES = {"66", "69", "78"}  # Guam, Northern Mariana Islands, Virgin Islands


STATES_SOURCES: dict[str, object] = {
    "nyt_url": str(NYT_CURRENT),
    "jhu_url": str(JHU_CURRENT),
    "states_url": str(SHIPPED_STATES),
    "anomalies_url": ANOMALIES_LOCAL,
}


@pytest.fixture(scope="module")
def states_url(
    loaded_stores: LoadedStores,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A store after one run with the shipped states file (a copy of a store that run loaded
    once for the session), shared by the module's tests that take it: they only read."""
    directory = tmp_path_factory.mktemp("states")
    return loaded_stores.sqlite_copy(request, directory, (STATES_SOURCES,))


@pytest.fixture(scope="module")
def states_client(states_url: str) -> Iterator[TestClient]:
    app = create_app(fast_settings(states_url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def by_fips(client: TestClient, query: str = "") -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/states" + query)
    assert response.status_code == 200, response.text
    return {entry["fips"]: entry for entry in response.json()["states"]}


def test_states_lists_the_55_jurisdictions_on_their_latest_day(states_client: TestClient) -> None:
    body = states_client.get("/api/v1/states").json()

    assert len(body["states"]) == 55
    assert (body["data_from"], body["data_through"]) == ("2020-01-21", "2021-07-08")
    assert body["date"] is None
    california = next(e for e in body["states"] if e["fips"] == "06")
    assert california["name"] == "California"
    assert (california["date"], california["cases"], california["deaths"]) == (
        "2021-07-08",
        3_829_878,
        63_409,
    )
    # 7-day average of new cases: (cumulative on 07-08 minus on 07-01) / 7.
    assert california["new_cases_7d_avg"] == round((3_829_878 - 3_818_156) / 7, 2)


def test_per_100k_is_right_for_three_states_checked_by_hand(states_client: TestClient) -> None:
    states = by_fips(states_client)

    # Census Vintage 2019: CA 39,512,223; NY 19,453,561; TX 28,995,881. NYT on 2021-07-08 and
    # 2021-07-01: CA 3,829,878 / 3,818,156 cases, 63,409 deaths; NY 2,116,270 / 2,113,544 and
    # 53,138; TX 3,006,725 / 2,995,274 and 52,715.
    expected = {
        "06": (39_512_223, 3_829_878 * 100_000 / 39_512_223, 63_409 * 100_000 / 39_512_223,
               (3_829_878 - 3_818_156) / 7 * 100_000 / 39_512_223),
        "36": (19_453_561, 2_116_270 * 100_000 / 19_453_561, 53_138 * 100_000 / 19_453_561,
               (2_116_270 - 2_113_544) / 7 * 100_000 / 19_453_561),
        "48": (28_995_881, 3_006_725 * 100_000 / 28_995_881, 52_715 * 100_000 / 28_995_881,
               (3_006_725 - 2_995_274) / 7 * 100_000 / 28_995_881),
    }  # fmt: skip
    # The same numbers written out: CA about 9692.89 cases per 100k, NY 10878.57, TX 10369.49.
    assert expected["06"][1] == pytest.approx(9692.89, abs=0.01)
    assert expected["36"][1] == pytest.approx(10878.57, abs=0.01)
    assert expected["48"][1] == pytest.approx(10369.49, abs=0.01)
    for fips, (population, cases, deaths, new_avg) in expected.items():
        entry = states[fips]
        assert entry["population"] == population
        # The 7-day average is rounded to 2 decimals before scaling, hence the margin there.
        assert entry["cases_per_100k"] == pytest.approx(cases, abs=0.005)
        assert entry["deaths_per_100k"] == pytest.approx(deaths, abs=0.005)
        assert entry["new_cases_7d_avg_per_100k"] == pytest.approx(new_avg, abs=0.01)


def test_territories_without_population_have_null_per_100k(states_client: TestClient) -> None:
    states = by_fips(states_client)

    for fips in TERRITORIES:
        entry = states[fips]
        assert entry["population"] is None
        assert entry["cases"] > 0
        assert entry["cases_per_100k"] is None
        assert entry["deaths_per_100k"] is None
        assert entry["new_cases_7d_avg_per_100k"] is None
    # Puerto Rico has an estimate.
    assert states["72"]["population"] == 3_193_694
    assert states["72"]["cases_per_100k"] is not None


def test_states_on_a_date_is_the_snapshot_of_that_day(states_client: TestClient) -> None:
    body = states_client.get("/api/v1/states?date=2021-07-01").json()
    states = {e["fips"]: e for e in body["states"]}

    assert body["date"] == "2021-07-01"
    assert (states["06"]["date"], states["06"]["cases"]) == ("2021-07-01", 3_818_156)
    # Before a jurisdiction's first case: listed, with null figures (not zeros).
    early = {
        e["fips"]: e for e in states_client.get("/api/v1/states?date=2020-01-21").json()["states"]
    }
    assert len(early) == 55
    assert early["53"]["cases"] == 1
    assert early["06"]["date"] is None
    assert early["06"]["cases"] is None


def test_states_csv_has_the_json_columns(states_client: TestClient) -> None:
    response = states_client.get("/api/v1/states?format=csv")

    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 55
    guam = next(r for r in rows if r["fips"] == "66")
    assert (guam["population"], guam["cases_per_100k"], guam["cases"]) == ("", "", "9392")
    as_csv = states_client.get("/api/v1/states", headers={"Accept": "text/csv"})
    assert as_csv.text == response.text


def export_states(database_url: str) -> list[dict[str, str]]:
    env = cli_env(database_url)
    done = subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "export", "--states"],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def test_each_state_records_equal_its_rows_in_the_export(
    states_client: TestClient, states_url: str
) -> None:
    exported: dict[str, list[tuple[str, int, int]]] = {}
    for row in export_states(states_url):
        exported.setdefault(row["fips"], []).append(
            (row["date"], int(row["cases"]), int(row["deaths"]))
        )

    assert len(exported) == 55
    for fips, rows in exported.items():
        body = states_client.get(f"/api/v1/states/{fips}/records").json()
        served = [(r["date"], r["cases"], r["deaths"]) for r in body["records"]]
        assert served == rows, fips
        assert body["total"] == len(rows)


def test_state_records_derive_over_the_full_series(states_client: TestClient) -> None:
    full = states_client.get("/api/v1/states/06/records").json()
    window = states_client.get("/api/v1/states/06/records?start=2021-07-02&limit=3&offset=1")
    page = window.json()

    assert (full["fips"], full["name"], full["population"]) == ("06", "California", 39_512_223)
    first = full["records"][0]
    assert first["new_cases"] == first["cases"]  # day one counts from 0, as the NYT does
    by_date = {r["date"]: r for r in full["records"]}
    assert [r["date"] for r in page["records"]] == ["2021-07-03", "2021-07-04", "2021-07-05"]
    assert page["records"] == [by_date[r["date"]] for r in page["records"]]
    assert page["records"][0]["new_cases_7d_avg"] is not None
    last = full["records"][-1]
    assert (last["date"], last["new_deaths"]) == ("2021-07-08", by_date["2021-07-08"]["new_deaths"])
    csv_rows = list(csv.DictReader(io.StringIO(
        states_client.get("/api/v1/states/06/records?format=csv").text)))  # fmt: skip
    assert len(csv_rows) == full["total"]
    assert csv_rows[-1]["cases_per_100k"] == str(last["cases_per_100k"])


def test_territory_records_have_null_per_100k(states_client: TestClient) -> None:
    records = states_client.get("/api/v1/states/66/records").json()["records"]

    assert records
    assert all(r["cases_per_100k"] is None for r in records)
    assert all(r["new_cases_7d_avg_per_100k"] is None for r in records)


def test_unknown_fips_is_404_in_the_error_shape(states_client: TestClient) -> None:
    for fips in ("03", "99", "00"):
        response = states_client.get(f"/api/v1/states/{fips}/records")
        assert response.status_code == 404
        error = response.json()["error"]
        assert (error["status"], error["code"]) == (404, "not_found")
        assert fips in error["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/states?date=2021-02-30",
        "/api/v1/states?date=yesterday",
        "/api/v1/states?format=xml",
        "/api/v1/states/6/records",
        "/api/v1/states/CA/records",
        "/api/v1/states/006/records",
        "/api/v1/states/06/records?start=2021-07-08&end=2021-07-01",
        "/api/v1/states/06/records?limit=0",
        "/api/v1/states/06/records?offset=-1",
        "/api/v1/states/06/records?end=2021-13-01",
    ],
)
def test_bad_parameters_are_422_in_the_error_shape(states_client: TestClient, path: str) -> None:
    response = states_client.get(path)

    assert response.status_code == 422, path
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (422, "invalid_parameter")
    assert error["details"]


def test_states_etag_gzip_and_headers_like_records(states_client: TestClient) -> None:
    for path in ("/api/v1/states", "/api/v1/states/06/records"):
        plain = states_client.get(path, headers={"Accept-Encoding": "identity"})
        zipped = states_client.get(path, headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in plain.headers
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == plain.content  # httpx decoded the gzip body
        assert int(zipped.headers["content-length"]) < len(plain.content) / 3
        assert plain.headers["cache-control"] == "public, no-cache"
        assert plain.headers["x-content-type-options"] == "nosniff"
        etag = plain.headers["etag"]
        again = states_client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""


def test_states_empty_when_the_states_are_off(database_url: str) -> None:
    result = run_etl(fast_settings(database_url, offline=True))
    assert result.succeeded, result.run.error
    app = create_app(fast_settings(database_url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as client:
        body = client.get("/api/v1/states").json()
        assert body == {"date": None, "data_from": None, "data_through": None, "states": []}
        assert client.get("/api/v1/states/06/records").status_code == 404


@on_every_backend
def test_a_new_run_shows_in_the_states_at_once(database_url: str, tmp_path: Path) -> None:
    lines = SHIPPED_STATES.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_text(lines[0] + "".join(line for line in lines[1:] if line[:10] <= "2021-06-30"))
    sources = STATES_SOURCES
    assert run_etl(fast_settings(database_url, **{**sources, "states_url": str(cut)})).succeeded
    app = create_app(fast_settings(database_url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as client:
        before = client.get("/api/v1/states").json()
        assert before["data_through"] == "2021-06-30"
        records = client.get("/api/v1/states/06/records").json()["records"]
        assert records[-1]["date"] == "2021-06-30"

        assert run_etl(fast_settings(database_url, **sources)).succeeded

        assert client.get("/api/v1/states").json()["data_through"] == "2021-07-08"
        records = client.get("/api/v1/states/06/records").json()["records"]
        assert records[-1]["date"] == "2021-07-08"
