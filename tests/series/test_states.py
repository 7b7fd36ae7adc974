"""The per-state series end to end: the real NYT us-states.csv through the pipeline into SQLite
and PostgreSQL, checked against an independent reference of the contract."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from covid_etl.cli import app
from covid_etl.models import RunRecord, RunStatus, Stage, Trigger, utcnow
from covid_etl.publish.export import by_date, write_csv
from covid_etl.run.pipeline import run_etl
from covid_etl.series import registry
from covid_etl.settings import Settings
from covid_etl.store import open_store
from covid_etl.store.base import SeriesWrite, StoredState
from tests.helpers.backends import on_sqlite_and_postgres
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT, STATES_REAL, serve_real
from tests.helpers.env import cli_env, fast_settings
from tests.helpers.loaded import LoadedStores
from tests.helpers.reference_states import decreasing_states, expected_states_csv
from tests.helpers.schema import (
    SERIES_BEFORE_8,
    record_run_at_schema_version,
    store_at_schema_version,
    upgraded_store,
)
from tests.helpers.servers import SourceServer

REAL_ROWS = 27_129
ROWS_AFTER_2021_06_30 = 440  # 55 jurisdictions x 8 days (2021-07-01..2021-07-08)
HEADER = "date,state,fips,cases,deaths"


def settings_for(database_url: str, states: Path | str, **overrides: object) -> Settings:
    sources: dict[str, object] = {"nyt_url": str(NYT_CURRENT), "jhu_url": str(JHU_CURRENT)}
    return fast_settings(database_url, **{**sources, "states_url": str(states), **overrides})


def exported_states(database_url: str) -> str:
    store = open_store(database_url)
    try:
        out = io.StringIO()
        write_csv(registry.STATES, by_date(registry.STATES, store.rows(registry.STATES)), out)
        return out.getvalue()
    finally:
        store.close()


def stored_counts(database_url: str) -> tuple[int, int]:
    """(national rows, per-state rows) in the store."""
    store = open_store(database_url)
    try:
        return store.count(registry.NATIONAL), store.count(registry.STATES)
    finally:
        store.close()


# The run the tests below start from: settings_for(..., STATES_REAL).
REAL_STATES_RUN = (
    {"nyt_url": str(NYT_CURRENT), "jhu_url": str(JHU_CURRENT), "states_url": str(STATES_REAL)},
)


@pytest.fixture
def real_states_loaded(
    database_url: str, loaded_stores: LoadedStores, request: pytest.FixtureRequest
) -> str:
    """``database_url`` after one run of the real states file: a copy of a store that run
    loaded once for the session."""
    return loaded_stores.copy_into(request, database_url, REAL_STATES_RUN)


def real_lines() -> list[str]:
    """The real file's data lines (without the header)."""
    return STATES_REAL.read_text().splitlines()[1:]


def write_lines(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def cut_at(path: Path, last_day: str, lines: list[str] | None = None) -> Path:
    """The real file without the rows after ``last_day``."""
    return write_lines(path, [line for line in lines or real_lines() if line[:10] <= last_day])


def states_of(run: RunRecord) -> tuple[int, int, int, str | None]:
    assert run.states is not None
    through = run.states.data_through.isoformat() if run.states.data_through else None
    return run.states.inserted, run.states.updated, run.states.unchanged, through


# -- acceptance on the real file ------------------------------------------------------------------


def test_initial_load_of_the_real_states_file_equals_the_reference(database_url: str) -> None:
    run = run_etl(settings_for(database_url, STATES_REAL)).run

    assert run.status is RunStatus.SUCCEEDED, run.error
    assert states_of(run) == (REAL_ROWS, 0, 0, "2021-07-08")
    assert exported_states(database_url) == expected_states_csv(STATES_REAL)
    # The national series is loaded as before, from its own source: never from the states.
    assert (run.inserted, run.data_through and run.data_through.isoformat()) == (1100, "2023-01-24")


def test_decreases_are_one_warning_line_per_state(database_url: str) -> None:
    run = run_etl(settings_for(database_url, STATES_REAL)).run

    state_lines = [w for w in run.warnings if w.startswith("states: ")]
    expected = decreasing_states(STATES_REAL)
    # The real file: 37 decreases of cases in 25 states, 152 of deaths in 37.
    assert sum(c for c, _ in expected.values()) == 37
    assert sum(1 for c, _ in expected.values() if c) == 25
    assert sum(d for _, d in expected.values()) == 152
    assert sum(1 for _, d in expected.values() if d) == 37
    assert len(state_lines) == len(expected)
    for name, (cases, deaths) in expected.items():
        (line,) = [w for w in state_lines if w.startswith(f"states: {name} (")]
        assert (f"cases decrease on {cases} day(s)" in line) == bool(cases)
        assert (f"deaths decrease on {deaths} day(s)" in line) == bool(deaths)


def test_rerun_on_the_same_file_changes_nothing(database_url: str, real_states_loaded: str) -> None:
    settings = settings_for(database_url, STATES_REAL)

    again = run_etl(settings).run

    assert again.status is RunStatus.SUCCEEDED
    assert states_of(again) == (0, 0, REAL_ROWS, "2021-07-08")
    assert exported_states(database_url) == expected_states_csv(STATES_REAL)


def test_rerun_on_reordered_rows_compares_every_row_and_changes_nothing(
    database_url: str, real_states_loaded: str, tmp_path: Path
) -> None:
    lines = real_lines()
    random.Random(11).shuffle(lines)
    # Rows shuffled and columns in another order: other bytes, the same data.
    shuffled = write_lines(
        tmp_path / "shuffled.csv", [_reorder(line) for line in lines],
        header="fips,deaths,cases,state,date",
    )  # fmt: skip

    again = run_etl(settings_for(database_url, shuffled)).run

    assert again.status is RunStatus.SUCCEEDED, again.error
    assert states_of(again) == (0, 0, REAL_ROWS, "2021-07-08")


def _reorder(line: str) -> str:
    day, name, fips, cases, deaths = line.split(",")
    return ",".join((fips, deaths, cases, name, day))


def test_revision_cut_at_2021_06_30_then_full_inserts_the_new_days(
    database_url: str, tmp_path: Path
) -> None:
    cut = cut_at(tmp_path / "cut.csv", "2021-06-30")
    first = run_etl(settings_for(database_url, cut)).run
    assert states_of(first) == (REAL_ROWS - ROWS_AFTER_2021_06_30, 0, 0, "2021-06-30")

    full = run_etl(settings_for(database_url, STATES_REAL)).run

    assert states_of(full) == (ROWS_AFTER_2021_06_30, 0, REAL_ROWS - ROWS_AFTER_2021_06_30,
                               "2021-07-08")  # fmt: skip
    assert exported_states(database_url) == expected_states_csv(STATES_REAL)


def test_revised_past_values_are_counted_as_updated(
    database_url: str, real_states_loaded: str, tmp_path: Path
) -> None:
    lines = real_lines()
    revised = {"2020-06-01,California,06", "2020-12-25,Texas,48", "2021-03-01,Guam,66"}
    for i, line in enumerate(lines):
        if line[: line.rfind(",", 0, line.rfind(","))] in revised:
            day, name, fips, cases, deaths = line.split(",")
            lines[i] = ",".join((day, name, fips, str(int(cases) + 5), deaths))
    changed = write_lines(tmp_path / "revised.csv", lines)

    run = run_etl(settings_for(database_url, changed)).run

    assert states_of(run) == (0, 3, REAL_ROWS - 3, "2021-07-08")
    assert exported_states(database_url) == expected_states_csv(changed)


# -- the contract's failures: the whole run fails and both series stay as they were ---------------


def small_real(tmp_path: Path) -> list[str]:
    """A cut-down real file (to 2020-04-30) where the size does not matter."""
    return [line for line in real_lines() if line[:10] <= "2020-04-30"]


MALFORMED = {
    # rule: (change to the data lines or header, expected words in the error)
    "missing column": ("header", "missing required column(s): deaths"),
    "date not ISO": ("date=04/30/2020", "line 2, column 'date', value '04/30/2020'"),
    "date in the future": ("date=2999-01-01", "date is in the future"),
    "negative count": ("cases=-5", "column 'cases', value '-5'"),
    "count not an integer": ("deaths=12.5", "column 'deaths', value '12.5'"),
    "fips not two digits": ("fips=6", "fips is not a two-digit code"),
    "duplicate date and fips": ("duplicate", "second row for fips"),
    "fips renamed": ("rename", "is named"),
}


def malformed_file(path: Path, lines: list[str], rule: str) -> Path:
    change = MALFORMED[rule][0]
    lines = list(lines)
    if change == "header":
        return write_lines(path, [",".join(line.split(",")[:4]) for line in lines],
                           header="date,state,fips,cases")  # fmt: skip
    if change == "duplicate":
        return write_lines(path, [*lines, lines[-1]])
    if change == "rename":
        day, _, fips, cases, deaths = lines[-1].split(",")
        return write_lines(path, [*lines[:-1], ",".join((day, "Somewhere", fips, cases, deaths))])
    column, value = change.split("=")
    parts = lines[0].split(",")
    parts[HEADER.split(",").index(column)] = value
    return write_lines(path, [",".join(parts), *lines[1:]])


@pytest.mark.parametrize("rule", list(MALFORMED))
def test_malformed_states_input_fails_the_run_and_leaves_both_series_unchanged(
    database_url: str, tmp_path: Path, rule: str
) -> None:
    lines = small_real(tmp_path)
    # Day 1: national series without its last 30 days, states to 2020-04-25.
    nyt_lines = NYT_CURRENT.read_text().splitlines()
    nyt_cut = tmp_path / "us.csv"
    nyt_cut.write_text("\n".join(nyt_lines[:-30]) + "\n")
    day1 = cut_at(tmp_path / "day1.csv", "2020-04-25", lines)
    first = run_etl(settings_for(database_url, day1, nyt_url=str(nyt_cut))).run
    assert first.status is RunStatus.SUCCEEDED, first.error
    before = stored_counts(database_url), exported_states(database_url)

    # Day 2: the national source has new days, the states source breaks one contract rule.
    bad = malformed_file(tmp_path / "bad.csv", lines, rule)
    run = run_etl(settings_for(database_url, bad)).run

    assert run.status is RunStatus.FAILED
    assert run.failed_stage is Stage.VALIDATE
    assert run.error is not None and run.error.startswith("NYT states CSV")
    assert MALFORMED[rule][1] in run.error
    assert "\n" not in run.error
    assert (stored_counts(database_url), exported_states(database_url)) == before
    assert run.states is not None and run.states.data_through is not None
    assert (run.states.inserted, run.states.updated) == (0, 0)


def test_a_failing_national_source_leaves_the_states_unchanged(
    database_url: str, tmp_path: Path
) -> None:
    lines = small_real(tmp_path)
    day1 = cut_at(tmp_path / "day1.csv", "2020-04-25", lines)
    run_etl(settings_for(database_url, day1))
    before = stored_counts(database_url), exported_states(database_url)
    broken_nyt = tmp_path / "us.csv"
    broken_nyt.write_text("date,cases,deaths\n2020-01-21,1,zero\n")
    day2 = write_lines(tmp_path / "day2.csv", lines)

    run = run_etl(settings_for(database_url, day2, nyt_url=str(broken_nyt))).run

    assert run.status is RunStatus.FAILED and run.failed_stage is Stage.VALIDATE
    assert run.error is not None and "NYT CSV" in run.error
    assert (stored_counts(database_url), exported_states(database_url)) == before


def test_states_that_lack_stored_rows_are_refused(database_url: str, tmp_path: Path) -> None:
    lines = small_real(tmp_path)
    run_etl(settings_for(database_url, write_lines(tmp_path / "all.csv", lines)))
    before = exported_states(database_url)
    without_ny = [line for line in lines if ",36," not in line or line[:10] < "2020-04-29"]
    shrunk = write_lines(tmp_path / "shrunk.csv", without_ny)

    run = run_etl(settings_for(database_url, shrunk)).run

    assert run.status is RunStatus.FAILED and run.failed_stage is Stage.TRANSFORM
    assert run.error is not None
    assert "lacks 2 (date, fips) row(s)" in run.error
    assert "fips 36: 2020-04-29..2020-04-30" in run.error
    assert "--accept-removals" in run.error
    assert exported_states(database_url) == before


def test_accept_removals_deletes_the_dropped_state_rows(database_url: str, tmp_path: Path) -> None:
    lines = small_real(tmp_path)
    run_etl(settings_for(database_url, write_lines(tmp_path / "all.csv", lines)))
    without_ny = [line for line in lines if ",36," not in line or line[:10] < "2020-04-29"]
    shrunk = write_lines(tmp_path / "shrunk.csv", without_ny)

    run = run_etl(settings_for(database_url, shrunk), accept_removals=True).run

    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.states is not None and run.states.removed == 2
    assert exported_states(database_url) == expected_states_csv(shrunk)


# -- off, fetching, CLI ---------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command run in this process by click's runner, with ``env`` as its whole environment:
    what these tests check is what it prints and stores, not how a process behaves."""
    unset: dict[str, str | None] = {key: None for key in os.environ if key not in env}
    result = CliRunner().invoke(app, list(args), env={**unset, **env})
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def states_env(database_url: str) -> dict[str, str]:
    return cli_env(
        database_url,
        COVID_ETL_NYT_URL=str(NYT_CURRENT),
        COVID_ETL_JHU_URL=str(JHU_CURRENT),
        COVID_ETL_STATES_URL=str(STATES_REAL),
    )


def test_states_off_runs_the_national_series_only(database_url: str) -> None:
    env = cli_env(database_url, COVID_ETL_NYT_URL=str(NYT_CURRENT),
                  COVID_ETL_JHU_URL=str(JHU_CURRENT), COVID_ETL_STATES_URL="off")  # fmt: skip

    done = run_cli("run", "--json", env=env)

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["states"] is None
    assert (summary["inserted"], summary["data_through"]) == (1100, "2023-01-24")
    assert not any(w.startswith("states:") for w in summary["warnings"])
    assert stored_counts(database_url) == (1100, 0)
    listed = json.loads(run_cli("runs", "--json", env=env).stdout)
    assert listed[0]["states"] is None


def test_cli_run_json_runs_json_and_export_states(database_url: str) -> None:
    env = states_env(database_url)

    done = run_cli("run", "--json", env=env)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["states"] == {
        "inserted": REAL_ROWS, "updated": 0, "unchanged": 0, "data_through": "2021-07-08"
    }  # fmt: skip
    listed = json.loads(run_cli("runs", "--json", env=env).stdout)
    assert listed[0]["states"]["inserted"] == REAL_ROWS
    exported = run_cli("export", "--states", env=env)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == expected_states_csv(STATES_REAL)
    as_json = json.loads(run_cli("export", "--states", "--format", "json", env=env).stdout)
    assert as_json[0] == {"date": "2020-01-21", "fips": "53", "state": "Washington",
                          "cases": 1, "deaths": 0}  # fmt: skip


def test_terminal_summary_shows_the_states(sqlite_url: str) -> None:
    env = states_env(sqlite_url)

    done = run_cli("run", env=env)

    assert done.returncode == 0, done.stderr
    assert (f"\nStates: {REAL_ROWS} row(s) changed ({REAL_ROWS} inserted, 0 updated, 0 unchanged); "
            "data through 2021-07-08.\n" in done.stdout)  # fmt: skip


def test_offline_run_loads_the_shipped_states_snapshot(sqlite_url: str) -> None:
    # The default states URL with --offline: the snapshot shipped in the package, no network.
    env = cli_env(sqlite_url)
    del env["COVID_ETL_STATES_URL"]

    done = run_cli("run", "--offline", "--json", env=env)

    assert done.returncode == 0, done.stderr
    states = json.loads(done.stdout)["states"]
    assert (states["inserted"], states["data_through"]) == (REAL_ROWS, "2021-07-08")


def test_states_are_downloaded_like_the_other_sources(
    database_url: str, source_server: SourceServer
) -> None:
    urls = serve_real(source_server)
    urls["states_url"] = source_server.serve(
        "/nytimes/covid-19-data/master/us-states.csv", STATES_REAL.read_bytes()
    )
    settings = fast_settings(database_url, **urls)
    first = run_etl(settings).run
    assert states_of(first) == (REAL_ROWS, 0, 0, "2021-07-08")
    by_name = {s.name: s for s in first.sources}
    assert by_name["states"].sha256 is not None and by_name["states"].etag is not None

    again = run_etl(settings).run

    # Conditional requests: all three answered 304 Not Modified, nothing was parsed.
    assert all(s.not_modified and s.status == 304 for s in again.sources)
    assert states_of(again) == (0, 0, REAL_ROWS, "2021-07-08")


def test_db_copy_copies_the_states(
    database_url: str, tmp_path: Path, loaded_stores: LoadedStores, request: pytest.FixtureRequest
) -> None:
    source = loaded_stores.sqlite_copy(request, tmp_path, REAL_STATES_RUN)
    env = cli_env(database_url)

    done = run_cli("db", "copy", "--from", source, "--to", database_url, env=env)

    assert done.returncode == 0, done.stderr
    assert f"with {REAL_ROWS} per-state row(s)" in done.stdout
    assert exported_states(database_url) == expected_states_csv(STATES_REAL)
    store = open_store(database_url)
    try:
        run = store.get_run(1)
    finally:
        store.close()
    assert run is not None and states_of(run) == (REAL_ROWS, 0, 0, "2021-07-08")


def test_export_states_is_sorted_by_date_then_fips(
    database_url: str, real_states_loaded: str
) -> None:
    rows = list(csv.reader(io.StringIO(exported_states(database_url))))[1:]
    keys = [(r[0], r[1]) for r in rows]
    assert keys == sorted(keys) and len(keys) == REAL_ROWS


# The S3 store runs the SQLite store's migrations on its local copy: the SQLite case covers it.
@on_sqlite_and_postgres
def test_runs_recorded_before_the_states_migration_read_as_states_off(database_url: str) -> None:
    record_run_at_schema_version(database_url, 3)  # the schema before it
    with upgraded_store(database_url) as store:
        [upgraded] = store.list_runs()
        assert upgraded.states is None
        assert store.rows(registry.STATES) == [] and store.latest_date(registry.STATES) is None


def states_key_and_indexes(store: Any) -> tuple[list[str], list[str]]:
    """The per-state table's key columns, in order, and its indexes besides the key."""
    if store.paramstyle == "qmark":  # SQLite
        key = "SELECT name FROM pragma_table_info('states') WHERE pk > 0 ORDER BY pk"
        indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'states'"
    else:
        key = (
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'states'::regclass "
            "AND i.indisprimary ORDER BY array_position(i.indkey::int[], a.attnum::int)"
        )
        indexes = (
            "SELECT i.indexrelid::regclass::text FROM pg_index i "
            "WHERE i.indrelid = 'states'::regclass AND NOT i.indisprimary"
        )
    return [r[0] for r in store._read(key, ())], [r[0] for r in store._read(indexes, ())]


# The S3 store runs the SQLite store's migrations on its local copy: the SQLite case covers it.
@on_sqlite_and_postgres
def test_schema_7_keys_the_states_by_fips_then_date_and_keeps_every_row(
    database_url: str, tmp_path: Path
) -> None:
    """Version 7 re-keys the per-state table by (fips, date), the only B-tree it keeps (the
    (fips, date) index of version 4 goes): the rows, the runs that wrote them and what the
    store answers about them stay the same, and the next runs read and write the new table."""
    with store_at_schema_version(database_url, 6) as old:
        assert states_key_and_indexes(old) == (["date", "fips"], ["states_by_fips"])
        first = run_etl(settings_for(database_url, cut_at(tmp_path / "cut.csv", "2021-06-30")),
                        store=old, series=SERIES_BEFORE_8).run  # fmt: skip
        before = [StoredState(row, run_id) for row, run_id in old._stored(registry.STATES)]
        answers = (
            old.partitions(registry.STATES),
            old.count(registry.STATES),
            old.latest_date(registry.STATES),
        )
    assert first.status is RunStatus.SUCCEEDED and len(before) == REAL_ROWS - 440
    with upgraded_store(database_url) as store:
        assert states_key_and_indexes(store) == (["fips", "date"], [])
        assert store.dump_history().states == sorted(before, key=lambda s: (s.row.fips, s.row.date))
        assert (
            store.partitions(registry.STATES),
            store.count(registry.STATES),
            store.latest_date(registry.STATES),
        ) == (answers)
        assert len(answers[0]) == 55 and str(answers[2]) == "2021-06-30"
    # The next runs insert the new days, then revise a past one, into the re-keyed table.
    full = run_etl(settings_for(database_url, STATES_REAL)).run
    assert states_of(full) == (440, 0, REAL_ROWS - 440, "2021-07-08")
    lines = real_lines()
    lines[-1] = _raise_cases(lines[-1])
    revised = run_etl(settings_for(database_url, write_lines(tmp_path / "r.csv", lines))).run
    assert states_of(revised) == (0, 1, REAL_ROWS - 1, "2021-07-08")
    with upgraded_store(database_url) as store:
        stored = {(r.fips, r.date.isoformat()): r.cases for r in store.rows(registry.STATES)}
    day, _, fips, cases, _ = lines[-1].split(",")
    assert len(stored) == REAL_ROWS and stored[(fips, day)] == int(cases)


def _raise_cases(line: str) -> str:
    cells = line.split(",")
    cells[3] = str(int(cells[3]) + 1000)
    return ",".join(cells)


def test_a_new_row_whose_key_is_stored_is_refused_not_overwritten(sqlite_url: str) -> None:
    """New rows are written with a plain INSERT: should the diff ever call a stored key new,
    the load fails and rolls back instead of silently replacing the stored row."""
    assert run_etl(settings_for(sqlite_url, STATES_REAL)).succeeded
    with upgraded_store(sqlite_url) as store:
        stored = store.rows(registry.STATES, "06")[-1]
        history = store.dump_history()
        run = store.create_run(Trigger.MANUAL, "testing", utcnow())
        twin = stored._replace(cases=stored.cases + 1)
        with pytest.raises(Exception, match=r"(?i)unique|primary key"):
            store.finish_run(run, [SeriesWrite(registry.STATES, inserted=[twin])], [])
        assert store.rows(registry.STATES, "06")[-1] == stored
        assert store.dump_history().states == history.states
