"""The NYT's notes as a source of a run, on every backend: fetched from a loopback host like the
other sources, stored with both series in one transaction, their additions, changes and removals
in the change log and the notification, a broken file failing the run with everything kept, and
``off`` leaving the averages to the negative-day rule."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from covid_etl.models import RunStatus
from covid_etl.run.pipeline import run_etl
from covid_etl.series import registry
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.store import open_store
from covid_etl.web.app import create_app
from tests.helpers.data import ANOMALIES_CURRENT, serve_real
from tests.helpers.env import fast_settings
from tests.helpers.servers import SourceServer, WebhookSink

NOTES_PATH = "/nytimes/covid-19-data/master/rolling-averages/anomalies.csv"
REAL_LINES = ANOMALIES_CURRENT.read_text().splitlines()


def notes_file(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def sources(server: SourceServer, lines: list[str] = REAL_LINES) -> dict[str, str]:
    return {**serve_real(server), "anomalies_url": server.serve(NOTES_PATH, notes_file(lines))}


def stored(database_url: str) -> tuple[list[Any], list[Any], int]:
    store = open_store(database_url)
    try:
        return (
            store.rows(registry.ANOMALIES),
            store.rows(registry.NATIONAL),
            store.count_changes(),
        )
    finally:
        store.close()


def test_notes_load_with_the_series_and_their_changes_are_logged_and_told(
    database_url: str, source_server: SourceServer, webhook: WebhookSink
) -> None:
    first = run_etl(fast_settings(database_url, **sources(source_server))).run
    assert first.status is RunStatus.SUCCEEDED
    notes, national, _ = stored(database_url)
    assert len(notes) == 615 and len(national) == 1100
    assert {s.name for s in first.sources} == {"nyt", "jhu", "anomalies"}

    # The NYT rewords one note, drops another and adds a third.
    lines = list(REAL_LINES)
    reworded = next(i for i, line in enumerate(lines) if line.startswith("2020-04-09,,,Wyoming"))
    lines[reworded] = lines[reworded].replace("Wyoming began", "Wyoming started")
    dropped = next(i for i, line in enumerate(lines) if ",USA-36998,deaths," in line)
    gone = lines.pop(dropped)
    lines.append("2021-07-06,2021-07-07,,California,USA-06,cases,yes,,A new backlog.")
    second = run_etl(
        fast_settings(database_url, notify=(webhook.url,), **sources(source_server, lines))
    ).run
    assert second.status is RunStatus.SUCCEEDED
    assert (second.inserted, second.updated) == (0, 0)  # the national series is unchanged

    store = open_store(database_url)
    try:
        entries = store.changes(run_id=second.id)
    finally:
        store.close()
    by_kind = {e.kind: e for e in entries}
    assert sorted(e.kind for e in entries) == ["inserted", "removed", "updated"]
    assert by_kind["updated"].series == "anomalies:USA-56:cases"
    assert by_kind["updated"].before["description"].startswith("Wyoming began")  # type: ignore[index]
    assert by_kind["updated"].after["description"].startswith("Wyoming started")  # type: ignore[index]
    assert by_kind["removed"].series == "anomalies:USA-36998:deaths"
    assert by_kind["removed"].date.isoformat() == gone.split(",")[0]
    assert by_kind["inserted"].series == "anomalies:USA-06:cases"
    assert by_kind["inserted"].after["end_date"] == "2021-07-07"  # type: ignore[index]
    assert len(stored(database_url)[0]) == 615

    (message,) = webhook.received
    assert (
        "NYT anomaly notes: added 1 (USA-06 cases on 2021-07-06..2021-07-07); changed 1 "
        in (message["message"])
    )
    assert f"removed 1 (USA-36998 deaths on {gone.split(',')[0]})" in message["message"]


# One broken line each, for every rule of the contract; the line is the file's second.
BROKEN = {
    "date": ("2020-04-09", "2020-4-09"),
    "end_date": (",,,Wyoming", ",2020-04-01,,Wyoming"),
    "geoid": ("USA-56", "USA-5"),
    "type": (",cases,", ",hospital,"),
    "omit_from_rolling_average": (",yes,,Wyoming", ",y,,Wyoming"),
}


def test_a_broken_notes_file_fails_the_run_and_keeps_everything(
    database_url: str, source_server: SourceServer
) -> None:
    wyoming = (
        "2020-04-09,,,Wyoming,USA-56,cases,yes,,Wyoming began reporting probable cases and deaths."
    )
    lines = [REAL_LINES[0], wyoming, *(line for line in REAL_LINES[1:] if line != wyoming)]
    assert run_etl(fast_settings(database_url, **sources(source_server, lines))).succeeded
    before = stored(database_url)
    for column, (good, bad) in BROKEN.items():
        broken = [lines[0], lines[1].replace(good, bad, 1), *lines[2:]]
        assert broken[1] != lines[1], column
        result = run_etl(fast_settings(database_url, **sources(source_server, broken)))
        run = result.run
        assert run.status is RunStatus.FAILED, column
        assert str(run.failed_stage) == "validate"
        assert run.error is not None and run.error.startswith("NYT anomalies CSV: "), run.error
        assert f"(line 2, column '{column}', value '" in run.error, run.error
        assert stored(database_url) == before, column


def test_notes_off_leaves_the_averages_to_the_negative_day_rule(
    database_url: str, source_server: SourceServer
) -> None:
    """2020-06-25: the NYT leaves New Jersey's probable deaths out of the national average."""
    urls = serve_real(source_server)
    run = run_etl(fast_settings(database_url, **urls, anomalies_url="OFF")).run
    assert run.status is RunStatus.SUCCEEDED and "anomalies" not in {s.name for s in run.sources}
    assert stored(database_url)[0] == []
    with TestClient(create_app(fast_settings(database_url, schedule=SCHEDULE_OFF))) as client:
        off = client.get("/api/v1/records?start=2020-06-25&end=2020-06-25").json()["records"][0]
    assert run_etl(fast_settings(database_url, **sources(source_server))).succeeded
    with TestClient(create_app(fast_settings(database_url, schedule=SCHEDULE_OFF))) as client:
        on = client.get("/api/v1/records?start=2020-06-25&end=2020-06-25").json()["records"][0]
    assert off["new_deaths"] == on["new_deaths"] > 2000
    assert (off["new_deaths_omitted"], on["new_deaths_omitted"]) == (False, True)
    assert off["new_deaths_7d_avg"] > on["new_deaths_7d_avg"] + 200
