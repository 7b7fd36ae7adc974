"""A third series, declared here and nowhere else, goes through the whole machinery unchanged:
fetch from its own source on loopback, its contract, the partitioned diff, the store on every
backend, the change log, the run's counts and the API.

The declaration below is all a new series costs besides its parser and its table: nothing in
covid_etl is changed or told about it, the series is handed to ``run_etl`` and ``create_app``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from fastapi.testclient import TestClient

from covid_etl.catalog import Source
from covid_etl.errors import HistoryShrinks, ParseError
from covid_etl.models import RunStatus
from covid_etl.run.pipeline import run_etl
from covid_etl.series.registry import SERIES
from covid_etl.series.spec import Built, Column, Key, Series
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.sources.csv import column_index, parse_count, parse_date
from covid_etl.store import open_store
from covid_etl.web.app import create_app
from tests.helpers.data import serve_real
from tests.helpers.env import fast_settings
from tests.helpers.servers import SourceServer


# -- the declaration ------------------------------------------------------------------------------
class RegionRow(NamedTuple):
    date: dt.date
    code: str
    cases: int


def parse_regions(texts: Mapping[str, str], today: dt.date) -> list[RegionRow]:
    """``date,code,cases``: a two-letter code, a non-negative count, one row per (code, date)."""
    reader = csv.reader(io.StringIO(texts["regions"]))
    index = column_index(next(reader), "regions", ("date", "code", "cases"))
    rows = []
    for line, row in enumerate(reader, start=2):
        code = row[index["code"]]
        if not (len(code) == 2 and code.isalpha() and code.isupper()):
            raise ParseError("code is not two capitals", source="regions", line=line,
                             column="code", value=code)  # fmt: skip
        day = parse_date(row[index["date"]], source="regions", line=line, column="date")
        rows.append(RegionRow(day, code, parse_count(row[index["cases"]], source="regions",
                                                    line=line, column="cases")))  # fmt: skip
    return sorted(rows, key=lambda r: (r.code, r.date))


def regions_shrink(lost: Sequence[Key]) -> HistoryShrinks:
    return HistoryShrinks(f"the regions file lacks {len(lost)} stored row(s)")


def regions(url: str) -> Series:
    return Series(
        name="regions",
        table="regions",
        row=RegionRow,
        columns=(
            Column("date", dt.date, "Day, YYYY-MM-DD."),
            Column("code", str, "Two-letter region code."),
            Column("cases", int, "Cumulative cases."),
        ),
        partition="code",
        # Outside the catalogue: fetched from its default URL, named by its name in messages.
        sources=(Source("regions", "regions", None, "", url, "", "A test source."),),
        parse=parse_regions,
        build=lambda rows: Built(rows),
        shrinks=regions_shrink,
        log_prefix="regions:",
        tables={
            "sqlite": ("CREATE TABLE regions (date TEXT NOT NULL, code TEXT NOT NULL, "
                       "cases INTEGER NOT NULL CHECK (cases >= 0), "
                       "run_id INTEGER NOT NULL REFERENCES runs (id), "
                       "PRIMARY KEY (code, date)) WITHOUT ROWID",),
            "postgresql": ("CREATE TABLE regions (date DATE NOT NULL, code TEXT NOT NULL, "
                           "cases BIGINT NOT NULL CHECK (cases >= 0), "
                           "run_id BIGINT NOT NULL REFERENCES runs (id), "
                           "PRIMARY KEY (code, date))",),
        },
    )  # fmt: skip


# -- the tests ------------------------------------------------------------------------------------
DAY1 = "date,code,cases\n2021-01-01,AA,1\n2021-01-02,AA,3\n2021-01-01,BB,5\n"
# The next day's file: AA revises 2021-01-02, BB adds a day, CC is new.
DAY2 = DAY1.replace("2021-01-02,AA,3", "2021-01-02,AA,4") + "2021-01-02,BB,6\n2021-01-02,CC,1\n"


def serve(server: SourceServer, body: str) -> tuple[Series, dict[str, str]]:
    url = server.serve("/regions.csv", body.encode())
    return regions(url), serve_real(server)


def test_a_third_series_loads_revises_logs_and_counts_on_every_backend(
    database_url: str, source_server: SourceServer
) -> None:
    series, urls = serve(source_server, DAY1)
    first = run_etl(fast_settings(database_url, **urls), series=(*SERIES[:1], series))
    assert first.succeeded, first.run.error
    counts = first.run.counts("regions")
    assert counts is not None
    assert (counts.inserted, counts.updated, counts.unchanged) == (3, 0, 0)
    assert counts.data_through == dt.date(2021, 1, 2)
    assert first.run.inserted == 1100  # the national series loads beside it, unchanged
    assert first.run.to_dict()["regions"]["inserted"] == 3

    series, _ = serve(source_server, DAY2)
    second = run_etl(fast_settings(database_url, **urls), series=(*SERIES[:1], series))
    assert second.succeeded, second.run.error
    counts = second.run.counts("regions")
    assert counts is not None
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 1, 2)
    assert second.run.inserted == 0 and second.run.unchanged == 1100

    store = open_store(database_url)
    try:
        assert store.partitions(series) == ["AA", "BB", "CC"]
        assert store.rows(series, "AA") == [
            RegionRow(dt.date(2021, 1, 1), "AA", 1),
            RegionRow(dt.date(2021, 1, 2), "AA", 4),
        ]
        assert store.count(series) == 5
        assert store.latest_date(series) == dt.date(2021, 1, 2)
        logged = [
            (e.series, e.date.isoformat(), e.kind, e.before, e.after)
            for e in store.changes(run_id=second.run.id)
        ]
        assert logged == [
            ("regions:AA", "2021-01-02", "updated", {"cases": 3}, {"cases": 4}),
            ("regions:BB", "2021-01-02", "inserted", None, {"cases": 6}),
            ("regions:CC", "2021-01-02", "inserted", None, {"cases": 1}),
        ]
    finally:
        store.close()


def test_a_third_series_keeps_its_contract(sqlite_url: str, source_server: SourceServer) -> None:
    series, urls = serve(source_server, DAY1)
    assert run_etl(fast_settings(sqlite_url, **urls), series=(*SERIES[:1], series)).succeeded

    bad, _ = serve(source_server, DAY1 + "2021-01-03,aa,2\n")
    failed = run_etl(fast_settings(sqlite_url, **urls), series=(*SERIES[:1], bad)).run
    assert failed.status is RunStatus.FAILED and failed.failed_stage == "validate"
    assert (
        failed.error == "regions CSV: code is not two capitals (line 5, column 'code', value 'aa')"
    )

    shrunk, _ = serve(source_server, "date,code,cases\n2021-01-01,AA,1\n")
    failed = run_etl(fast_settings(sqlite_url, **urls), series=(*SERIES[:1], shrunk)).run
    assert failed.status is RunStatus.FAILED and failed.failed_stage == "transform"
    assert failed.error == "the regions file lacks 2 stored row(s)"
    store = open_store(sqlite_url)
    try:
        assert store.count(series) == 3  # nothing written by the failed runs
    finally:
        store.close()


def test_a_third_series_is_served_by_the_api(
    database_url: str, source_server: SourceServer
) -> None:
    series, urls = serve(source_server, DAY2)
    chosen = (*SERIES[:1], series)
    assert run_etl(fast_settings(database_url, **urls), series=chosen).succeeded
    app = create_app(fast_settings(database_url, schedule=SCHEDULE_OFF), series=chosen)
    with TestClient(app) as client:
        page = client.get("/api/v1/regions/AA/records").json()
        assert page["code"] == "AA" and page["total"] == 2
        assert [(r["date"], r["cases"]) for r in page["records"]] == [
            ("2021-01-01", 1),
            ("2021-01-02", 4),
        ]
        assert client.get("/api/v1/regions/ZZ/records").status_code == 404
        csv_text = client.get("/api/v1/regions/BB/records?format=csv").text
        # One partition's records, like one state's: the partition is the page's, not a column.
        assert csv_text.splitlines() == ["date,cases", "2021-01-01,5", "2021-01-02,6"]
        schema = client.get("/openapi.json").json()
        operation = schema["paths"]["/api/v1/regions/{code}/records"]["get"]
        assert operation["parameters"][0]["name"] == "code"
        page = schema["components"]["schemas"]["RegionsRecordsPage"]
        assert list(page["properties"]) == ["code", "records", "total", "limit", "offset"]
        record = schema["components"]["schemas"]["RegionsRecordOut"]["properties"]
        assert record["cases"]["description"] == "Cumulative cases."
