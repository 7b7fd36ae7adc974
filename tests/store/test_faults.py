"""The SQLite file under real faults: another program's lock, a full disk, a read-only file
system / file / directory, and a corrupt page. Each fault is produced for real (a second process,
a small tmpfs, a read-only remount, the immutable attribute, overwritten bytes), never simulated.
Every case checks the message says what happened, the stored data is exactly as it was, and the
failure notice never misstates what the store holds."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from covid_etl.cli import app
from covid_etl.run.pipeline import run_etl
from covid_etl.series import registry
from covid_etl.store import open_store
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT, jhu_history, nyt_history, serve_real
from tests.helpers.env import cli_env, fast_settings
from tests.helpers.reference import expected_rows
from tests.helpers.servers import SourceServer, WebhookSink, free_port

ROOT = Path(__file__).parents[2]
DAY1, DAY2 = "2021-06-15", "2021-06-16"
NO_DATA_YET = "the database holds no data yet"
runner = CliRunner()


def rows(database_url: str) -> list[tuple[str, int, int, int | None]]:
    store = open_store(database_url)
    try:
        return [
            (r.date.isoformat(), r.cases, r.deaths, r.recovered)
            for r in store.rows(registry.NATIONAL)
        ]
    finally:
        store.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_day1(url: str, server: SourceServer) -> list[tuple[str, int, int, int | None]]:
    day1 = serve_real(server, nyt_history(DAY1), jhu_history(DAY1))
    assert run_etl(fast_settings(url, **day1)).run.inserted == 512
    return rows(url)


def day2_env(url: str, server: SourceServer, webhook: WebhookSink, **extra: str) -> dict[str, str]:
    day2 = serve_real(server, nyt_history(DAY2), jhu_history(DAY2))
    return cli_env(
        url,
        COVID_ETL_NYT_URL=day2["nyt_url"],
        COVID_ETL_JHU_URL=day2["jhu_url"],
        COVID_ETL_NOTIFY=webhook.url,
        COVID_ETL_ENVIRONMENT="testing",
        COVID_ETL_RETRIES="0",
        **extra,
    )


def failed_run(env: dict[str, str]) -> dict[str, object]:
    result = runner.invoke(app, ["run", "--json"], env=env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def only_notice(webhook: WebhookSink) -> str:
    assert len(webhook.received) == 1, webhook.received
    assert "FAILED" in webhook.received[0]["title"]
    return str(webhook.received[0]["message"])


def assert_notice_tells_the_truth(notice: str) -> None:
    """The store holds 512 rows through DAY1: the notice says so, or that it could not tell."""
    assert NO_DATA_YET not in notice
    assert (
        f"data still through {DAY1}" in notice
        or "the data's state is unknown because the store is unavailable" in notice
    ), notice


# -- another program holds SQLite's lock ----------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.serial  # a lock wait within 6 s
def test_lock_held_by_another_process_fails_at_stage_lock_within_the_lock_timeout(
    sqlite_url: str, tmp_path: Path, source_server: SourceServer, webhook: WebhookSink
) -> None:
    before = load_day1(sqlite_url, source_server)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "covid.db")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        env = day2_env(sqlite_url, source_server, webhook, COVID_ETL_LOCK_TIMEOUT="1")
        started = time.monotonic()
        out = failed_run(env)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # The bound is the lock timeout (1 s); the margin covers the run's own work on a slow machine.
    assert 1.0 <= waited < 6.0
    assert out["failed_stage"] == "lock"
    assert "the database is locked by another process" in str(out["error"])
    assert out["run_id"] is None  # the lock holder kept us from recording the run
    notice = only_notice(webhook)
    assert "FAILED at stage lock" in webhook.received[0]["title"]
    assert f"data still through {DAY1}" in notice  # WAL readers still see the data
    assert rows(sqlite_url) == before


# -- a full disk, a read-only file system ---------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB tmpfs mounted for this test (needs root and mount permission)."""
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("mount is not installed: cannot build a small file system")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip() or 'not permitted'})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path, leave: int = 0) -> Path:
    """Write a file until the file system has no byte left, then give back ``leave`` bytes."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                continue
    assert os.statvfs(directory).f_bavail == 0
    if leave:
        os.truncate(filler, filler.stat().st_size - leave)
    return filler


def remount(mount_point: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount_point)], check=True)


@pytest.mark.parametrize(
    ("leave", "stage"),
    [(0, "open"), (64 * 1024, "load")],
    ids=["full-before-the-run", "fills-during-the-load"],
)
def test_full_disk_is_reported_as_disk_full_and_keeps_the_data(
    leave: int, stage: str, small_fs: Path, source_server: SourceServer, webhook: WebhookSink
) -> None:
    url = f"sqlite:///{small_fs / 'covid.db'}"
    before = load_day1(url, source_server)
    env = day2_env(url, source_server, webhook)
    # The current files at the same URLs: 305 new dates and many revised ones, a load of a few
    # dozen pages.
    serve_real(source_server)
    filler = fill(small_fs, leave)

    out = failed_run(env)

    assert out["failed_stage"] == stage
    assert "disk full" in str(out["error"]), out["error"]
    assert "disk I/O error" not in str(out["error"]).split("(SQLite:")[0]
    assert_notice_tells_the_truth(only_notice(webhook))
    filler.unlink()
    assert rows(url) == before
    # With space again, the next run loads the new data.
    recovered = runner.invoke(app, ["run", "--json"], env=env)
    assert recovered.exit_code == 0, recovered.output
    assert rows(url) == expected_rows(NYT_CURRENT, JHU_CURRENT)


def test_read_only_file_system_is_reported_as_read_only_and_keeps_the_data(
    small_fs: Path, source_server: SourceServer, webhook: WebhookSink
) -> None:
    url = f"sqlite:///{small_fs / 'covid.db'}"
    before = load_day1(url, source_server)
    env = day2_env(url, source_server, webhook)
    database = small_fs / "covid.db"
    checksum = digest(database)
    remount(small_fs, "ro")
    try:
        out = failed_run(env)
    finally:
        remount(small_fs, "rw")
    assert "read-only file system" in str(out["error"]), out["error"]
    assert_notice_tells_the_truth(only_notice(webhook))
    assert digest(database) == checksum
    assert rows(url) == before


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[list[Path]]:
    """Paths to mark immutable (``chattr +i``: read-only even to root); cleared afterwards."""
    marked: list[Path] = []
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: cannot make a file read-only to root")
    yield marked
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def make_immutable(path: Path, marked: list[Path]) -> None:
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"the file system refuses the immutable attribute: {made.stderr.strip()}")
    marked.append(path)


@pytest.mark.parametrize(
    ("target", "expected"),
    [("file", "the database file is read-only"), ("directory", "read-only")],
)
def test_read_only_file_or_directory_is_reported_as_read_only(
    target: str,
    expected: str,
    tmp_path: Path,
    sqlite_url: str,
    source_server: SourceServer,
    webhook: WebhookSink,
    immutable: list[Path],
) -> None:
    before = load_day1(sqlite_url, source_server)
    database = tmp_path / "covid.db"
    env = day2_env(sqlite_url, source_server, webhook)
    checksum = digest(database)
    make_immutable(database if target == "file" else tmp_path, immutable)

    out = failed_run(env)

    subprocess.run(["chattr", "-i", str(immutable.pop())], check=True)
    assert expected in str(out["error"]), out["error"]
    assert "unable to open database file" not in str(out["error"]).split("(SQLite:")[0]
    assert_notice_tells_the_truth(only_notice(webhook))
    assert digest(database) == checksum
    assert rows(sqlite_url) == before


# -- a corrupt page -------------------------------------------------------------------------------


def corrupt_records_page(database: Path) -> None:
    """Overwrite a page of the records table's b-tree with noise, as a bad disk sector would."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'records'").fetchone()
    conn.close()
    noise = random.Random(9).randbytes(page_size)
    with open(database, "r+b") as handle:
        handle.seek((root[0] - 1) * page_size)
        handle.write(noise)


@pytest.fixture
def corrupt_db(tmp_path: Path) -> Path:
    """A real database holding the 816 bundled rows, with one page of its records destroyed."""
    database = tmp_path / "covid.db"
    assert (
        runner.invoke(app, ["run", "--offline"], env=cli_env(f"sqlite:///{database}")).exit_code
        == 0
    )
    assert not list(tmp_path.glob("covid.db-*"))  # checkpointed: every row is in the file
    corrupt_records_page(database)
    return database


CORRUPT = "the database file is corrupt: "
CORRUPT_ADVICE = "; restore it from a backup or move it away"


def test_corrupt_database_is_never_written_and_the_run_fails_at_open(
    corrupt_db: Path, webhook: WebhookSink
) -> None:
    checksum = digest(corrupt_db)
    env = cli_env(f"sqlite:///{corrupt_db}", COVID_ETL_NOTIFY=webhook.url)

    out = failed_run({**env, "COVID_ETL_OFFLINE": "1"})

    assert out["failed_stage"] == "open"
    error = str(out["error"])
    assert error.startswith(CORRUPT) and error.endswith(CORRUPT_ADVICE), error
    assert "covid.db (Page " in error and "btreeInitPage()" in error
    assert out["run_id"] is None
    assert digest(corrupt_db) == checksum
    notice = only_notice(webhook)
    assert CORRUPT in notice
    assert "the data's state is unknown because the store is unavailable" in notice


@pytest.mark.parametrize(
    "argv",
    [["export"], ["runs"], ["serve", "--no-schedule", "--port", str(free_port())]],
    # Without the port number: every xdist worker must collect the same test ids.
    ids=lambda argv: " ".join(arg for arg in argv if not arg.isdigit()),
)
def test_commands_on_a_corrupt_database_print_one_line_and_exit_1(
    corrupt_db: Path, argv: list[str]
) -> None:
    checksum = digest(corrupt_db)
    proc = subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", *argv],
        env=cli_env(f"sqlite:///{corrupt_db}"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("Error: " + CORRUPT + str(corrupt_db)) and line.endswith(CORRUPT_ADVICE)
    assert digest(corrupt_db) == checksum


def test_quick_check_runs_once_per_store_and_an_intact_database_passes(sqlite_url: str) -> None:
    assert runner.invoke(app, ["run", "--offline"], env=cli_env(sqlite_url)).exit_code == 0
    store = open_store(sqlite_url)
    try:
        store.migrate()
        store.migrate()
        assert store.count(registry.NATIONAL) == 1100
    finally:
        store.close()
