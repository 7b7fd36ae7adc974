"""How figures settled, served: ``/api/v1/revisions``, ``/api/v1/states/{fips}/revisions`` and
``covid-etl revisions``, over a store that replayed a slice of the NYT's real daily versions
(tests/fixtures/real/nyt/vintages/): 30 dates 15 days apart, 2020-04-14..2021-06-23, each with
its national and per-state version.

The acceptance test: the statistics equal an independent computation over the version files
themselves (each version read with csv.DictReader; per date, its value in each successive
version: the first, the last, how many times it differed from the version before, and the date
of the last difference), for the nation and every stored state, cases and deaths. The same on
PostgreSQL and S3 over a smaller slice, for the nation and a few states.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from covid_etl.cli import app as cli
from covid_etl.run.replay import replay
from covid_etl.settings import SCHEDULE_OFF, Settings
from covid_etl.store import open_store
from covid_etl.web.app import CACHED_PATHS, create_app
from tests.helpers.data import unpack_versions
from tests.helpers.env import fast_settings

# The national versions start on 2020-04-14 (the per-state ones on 2020-03-25).
SLICE = tuple(dt.date(2020, 4, 14) + dt.timedelta(days=15 * i) for i in range(30))
# Every fifth date of the slice, 75 days apart: the replay the other backends run.
SMALL = SLICE[::5]
# The places checked on every backend (all of them on SQLite): the nation, the most populous
# states, a territory.
SOME_PLACES = ["national", "06", "36", "48", "72"]
KS = (1, 3, 7, 14, 30, 60, 90)
PATH = "/api/v1/revisions"


def state_path(fips: str) -> str:
    return f"/api/v1/states/{fips}/revisions"


def extract(days: tuple[dt.date, ...], target: Path) -> Path:
    """The national and per-state versions of ``days``, unpacked from the archives."""
    unpack_versions(target, set(days).__contains__)
    assert len(list(target.iterdir())) == 2 * len(days)
    return target


def load(url: str, versions: Path) -> None:
    store = open_store(url)
    try:
        settings = Settings(
            database_url=url, offline=True, environment="testing", anomalies_url="off"
        )
        done = replay(settings, [versions], store)
        assert done.failed is None
    finally:
        store.close()


# -- the independent computation, from the version files alone ----------------------------------


@functools.cache
def read_versions(versions: Path) -> list[tuple[str, dict[tuple[str, str], dict[str, int]]]]:
    """Each version's day and {(place, measure): {date: value}} (place: national or a FIPS
    code), oldest first; read once per directory."""
    days: dict[str, dict[tuple[str, str], dict[str, int]]] = {}
    for path in sorted(versions.glob("*.csv")):
        values = days.setdefault(path.name[-14:-4], {})
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                place = row.get("fips", "national")
                for measure in ("cases", "deaths"):
                    values.setdefault((place, measure), {})[row["date"]] = int(row[measure])
    return sorted(days.items())


def published(versions: Path, place: str, measure: str) -> list[tuple[str, dict[str, int]]]:
    """Each version's (day, {date: value}) of ``place`` and ``measure``, oldest first."""
    return [(day, values.get((place, measure), {})) for day, values in read_versions(versions)]


def expected(versions: Path, place: str, measure: str) -> list[dict[str, Any]]:
    """Per date: the first version holding it and its value there, its value in the last version
    (None once dropped), the number of versions whose value (or absence) differs from the
    version before's, and the day of the last such version."""
    seen: dict[str, dict[str, Any]] = {}
    for day, values in published(versions, place, measure):
        for date in sorted(seen.keys() | values.keys()):
            now = (date in values, values.get(date))
            if date not in seen:
                seen[date] = {"first": day, "value": now[1], "last": now, "count": 0, "on": None}
                seen[date]["first_value"] = now[1]
            elif now != seen[date]["last"]:
                seen[date].update(last=now, count=seen[date]["count"] + 1, on=day)
    return [
        {
            "date": date,
            "first_published": s["first"],
            "first_value": s["first_value"],
            "final_value": s["last"][1],
            "revisions": s["count"],
            "last_revised": s["on"],
            "lag_days": (
                (dt.date.fromisoformat(s["on"]) - dt.date.fromisoformat(s["first"])).days
                if s["on"]
                else 0
            ),
        }
        for date, s in sorted(seen.items())
    ]


def shares(dates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of the dates, those whose last change came k days or more after their first version."""
    answer = []
    for k in KS:
        late = sum(1 for d in dates if d["lag_days"] >= k)
        share = round(late / len(dates), 4) if dates else None
        answer.append({"days": k, "still_revised": late, "share_still_revised": share})
    return answer


def stored_places(versions: Path) -> list[str]:
    """The nation and every state of the last version: the places with a stored series."""
    last = sorted(versions.glob("us-states-*.csv"))[-1]
    with last.open(newline="") as handle:
        return ["national", *sorted({r["fips"] for r in csv.DictReader(handle)})]


def assert_settled_as_published(client: TestClient, versions: Path, places: list[str]) -> int:
    """Every place's and measure's answer equals the independent computation; returns the
    number of dates checked."""
    checked = 0
    for place in places:
        for measure in ("cases", "deaths"):
            path = PATH if place == "national" else state_path(place)
            answer = client.get(path, params={"measure": measure})
            assert answer.status_code == 200, (place, answer.text)
            body = answer.json()
            want = expected(versions, place, measure)
            assert (body["place"], body["measure"]) == (place, measure)
            assert body["dates"] == want, (place, measure)
            assert body["settled_after"] == shares(want), (place, measure)
            assert (body["total"], body["skipped"], body["offset"]) == (len(want), 0, 0)
            checked += len(want)
    return checked


# -- one store for the module ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract(SLICE, tmp_path_factory.mktemp("versions"))


@pytest.fixture(scope="module")
def replayed(versions: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store that replayed the slice (read only by the tests)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('replayed') / 'covid.db'}"
    load(url, versions)
    return url


@pytest.fixture(scope="module")
def api(replayed: str) -> Iterator[TestClient]:
    app = create_app(fast_settings(replayed, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_revisions_statistics_equal_an_independent_computation_over_the_versions(
    api: TestClient, versions: Path
) -> None:
    places = stored_places(versions)
    assert len(places) == 1 + 55
    assert assert_settled_as_published(api, versions, places) > 50_000
    national = api.get(PATH).json()
    # The slice has revisions, late ones too: the shares are not all zero or all one.
    assert 0 < national["settled_after"][-1]["share_still_revised"] < 1
    assert max(d["revisions"] for d in national["dates"]) > 1


def test_revisions_csv_lists_the_dates_of_the_json_page(api: TestClient) -> None:
    for path in (PATH, state_path("36")):
        params = {"measure": "deaths", "start": "2020-06-01", "limit": "40", "offset": "5"}
        page = api.get(path, params=params).json()["dates"]
        answer = api.get(path, params={**params, "format": "csv"})
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert api.get(path, params=params, headers={"accept": "text/csv"}).text == answer.text
        rows = list(csv.DictReader(answer.text.splitlines()))
        assert len(rows) == len(page) == 40
        assert rows == [{k: "" if v is None else str(v) for k, v in d.items()} for d in page]


def test_revisions_window_and_page_keep_the_shares_of_the_whole_window(
    api: TestClient, versions: Path
) -> None:
    want = [
        d for d in expected(versions, "06", "cases") if "2020-10-01" <= d["date"] <= "2021-03-31"
    ]
    params = {"start": "2020-10-01", "end": "2021-03-31"}
    whole = api.get(state_path("06"), params=params).json()
    assert whole["dates"] == want and whole["total"] == whole["limit"] == len(want) == 182
    page = api.get(state_path("06"), params={**params, "limit": "10", "offset": "20"}).json()
    assert page["dates"] == want[20:30]
    assert (page["total"], page["limit"], page["offset"]) == (182, 10, 20)
    assert page["settled_after"] == whole["settled_after"] == shares(want)
    beyond = api.get(PATH, params={"start": "2030-01-01"}).json()
    assert (beyond["dates"], beyond["total"], beyond["skipped"]) == ([], 0, 0)
    assert beyond["settled_after"][0] == {
        "days": 1,
        "still_revised": 0,
        "share_still_revised": None,
    }


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (state_path("03"), 404, "no stored series for fips 03"),
        (state_path("99"), 404, "no stored series for fips 99"),
        # American Samoa: in the first version, dropped by the next (every row removed).
        (state_path("60"), 404, "no stored series for fips 60"),
        (state_path("6"), 422, "fips: expected a two-digit FIPS code"),
        (state_path("AB"), 422, "fips: expected a two-digit FIPS code"),
        (state_path("006"), 422, "fips"),
        (PATH + "?measure=recovered", 422, "measure"),
        (state_path("06") + "?measure=Cases", 422, "measure"),
        (PATH + "?start=2021-02-01&end=2021-01-01", 422, "start: 2021-02-01 is after end"),
        (PATH + "?start=2021-02-30", 422, "start: 2021-02-30 is not a calendar date"),
        (PATH + "?limit=0", 422, "limit"),
        (PATH + "?offset=-1", 422, "offset"),
        (PATH + "?format=xml", 422, "format"),
    ],
)
def test_revisions_refuse_what_names_nothing_in_the_error_shape(
    api: TestClient, path: str, status: int, message: str
) -> None:
    answer = api.get(path)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["status"] == status and message in error["message"]


def test_revisions_answers_revalidate_by_etag_and_repeat_from_the_fast_path(
    api: TestClient,
) -> None:
    assert PATH in CACHED_PATHS
    context = api.app.state.context  # type: ignore[attr-defined]
    for path in (PATH + "?measure=deaths&limit=3", state_path("72") + "?format=csv"):
        first = api.get(path)
        assert first.headers["cache-control"] == "public, no-cache"
        again = api.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert (again.status_code, again.content) == (304, b"")
        context.cache.clear()  # a request that reaches the route would miss its cache
        misses = context.cache.misses
        repeated = api.get(path)
        assert context.cache.misses == misses
        assert (repeated.status_code, repeated.content) == (200, first.content)
    tags = {api.get(PATH, params=p).headers["etag"] for p in ({}, {"measure": "deaths"})}
    assert len(tags) == 2


def test_revisions_skip_dates_first_published_by_a_run_without_an_as_of_date(
    replayed: str, versions: Path, tmp_path: Path
) -> None:
    # A store whose first run came before schema 8, which added the as-of date.
    older = tmp_path / "older.db"
    shutil.copy(replayed.removeprefix("sqlite:///"), older)
    with sqlite3.connect(older) as db:
        db.execute("UPDATE runs SET as_of = NULL WHERE id = (SELECT MIN(id) FROM runs)")
    db.close()
    first_version = published(versions, "national", "cases")[0][1]
    want = [d for d in expected(versions, "national", "cases") if d["date"] not in first_version]
    with TestClient(create_app(fast_settings(f"sqlite:///{older}", schedule=SCHEDULE_OFF))) as c:
        body = c.get(PATH).json()
        assert body["skipped"] == len(first_version) == 85
        assert body["dates"] == want and body["total"] == len(want)
        assert body["settled_after"] == shares(want)
        window = c.get(PATH, params={"start": "2020-04-01", "end": "2020-04-30"}).json()
        assert (window["skipped"], window["total"]) == (14, 16)


def test_revisions_command_prints_the_statistics_the_api_serves(
    api: TestClient, replayed: str
) -> None:
    runner = CliRunner()
    env = {"COVID_ETL_DATABASE_URL": replayed}

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["revisions", *args], env=env)

    as_json = run("--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == api.get(PATH).json()
    as_csv = run("--fips", "06", "--measure", "deaths", "--format", "csv")
    assert (
        as_csv.output
        == api.get(state_path("06"), params={"measure": "deaths", "format": "csv"}).text
    )
    table = run("--fips", "36")
    body = api.get(state_path("36")).json()
    assert table.exit_code == 0
    lines = table.output.splitlines()
    revised = sum(1 for d in body["dates"] if d["revisions"])
    headline = f"FIPS 36 cases: {body['total']} date(s), {revised} revised at least once, 0 skipped"
    assert headline in " ".join(table.output.split())
    first = body["dates"][0]
    cells = [[cell for cell in line.split() if cell != "│"] for line in lines]
    assert [first["date"], first["first_published"]] in [row[:2] for row in cells]
    for share in body["settled_after"]:
        row = [str(share["days"]), str(share["still_revised"])]
        assert [*row, f"{share['share_still_revised']:.2%}"] in cells, row
    missing = run("--fips", "99")
    assert missing.exit_code == 1 and "no stored series for fips 99" in missing.output
    malformed = run("--fips", "6")
    assert malformed.exit_code == 2 and "two-digit FIPS code" in malformed.output
    wrong = run("--measure", "recovered")
    assert wrong.exit_code == 2


def test_revisions_operations_document_every_field(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    for path in (PATH, "/api/v1/states/{fips}/revisions"):
        operation = document["paths"][path]["get"]
        assert {p["name"] for p in operation["parameters"]} >= {
            "measure", "start", "end", "limit", "offset", "format",
        }  # fmt: skip
        assert set(operation["responses"]) >= {"200", "304", "422"}
    assert "404" in document["paths"]["/api/v1/states/{fips}/revisions"]["get"]["responses"]
    schemas = document["components"]["schemas"]
    for name in ("RevisionsPage", "DateRevisionsOut", "StillRevisedOut"):
        for field, schema in schemas[name]["properties"].items():
            assert schema.get("description"), f"{name}.{field} has no description"


# The module's store is SQLite's case; these are the other backends (on_every_backend's, less
# SQLite: a second SQLite replay would only cost time).
on_postgres_and_s3 = pytest.mark.parametrize(
    "database_url",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("s3", marks=pytest.mark.s3),
    ],
    indirect=True,
)


@on_postgres_and_s3
def test_revisions_equal_the_versions_on_the_other_backends(
    database_url: str, tmp_path: Path
) -> None:
    versions = extract(SMALL, tmp_path)
    load(database_url, versions)
    with TestClient(create_app(fast_settings(database_url, schedule=SCHEDULE_OFF))) as client:
        assert assert_settled_as_published(client, versions, SOME_PLACES) > 3_000
