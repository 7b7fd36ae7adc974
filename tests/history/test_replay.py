"""Replaying the NYT's real daily versions (tests/fixtures/real/nyt/vintages/), on every backend:
the data as of each replayed day equals that day's version row for row; a second replay changes
nothing; a day between versions answers as the version before; history is refused before its
start and before the store's present; a replay killed part-way and resumed ends in the same
store as one that ran through."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from covid_etl.cli import app
from covid_etl.errors import ConfigError, StoreError
from covid_etl.run.replay import replay
from covid_etl.series.registry import NATIONAL, STATES
from covid_etl.settings import Settings
from covid_etl.store import open_store
from covid_etl.store.asof import NoHistory, rows_as_of, run_as_of
from tests.helpers.data import unpack_versions
from tests.helpers.env import cli_env

ROOT = Path(__file__).parents[2]
# The first 60 days of the per-state versions (2020-03-25..2020-05-23); the national versions
# start on 2020-04-14, so the slice has days with one series' version and days with both.
FIRST, DAYS = dt.date(2020, 3, 25), 60
LAST = FIRST + dt.timedelta(days=DAYS - 1)


def _day(name: str) -> dt.date:
    return dt.date.fromisoformat(name.removesuffix(".csv")[-10:])


@pytest.fixture(scope="session")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slice's version files, unpacked once for the session."""
    target = tmp_path_factory.mktemp("versions")
    unpack_versions(target, lambda day: FIRST <= day <= LAST)
    assert len(list(target.iterdir())) == DAYS + (LAST - dt.date(2020, 4, 14)).days + 1
    return target


def settings(url: str) -> Settings:
    return Settings(database_url=url, offline=True, environment="testing", anomalies_url="off")


def published_states(path: Path) -> list[tuple[str, str, str, int, int]]:
    with path.open(newline="") as f:
        return sorted((r["date"], r["fips"], r["state"], int(r["cases"]), int(r["deaths"]))
                      for r in csv.DictReader(f))  # fmt: skip


def published_national(path: Path) -> list[tuple[str, int, int]]:
    with path.open(newline="") as f:
        return [(r["date"], int(r["cases"]), int(r["deaths"])) for r in csv.DictReader(f)]


def test_every_replayed_day_reads_back_as_its_version(database_url: str, versions: Path) -> None:
    store = open_store(database_url)
    try:
        done = replay(settings(database_url), [versions], store)
        assert done.failed is None and (done.dates, done.first, done.last) == (DAYS, FIRST, LAST)
        assert done.removed > 0  # the NYT dropped rows in these weeks: applied and recorded
        for index in range(DAYS):
            day = FIRST + dt.timedelta(days=index)
            run = run_as_of(store, day)
            assert run.as_of == day and str(run.trigger) == "replay"
            states = sorted(
                (r.date.isoformat(), r.fips, r.name, r.cases, r.deaths)
                for r in rows_as_of(store, STATES, run)
            )
            assert states == published_states(versions / f"us-states-{day}.csv"), day
            national = versions / f"us-{day}.csv"
            got = [
                (r.date.isoformat(), r.cases, r.deaths) for r in rows_as_of(store, NATIONAL, run)
            ]
            assert got == (published_national(national) if national.exists() else []), day
        changes = store.count_changes()
        again = replay(settings(database_url), [versions], store)
        assert (again.dates, again.skipped, again.changed) == (0, DAYS, 0)
        assert store.count_changes() == changes
        with pytest.raises(NoHistory, match="history is kept from 2020-03-25"):
            run_as_of(store, FIRST - dt.timedelta(days=1))
    finally:
        store.close()


def test_a_day_between_versions_answers_as_the_version_before(
    tmp_path: Path, versions: Path
) -> None:
    gap = FIRST + dt.timedelta(days=10)
    kept = tmp_path / "kept"
    kept.mkdir()
    for path in versions.iterdir():
        if FIRST <= _day(path.name) <= FIRST + dt.timedelta(days=14) and _day(path.name) != gap:
            (kept / path.name).write_bytes(path.read_bytes())
    url = f"sqlite:///{tmp_path / 'gap.db'}"
    store = open_store(url)
    try:
        assert replay(settings(url), [kept], store).dates == 14
        before = gap - dt.timedelta(days=1)
        assert run_as_of(store, gap).as_of == before
        assert rows_as_of(store, STATES, run_as_of(store, gap)) == rows_as_of(
            store, STATES, run_as_of(store, before)
        )
        # A version older than the store's present that it never loaded is refused.
        late = tmp_path / "late"
        late.mkdir()
        (late / f"us-states-{gap}.csv").write_bytes(
            (versions / f"us-states-{gap}.csv").read_bytes()
        )
        with pytest.raises(ConfigError, match="cannot insert history before its present"):
            replay(settings(url), [late], store)
    finally:
        store.close()


def test_export_as_of_and_replay_from_the_command_line(tmp_path: Path, versions: Path) -> None:
    runner = CliRunner()
    env = cli_env(f"sqlite:///{tmp_path / 'cli.db'}")
    result = runner.invoke(app, ["replay", "--offline", "--json", str(versions)], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dates"] == DAYS
    day = dt.date(2020, 4, 20)
    exported = runner.invoke(app, ["export", "--states", "--as-of", str(day)], env=env)
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(exported.stdout.splitlines()))
    got = sorted(
        (r["date"], r["fips"], r["state"], int(r["cases"]), int(r["deaths"])) for r in rows
    )
    assert got == published_states(versions / f"us-states-{day}.csv")
    early = runner.invoke(app, ["export", "--as-of", "2020-01-01"], env=env)
    assert early.exit_code == 1
    assert early.output.strip().splitlines() == [
        "Error: no data as of 2020-01-01: history is kept from 2020-03-25"
    ]


@pytest.mark.serial  # kill moments depend on the machine's speed
def test_a_killed_replay_resumes_to_the_same_store(tmp_path: Path, versions: Path) -> None:
    def replay_cli(url: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "covid_etl.cli", "replay", "--offline", "--json", str(versions)],
            cwd=ROOT, env=cli_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def state(url: str) -> tuple[object, ...]:
        store = open_store(url)
        try:
            entries = [e._replace(run_id=0) for e in store.changes()]
            return (store.rows(NATIONAL), store.rows(STATES), entries)
        finally:
            store.close()

    def loaded(url: str) -> int:
        """Succeeded runs so far; 0 while the file or its tables do not exist yet."""
        if not Path(url.removeprefix("sqlite:///")).exists():
            return 0
        store = open_store(url)
        try:
            return sum(str(r.status) == "succeeded" for r in store.list_runs(limit=100))
        except StoreError:
            return 0
        finally:
            store.close()

    through = f"sqlite:///{tmp_path / 'through.db'}"
    assert replay_cli(through).wait(timeout=120) == 0
    killed = f"sqlite:///{tmp_path / 'killed.db'}"
    proc = replay_cli(killed)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and loaded(killed) < 10:  # kill it mid-replay
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert 0 < loaded(killed) < DAYS
    assert replay_cli(killed).wait(timeout=120) == 0
    assert state(killed) == state(through)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("COVID_ETL_SLOW") != "1",
    reason="the slow lane (about two minutes): `make test-slow` or COVID_ETL_SLOW=1",
)
def test_the_whole_corpus_replays_and_every_day_reads_back_as_its_version(
    tmp_path: Path,
) -> None:
    """All 920 versions into SQLite: after each date's run the store equals that date's
    versions; afterwards every 23rd day rebuilt as of that day equals its version too."""
    url = f"sqlite:///{tmp_path / 'corpus.db'}"
    unpacked = tmp_path / "versions"
    unpacked.mkdir()
    unpack_versions(unpacked, lambda day: True)
    states = sorted(unpacked.glob("us-states-*.csv"))
    nationals = {_day(p.name): p for p in unpacked.glob("us-2*.csv")}
    assert (len(states), len(nationals)) == (470, 450)
    store = open_store(url)
    checked: list[dt.date] = []

    def check(done: int, total: int, changed: int) -> None:
        day = _day(states[done - 1].name)
        got = sorted((r.date.isoformat(), r.fips, r.name, r.cases, r.deaths)
                     for r in store.rows(STATES))  # fmt: skip
        assert got == published_states(states[done - 1]), day
        if day in nationals:
            national = [(r.date.isoformat(), r.cases, r.deaths) for r in store.rows(NATIONAL)]
            assert national == published_national(nationals[day]), day
        checked.append(day)

    try:
        done = replay(settings(url), [unpacked], store, progress=check)
        assert done.failed is None and (done.dates, done.versions) == (470, 920)
        assert len(checked) == 470
        for path in states[::23]:
            rebuilt = rows_as_of(store, STATES, run_as_of(store, _day(path.name)))
            got = sorted((r.date.isoformat(), r.fips, r.name, r.cases, r.deaths) for r in rebuilt)
            assert got == published_states(path), path.name
    finally:
        store.close()
