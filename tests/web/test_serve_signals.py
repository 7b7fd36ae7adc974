"""``covid-etl serve`` stops promptly on SIGTERM and SIGINT, also in the middle of a scheduled
run: the run is abandoned, its transaction rolls back, and the next run marks it interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from covid_etl.models import RunStatus, Trigger
from covid_etl.run.pipeline import run_etl
from covid_etl.series import registry
from covid_etl.store import open_store
from tests.helpers.backends import on_every_backend
from tests.helpers.env import cli_env, fast_settings
from tests.helpers.serve import free_port
from tests.helpers.stall_load import MARKER

ROOT = Path(__file__).parents[2]
STOP_BOUND_SECONDS = 10.0


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    line: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else ""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@on_every_backend
def test_serve_signal_during_scheduled_run_stops_within_10s_and_run_rolls_back(
    database_url: str, sig: signal.Signals
) -> None:
    port = str(free_port())
    command = [sys.executable, "-m", "tests.helpers.stall_load", "serve", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        # An empty store: the catch-up run starts at once and stalls in its load transaction.
        [*command, "--port", port, "--schedule", "0 21 * * *"],
        cwd=ROOT,
        env=cli_env(database_url, COVID_ETL_OFFLINE="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _first_line(process, timeout=30)
        assert line.startswith(MARKER), line
        process.send_signal(sig)
        started = time.monotonic()
        process.wait(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    stderr = process.stderr.read() if process.stderr else ""
    assert elapsed < STOP_BOUND_SECONDS, f"serve took {elapsed:.1f} s to stop"
    assert "Traceback" not in stderr, stderr

    if database_url.startswith("s3://"):
        # S3 commits a run with one conditional PUT at its end: the abandoned run left nothing.
        import boto3

        bucket, prefix = database_url[len("s3://") :].split("/", 1)
        listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
        assert listed.get("KeyCount", 0) == 0
        store = open_store(database_url)
        try:
            store.migrate()  # no object was ever written: this builds an empty local copy
            assert (store.list_runs(limit=1), store.rows(registry.NATIONAL)) == ([], [])
        finally:
            store.close()
        after = run_etl(fast_settings(database_url, offline=True)).run
        assert (after.status, after.inserted, after.recovered_from) == (
            RunStatus.SUCCEEDED,
            1100,
            None,
        )
        return

    store = open_store(database_url)
    try:
        abandoned = store.list_runs(limit=1)[0]
        assert (abandoned.trigger, abandoned.status) == (Trigger.SCHEDULE, RunStatus.RUNNING)
        assert store.rows(registry.NATIONAL) == []  # the half-written load was rolled back
    finally:
        store.close()

    after = run_etl(fast_settings(database_url, offline=True)).run
    assert (after.status, after.inserted, after.recovered_from) == (
        RunStatus.SUCCEEDED,
        1100,
        abandoned.id,
    )
    store = open_store(database_url)
    try:
        marked = store.get_run(abandoned.id)
    finally:
        store.close()
    assert marked is not None and marked.status is RunStatus.INTERRUPTED
