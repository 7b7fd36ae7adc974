"""The change log on the real revision pairs, on every backend: what each run inserted, revised or
removed, with the values before and after, written in the load transaction or not at all."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from covid_etl.models import ChangeEntry, RunStatus
from covid_etl.run.pipeline import run_etl
from covid_etl.series import registry
from covid_etl.series.changelog import change_lines
from covid_etl.settings import Settings
from covid_etl.store import open_store
from covid_etl.store.copy import copy_store
from tests.helpers.backends import on_s3, on_sqlite_and_postgres
from tests.helpers.data import (
    JHU_CURRENT,
    NYT_CURRENT,
    STATES_REAL,
    jhu_history,
    nyt_history,
    serve_real,
)
from tests.helpers.env import cli_env, fast_settings
from tests.helpers.reference import expected_rows
from tests.helpers.schema import SERIES_BEFORE_8, store_at_schema_version, upgraded_store
from tests.helpers.servers import Response, SmtpSink, SourceServer
from tests.helpers.stalled import stalled_run

ROOT = Path(__file__).parents[2]
NYT_PATH = "/nytimes/covid-19-data/master/us.csv"
STATE_ROWS_THROUGH_2021_06_30 = 27_129 - 440  # the real file without its last 8 days


def day(source_server: SourceServer, date: str) -> dict[str, str]:
    return serve_real(source_server, nyt_history(date), jhu_history(date))


def logged(database_url: str, run_id: int | None = None) -> list[ChangeEntry]:
    store = open_store(database_url)
    try:
        return store.changes(run_id=run_id)
    finally:
        store.close()


def by_date(date: str) -> dict[str, dict[str, int | None]]:
    """The reference rows of one day's files, as change-log values."""
    rows = expected_rows(nyt_history(date), jhu_history(date))
    return {d: {"cases": c, "deaths": de, "recovered": r} for d, c, de, r in rows}


def test_real_revisions_2021_06_15_to_16_log_1_insert_16_updates_with_both_values(
    database_url: str, source_server: SourceServer
) -> None:
    first = run_etl(fast_settings(database_url, **day(source_server, "2021-06-15"))).run
    second = run_etl(fast_settings(database_url, **day(source_server, "2021-06-16"))).run
    assert second.status is RunStatus.SUCCEEDED

    initial = logged(database_url, first.id)
    assert len(initial) == 512 and {e.kind for e in initial} == {"inserted"}

    entries = logged(database_url, second.id)
    assert len(entries) == 17
    assert [e.kind for e in entries].count("inserted") == 1
    assert [e.kind for e in entries].count("updated") == 16
    old, new = by_date("2021-06-15"), by_date("2021-06-16")
    for entry in entries:
        key = entry.date.isoformat()
        assert entry.series == "national" and entry.run_id == second.id
        assert entry.after == new[key]
        assert entry.before == (old[key] if entry.kind == "updated" else None)
        assert entry.before != entry.after
    inserted = next(e for e in entries if e.kind == "inserted")
    assert inserted.date.isoformat() == "2021-06-16"
    # The revised days are the 16 before the new one (the NYT revises its recent past).
    assert {e.date.isoformat() for e in entries if e.kind == "updated"} == {
        d for d in old if old[d] != new[d]
    }


def test_real_revisions_2020_12_13_to_14_log_one_insert_with_null_recovered(
    database_url: str, source_server: SourceServer
) -> None:
    run_etl(fast_settings(database_url, **day(source_server, "2020-12-13")))
    second = run_etl(fast_settings(database_url, **day(source_server, "2020-12-14"))).run
    entries = logged(database_url, second.id)
    assert len(entries) == 1
    (entry,) = entries
    assert (entry.date.isoformat(), entry.kind, entry.before) == ("2020-12-14", "inserted", None)
    assert entry.after == by_date("2020-12-14")["2020-12-14"]
    assert entry.after is not None and entry.after["recovered"] is None


def test_rerun_and_failed_run_log_nothing(database_url: str, source_server: SourceServer) -> None:
    urls = day(source_server, "2021-06-15")
    first = run_etl(fast_settings(database_url, **urls)).run
    rerun = run_etl(fast_settings(database_url, **urls)).run
    assert rerun.status is RunStatus.SUCCEEDED and rerun.changed == 0
    # New data that fails validation half-way through the file: the run fails, logs nothing.
    good = nyt_history("2021-06-16").read_bytes().splitlines(keepends=True)
    bad = b"".join([*good[:-3], b"2021-06-14,not-a-number,600000\n", *good[-2:]])
    source_server.script(NYT_PATH, [Response(200, bad)])
    failed = run_etl(fast_settings(database_url, **urls)).run
    assert failed.status is RunStatus.FAILED
    store = open_store(database_url)
    try:
        assert store.count_changes() == 512
        assert store.count_changes(run_id=rerun.id) == store.count_changes(run_id=failed.id) == 0
        assert store.last_changed_run_id() == first.id
    finally:
        store.close()


def test_run_killed_mid_load_leaves_no_entries(
    database_url: str, source_server: SourceServer
) -> None:
    first = run_etl(fast_settings(database_url, **day(source_server, "2021-06-15"))).run
    new = day(source_server, "2021-06-16")
    env = cli_env(database_url, COVID_ETL_NYT_URL=new["nyt_url"], COVID_ETL_JHU_URL=new["jhu_url"])
    with stalled_run(env):
        pass  # killed inside its load transaction on leaving the block
    store = open_store(database_url)
    try:
        assert store.count_changes() == 512
        assert store.last_changed_run_id() == first.id
    finally:
        store.close()
    # The next run records the revisions the killed one never committed.
    after = run_etl(fast_settings(database_url, **new)).run
    assert len(logged(database_url, after.id)) == 17


# -- the per-state series -------------------------------------------------------------------------


def states_file(path: Path, last_day: str, revise: str | None = None) -> Path:
    """The real states file up to ``last_day``; ``revise`` names a "date,fips" row whose cases
    are raised by 1,000 (a revision as the NYT publishes them)."""
    lines = STATES_REAL.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        if line[:10] > last_day:
            continue
        cells = line.split(",")
        if revise is not None and f"{cells[0]},{cells[2]}" == revise:
            cells[3] = str(int(cells[3]) + 1000)
        out.append(",".join(cells))
    path.write_text("\n".join(out) + "\n")
    return path


def states_settings(database_url: str, states: Path) -> Settings:
    return fast_settings(
        database_url, nyt_url=str(NYT_CURRENT), jhu_url=str(JHU_CURRENT), states_url=str(states)
    )


def test_states_entries_name_the_fips_with_values_before_and_after(
    database_url: str, tmp_path: Path
) -> None:
    cut = states_file(tmp_path / "cut.csv", "2021-06-30")
    first = run_etl(states_settings(database_url, cut)).run
    revised = states_file(tmp_path / "revised.csv", "2021-07-08", revise="2021-06-30,36")
    second = run_etl(states_settings(database_url, revised)).run
    assert second.status is RunStatus.SUCCEEDED

    store = open_store(database_url)
    try:
        initial = store.count_changes(run_id=first.id)
        entries = store.changes(run_id=second.id)
        new_york = store.changes(series="36", start=dt.date(2021, 6, 30), end=dt.date(2021, 7, 1))
    finally:
        store.close()
    assert initial == 1100 + STATE_ROWS_THROUGH_2021_06_30
    # 55 jurisdictions x 8 new days, and the revised row; the national series is unchanged.
    assert len(entries) == 441
    (update,) = [e for e in entries if e.kind == "updated"]
    assert (update.series, update.date.isoformat()) == ("36", "2021-06-30")
    assert update.before is not None and update.after is not None
    assert update.after["cases"] - update.before["cases"] == 1000
    assert update.before["name"] == update.after["name"] == "New York"
    assert all(e.series != "national" for e in entries)
    # Every recorded revision of a date range: the initial insert, then the revision.
    assert [(e.run_id, e.date.isoformat(), e.kind) for e in new_york] == [
        (first.id, "2021-06-30", "inserted"),
        (second.id, "2021-06-30", "updated"),
        (second.id, "2021-07-01", "inserted"),
    ]


def test_inserted_state_entries_hold_each_new_rows_values(
    database_url: str, tmp_path: Path
) -> None:
    """The store writes a new row's entry with the row (not from a Python-side copy): on every
    backend it must read back as the same mapping, with integer figures."""
    cut = states_file(tmp_path / "cut.csv", "2021-06-30")
    first = run_etl(states_settings(database_url, cut)).run
    full = states_file(tmp_path / "full.csv", "2021-07-08")
    second = run_etl(states_settings(database_url, full)).run
    assert second.status is RunStatus.SUCCEEDED

    store = open_store(database_url)
    try:
        rows = {(r.fips, r.date): r for r in store.rows(registry.STATES)}
        entries = [e for e in store.changes() if e.series != "national"]
    finally:
        store.close()
    assert len(entries) == len(rows) == 27_129
    assert {e.run_id for e in entries if e.date <= dt.date(2021, 6, 30)} == {first.id}
    assert {e.run_id for e in entries if e.date > dt.date(2021, 6, 30)} == {second.id}
    for entry in entries:
        row = rows[(entry.series, entry.date)]
        assert (entry.kind, entry.before) == ("inserted", None)
        assert entry.after == {"name": row.name, "cases": row.cases, "deaths": row.deaths}
        assert entry.after is not None
        assert type(entry.after["cases"]) is int and type(entry.after["deaths"]) is int


# -- db copy --------------------------------------------------------------------------------------


def test_db_copy_copies_the_change_log(
    database_url: str, source_server: SourceServer, tmp_path: Path
) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    run_etl(fast_settings(source, **day(source_server, "2021-06-15")))
    run_etl(fast_settings(source, **day(source_server, "2021-06-16")))
    copy_store(source, database_url)
    assert logged(database_url) == logged(source)
    assert len(logged(database_url, 2)) == 17


# -- covid-etl changes ----------------------------------------------------------------------------


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "changes", *args],
        cwd=ROOT, env={**cli_env(database_url), "COLUMNS": "200"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_changes_command_shows_the_latest_changing_run(
    sqlite_url: str, source_server: SourceServer
) -> None:
    run_etl(fast_settings(sqlite_url, **day(source_server, "2021-06-15")))
    run_etl(fast_settings(sqlite_url, **day(source_server, "2021-06-16")))
    run_etl(fast_settings(sqlite_url, **day(source_server, "2021-06-16")))  # changes nothing

    table = cli(sqlite_url)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "Run #2 changed 17 row(s)"
    assert lines[1].strip() == (
        "national: 1 inserted (2021-06-16), 16 updated (2021-05-14..2021-05-18, 2021-05-25, "
        "2021-05-27, 2021-06-01, 2021-06-08..2021-06-15)"
    )
    old, new = by_date("2021-06-15")["2021-06-15"], by_date("2021-06-16")["2021-06-15"]
    assert old["cases"] is not None and new["cases"] is not None
    delta = new["cases"] - old["cases"]
    revised = next(line for line in lines[2:] if " 2021-06-15 " in line)
    assert "updated" in revised
    assert f"{old['cases']:,} → {new['cases']:,} ({delta:+,})" in revised

    as_csv = cli(sqlite_url, "1", "--format", "csv").stdout.splitlines()
    assert as_csv[0].startswith("run_id,series,date,kind,cases_before,cases_after")
    assert len(as_csv) == 1 + 512
    # The initial load's 512 consecutive days are one range in the table.
    initial = cli(sqlite_url, "1").stdout
    assert "2020-01-21..2021-06-15" in initial and initial.count("inserted") == 2

    as_json = json.loads(cli(sqlite_url, "2", "--series", "national", "--format", "json").stdout)
    assert len(as_json) == 17 and as_json[0]["before"] == by_date("2021-06-15")["2021-05-14"]
    assert json.loads(cli(sqlite_url, "2", "--series", "36", "--format", "json").stdout) == []


def test_changes_command_refuses_unknown_run_and_bad_series(
    sqlite_url: str, source_server: SourceServer
) -> None:
    run_etl(fast_settings(sqlite_url, **day(source_server, "2021-06-15")))
    unknown = cli(sqlite_url, "99")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("Error: no run #99 in sqlite:///")
    bad = cli(sqlite_url, "--series", "New York")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "Error: --series 'New York': expected `national`, a two-digit FIPS code such as 36, or "
        "an NYT note's `anomalies:GEOID:TYPE` such as anomalies:USA-06:cases"
    )


# -- notifications --------------------------------------------------------------------------------


def test_success_email_lists_what_changed(
    database_url: str, source_server: SourceServer, smtp: SmtpSink
) -> None:
    run_etl(fast_settings(database_url, **day(source_server, "2021-06-15")))
    run_etl(
        fast_settings(database_url, notify=(smtp.mailto(),), **day(source_server, "2021-06-16"))
    )
    body = smtp.messages[-1].body
    assert (
        "What changed:\n  National: added 1 day (2021-06-16); revised 16 past days "
        "(2021-05-14..2021-05-18, 2021-05-25, 2021-05-27, 2021-06-01, 2021-06-08..2021-06-15); "
        "largest change: cases on 2021-06-15 +91\n"
    ) in body


def test_change_lines_show_ten_ranges_then_how_many_more_days() -> None:
    start = dt.date(2021, 3, 1)
    # 15 revised days, none adjacent: 15 ranges, ten shown.
    entries = [
        ChangeEntry("national", start + dt.timedelta(days=2 * i), "updated",
                    {"cases": 100, "deaths": 1, "recovered": None},
                    {"cases": 100 + i, "deaths": 1, "recovered": None})
        for i in range(15)
    ]  # fmt: skip
    entries.append(
        ChangeEntry("06", start, "inserted", None, {"name": "California", "cases": 5, "deaths": 0})
    )
    national, states = change_lines(entries)
    assert national == (
        "National: revised 15 past days (2021-03-01, 2021-03-03, 2021-03-05, 2021-03-07, "
        "2021-03-09, 2021-03-11, 2021-03-13, 2021-03-15, 2021-03-17, 2021-03-19 and 5 more); "
        "largest change: cases on 2021-03-29 +14"
    )
    assert states == "States and territories: added 1 row(s) (fips 06: 2021-03-01)"


# -- the AWS deployment's CHANGE_LOG.csv -----------------------------------------------------------


@on_s3
def test_s3_publishes_the_original_change_log_of_the_latest_changing_run(
    database_url: str, source_server: SourceServer
) -> None:
    import boto3

    bucket = database_url[len("s3://") :].split("/", 1)[0]
    s3 = boto3.client("s3")
    run_etl(fast_settings(database_url, **day(source_server, "2021-06-15")))

    def published() -> list[str]:
        body = s3.get_object(Bucket=bucket, Key="testing/CHANGE_LOG.csv")["Body"].read()
        return list(body.decode().splitlines())

    initial = published()
    assert initial[0] == "date,status_update" and len(initial) == 1 + 512
    assert set(initial[1:]) == {f"{d},NEW RECORD" for d in by_date("2021-06-15")}

    run_etl(fast_settings(database_url, **day(source_server, "2021-06-16")))
    old, new = by_date("2021-06-15"), by_date("2021-06-16")
    revised = sorted(d for d in old if old[d] != new[d])
    assert published() == [
        "date,status_update",
        *(f"{d},UPDATED_RECORD" for d in revised),
        "2021-06-16,NEW RECORD",
    ]
    # A run that changes nothing leaves the file as it was (the latest changing run's).
    version = s3.head_object(Bucket=bucket, Key="testing/CHANGE_LOG.csv")["VersionId"]
    assert run_etl(fast_settings(database_url, **day(source_server, "2021-06-16"))).succeeded
    assert s3.head_object(Bucket=bucket, Key="testing/CHANGE_LOG.csv")["VersionId"] == version


# -- schema upgrade -------------------------------------------------------------------------------


# The S3 store runs the SQLite store's migrations on its local copy: the SQLite case covers it.
@on_sqlite_and_postgres
def test_schema_6_keeps_every_change_entry_and_still_refuses_an_unknown_kind(
    database_url: str, tmp_path: Path
) -> None:
    """Version 6 rewrites the change log's kind check (SQLite rebuilds the table for it)."""
    with store_at_schema_version(database_url, 5) as old:
        cut = states_file(tmp_path / "cut.csv", "2021-06-30")
        run_etl(states_settings(database_url, cut), store=old, series=SERIES_BEFORE_8)
        before = old.changes()
    assert len(before) == 816 + STATE_ROWS_THROUGH_2021_06_30  # that version's inner join
    with upgraded_store(database_url) as store:
        assert store.changes() == before
        refused = pytest.raises(Exception, match=r"(?i)check constraint")
        with refused, store._transaction() as cur:
            cur.execute(
                store._sql("INSERT INTO changes (run_id, series, date, kind) VALUES (?, ?, ?, ?)"),
                (before[0].run_id, "06", "2021-07-09", "revised"),
            )
    # The next run writes entries into the rebuilt table.
    full = run_etl(states_settings(database_url, states_file(tmp_path / "f.csv", "2021-07-08")))
    assert full.run.status is RunStatus.SUCCEEDED
    store = open_store(database_url)
    try:
        # The new per-state days, and the NYT's days the old inner join left out (the upgrade's
        # first run rebuilds the series by today's rules).
        assert store.count_changes(run_id=full.run.id) == 440 + 284
    finally:
        store.close()


@on_sqlite_and_postgres
def test_a_database_from_before_the_change_log_upgrades_and_logs_the_next_run(
    database_url: str, source_server: SourceServer
) -> None:
    with store_at_schema_version(database_url, 4):
        pass  # the schema before the change log
    first = run_etl(fast_settings(database_url, **day(source_server, "2021-06-15"))).run
    assert first.status is RunStatus.SUCCEEDED
    store = open_store(database_url)
    try:
        assert store.schema_version() == len(store.migrations)  # type: ignore[attr-defined]
        assert store.count_changes(run_id=first.id) == 512
    finally:
        store.close()
