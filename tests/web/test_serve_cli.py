"""``covid-etl serve`` as a subprocess: starts, serves the API, rejects bad options."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx

from tests.helpers.env import cli_env
from tests.helpers.serve import serving


def test_serve_no_schedule_serves_the_api(loaded_url: str) -> None:
    with serving(cli_env(loaded_url), "--no-schedule") as served:
        health = httpx.get(f"{served.base_url}/healthz").json()
        assert health["scheduler"] == {"enabled": False}
        records = httpx.get(f"{served.base_url}/api/v1/records").json()
        assert records["total"] == 1100
        assert "server" not in httpx.get(f"{served.base_url}/healthz").headers


def test_serve_schedule_reports_next_run(loaded_url: str) -> None:
    with serving(cli_env(loaded_url, COVID_ETL_OFFLINE="1"), "--schedule", "0 21 * * *") as served:
        scheduler = httpx.get(f"{served.base_url}/healthz").json()["scheduler"]
        assert scheduler["enabled"] is True
        assert scheduler["schedule"] == "0 21 * * * (UTC)"


def test_serve_default_schedule_is_daily_at_21_utc(loaded_url: str) -> None:
    with serving(cli_env(loaded_url, COVID_ETL_OFFLINE="1")) as served:
        scheduler = httpx.get(f"{served.base_url}/healthz").json()["scheduler"]
        assert scheduler["enabled"] is True
        assert scheduler["schedule"] == "0 21 * * * (UTC)"


def test_serve_schedule_from_environment(loaded_url: str) -> None:
    env = cli_env(loaded_url, COVID_ETL_SCHEDULE="30 6 * * mon", COVID_ETL_OFFLINE="1")
    with serving(env) as served:
        scheduler = httpx.get(f"{served.base_url}/healthz").json()["scheduler"]
        assert scheduler["schedule"] == "30 6 * * mon (UTC)"


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_serve_bad_cron_exits_2(database_url: str) -> None:
    result = _serve(cli_env(database_url), "--schedule", "0 25 * * *")
    assert result.returncode == 2
    assert "hour" in result.stderr


def test_serve_bad_cron_in_environment_exits_2(database_url: str) -> None:
    result = _serve(cli_env(database_url, COVID_ETL_SCHEDULE="every day"))
    assert result.returncode == 2
    assert "COVID_ETL_SCHEDULE" in result.stderr


def test_serve_schedule_and_no_schedule_together_exits_2(database_url: str) -> None:
    result = _serve(cli_env(database_url), "--schedule", "0 21 * * *", "--no-schedule")
    assert result.returncode == 2


def test_cli_start_up_does_not_import_the_web_stack() -> None:
    code = "import sys, covid_etl.cli; print('fastapi' in sys.modules, 'uvicorn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False"]


def test_serve_empty_store_catches_up_with_a_scheduled_run(database_url: str) -> None:
    env = cli_env(database_url, COVID_ETL_OFFLINE="1")
    with serving(env, "--schedule", "0 21 * * *") as served:
        deadline = time.monotonic() + 20
        while True:
            summary = httpx.get(f"{served.base_url}/api/v1/summary").json()
            run = summary["last_run"]
            if run is not None and run["status"] != "running":
                break
            assert time.monotonic() < deadline, "no catch-up run"
            time.sleep(0.1)
        assert (run["trigger"], run["status"], run["inserted"]) == ("schedule", "succeeded", 1100)
        assert summary["data_through"] == "2023-01-24"


def test_serve_port_in_use_exits_2_with_one_line_and_nothing_before(database_url: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(
            cli_env(database_url), "--no-schedule", "--host", "127.0.0.1", "--port", str(port)
        )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"Error: port {port} is already in use on 127.0.0.1"]


def _raw_request(base_url: str, request: bytes) -> bytes:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_serve_json_log_format_covers_the_web_servers_own_lines(loaded_url: str) -> None:
    env = cli_env(loaded_url, COVID_ETL_LOG_FORMAT="json", COVID_ETL_LOG_LEVEL="DEBUG")
    with serving(env, "--no-schedule") as served:
        assert httpx.get(f"{served.base_url}/api/v1/summary").status_code == 200
        huge_line = b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
        _raw_request(served.base_url, huge_line)
        process = served.process
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    lines = [line for line in stderr.splitlines() if not line.startswith("Serving on ")]
    records = [json.loads(line) for line in lines]  # every log line is one JSON object
    loggers = {record["logger"] for record in records}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers, loggers
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("/api/v1/summary" in r["message"] and "200" in r["message"] for r in access)
    assert any("Invalid HTTP request" in r["message"] for r in records)
    assert all("color_message" not in record for record in records)


def test_serve_rejected_request_line_gets_the_documented_plain_400(loaded_url: str) -> None:
    # Rejected by the HTTP server before the app sees it: docs/api.md describes this answer.
    with serving(cli_env(loaded_url), "--no-schedule") as served:
        huge_line = b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
        answer = _raw_request(served.base_url, huge_line)
        healthy = httpx.get(f"{served.base_url}/healthz").status_code
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    assert status_line == "HTTP/1.1 400 Bad Request"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert body == b"Invalid HTTP request received."
    assert healthy == 200  # the server carries on
