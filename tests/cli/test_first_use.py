"""A new user's first `make run` without network: one clear error, and the way to go on offline.

Real subprocesses of the CLI against loopback ports that refuse or never answer.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.data import JHU_CURRENT
from tests.helpers.env import cli_env
from tests.helpers.servers import SourceServer, free_port

OFFLINE_HINT = "make run OFFLINE=1"


def run_cli(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = cli_env(f"sqlite:///{tmp_path / 'covid.db'}", **{"COVID_ETL_RETRIES": "1", **env})
    return subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "run"],
        env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def test_unreachable_source_suggests_offline_and_shows_the_error_once(tmp_path: Path) -> None:
    closed = free_port()
    result = run_cli(
        tmp_path,
        COVID_ETL_NYT_URL=f"http://127.0.0.1:{closed}/us.csv",
        COVID_ETL_JHU_URL=f"http://127.0.0.1:{closed}/jhu.csv",
    )
    assert result.returncode == 1
    terminal = result.stdout + result.stderr
    assert terminal.count("Connection refused") == 1, terminal
    assert terminal.count(f"127.0.0.1:{closed}/us.csv") == 1, terminal
    assert OFFLINE_HINT in terminal and "covid-etl run --offline" in terminal
    assert "no data stored yet" in terminal
    assert "data still through -" not in terminal


def test_source_that_never_answers_suggests_offline(tmp_path: Path, silent_port: int) -> None:
    result = run_cli(
        tmp_path,
        COVID_ETL_NYT_URL=f"http://127.0.0.1:{silent_port}/us.csv",
        COVID_ETL_JHU_URL=str(JHU_CURRENT),
        COVID_ETL_READ_TIMEOUT="0.3",
        COVID_ETL_RETRIES="0",
    )
    assert result.returncode == 1
    terminal = result.stdout + result.stderr
    assert terminal.count("timed out") == 1, terminal
    assert OFFLINE_HINT in terminal


def test_invalid_source_data_does_not_suggest_offline(
    tmp_path: Path, source_server: SourceServer
) -> None:
    nyt = source_server.serve("/us.csv", b"date,cases,deaths\n2020-01-21,-2,0\n")
    result = run_cli(tmp_path, COVID_ETL_NYT_URL=nyt, COVID_ETL_JHU_URL=str(JHU_CURRENT))
    assert result.returncode == 1
    terminal = result.stdout + result.stderr
    assert "count is negative" in terminal
    assert terminal.count("count is negative") == 1, terminal
    assert OFFLINE_HINT not in terminal and "--offline" not in terminal


def test_http_error_from_a_reachable_source_does_not_suggest_offline(
    tmp_path: Path, source_server: SourceServer
) -> None:
    result = run_cli(
        tmp_path,
        COVID_ETL_NYT_URL=source_server.url("/missing.csv"),
        COVID_ETL_JHU_URL=str(JHU_CURRENT),
    )
    assert result.returncode == 1
    assert "HTTP 404" in result.stdout
    assert OFFLINE_HINT not in result.stdout + result.stderr


def test_failure_after_data_was_stored_names_the_data_date(tmp_path: Path) -> None:
    environ = cli_env(f"sqlite:///{tmp_path / 'covid.db'}")
    subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "run", "--offline"],
        env=environ, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    closed = free_port()
    result = run_cli(tmp_path, COVID_ETL_NYT_URL=f"http://127.0.0.1:{closed}/us.csv")
    assert result.returncode == 1
    assert "Database unchanged; data still through 2023-01-24." in result.stdout
