"""The CLI as a user meets it: help, exit codes, JSON shapes, export formats."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from covid_etl.cli import app
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT
from tests.helpers.env import cli_env
from tests.helpers.reference import expected_csv, expected_rows
from tests.helpers.servers import free_port

runner = CliRunner()
RUN_JSON_KEYS = {
    "run_id", "status", "initial_load", "inserted", "updated", "unchanged", "data_through",
    "warnings", "error",
}  # fmt: skip


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", all_commands(app), ids=lambda p: " ".join(p) or "covid-etl")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    command: click.Command = app
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert command.help, f"{' '.join(path)} has no help text"


def test_run_json_then_export_csv_and_json(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url)
    result = runner.invoke(app, ["run", "--offline", "--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out.keys() >= RUN_JSON_KEYS
    assert out["status"] == "succeeded" and out["initial_load"] is True
    assert (out["inserted"], out["updated"], out["unchanged"]) == (1100, 0, 0)
    assert out["data_through"] == "2023-01-24" and out["error"] is None

    exported = runner.invoke(app, ["export"], env=env)
    assert exported.exit_code == 0
    assert exported.stdout == expected_csv(NYT_CURRENT, JHU_CURRENT)

    target = tmp_path / "out.json"
    assert (
        runner.invoke(app, ["export", "--format", "json", "-o", str(target)], env=env).exit_code
        == 0
    )
    data = json.loads(target.read_text())
    assert [(d["date"], d["cases"], d["deaths"], d["recovered"]) for d in data] == expected_rows(
        NYT_CURRENT, JHU_CURRENT
    )
    assert data[-1]["recovered"] is None


def test_run_readable_summary_mentions_counts(database_url: str) -> None:
    result = runner.invoke(app, ["run", "--offline"], env=cli_env(database_url))
    assert result.exit_code == 0
    assert "Run #1 succeeded (initial load, production)" in result.output
    assert "1100 inserted, 0 updated, 0 unchanged" in result.output
    assert "summary printed" in result.output


def test_runs_lists_history_as_json_and_table(database_url: str) -> None:
    env = cli_env(database_url)
    runner.invoke(app, ["run", "--offline"], env=env)
    runner.invoke(app, ["run", "--offline"], env=env)
    result = runner.invoke(app, ["runs", "--json", "--limit", "1"], env=env)
    history = json.loads(result.stdout)
    assert [r["id"] for r in history] == [2]
    assert history[0]["unchanged"] == 1100 and history[0]["status"] == "succeeded"
    table = runner.invoke(app, ["runs"], env=env)
    assert table.exit_code == 0 and "succeeded" in table.output


def test_failed_run_exits_1_with_reason(database_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "us.csv"
    bad.write_text("date,cases,deaths\n2020-01-21,1,0\n2020-01-22,x,0\n")
    env = cli_env(database_url, COVID_ETL_NYT_URL=str(bad), COVID_ETL_JHU_URL=str(JHU_CURRENT))
    result = runner.invoke(app, ["run"], env=env)
    assert result.exit_code == 1
    assert "failed at stage validate" in result.output
    assert "line 3, column 'cases', value 'x'" in result.output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COVID_ETL_RETRIES": "many"}, "COVID_ETL_RETRIES='many' is invalid"),
        ({"COVID_ETL_LOG_FORMAT": "xml"}, "COVID_ETL_LOG_FORMAT='xml' is invalid"),
        ({"COVID_ETL_NOTIFY": "nonsense://x"}, "is not a usable channel URL"),
        ({"COVID_ETL_DATABASE_URL": "mysql://h/db"}, "unsupported database URL"),
    ],
)
def test_bad_configuration_exits_2(database_url: str, env: dict[str, str], message: str) -> None:
    result = runner.invoke(app, ["run", "--offline"], env={**cli_env(database_url), **env})
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_usage_exits_2() -> None:
    assert runner.invoke(app, ["run", "--no-such-option"]).exit_code == 2
    assert runner.invoke(app, ["export", "--format", "xml"]).exit_code == 2


def test_console_script_runs_as_a_real_process(database_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "run", "--offline", "--json"],
        env=cli_env(database_url, COVID_ETL_LOG_FORMAT="json", COVID_ETL_LOG_LEVEL="INFO"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["inserted"] == 1100
    logs = [json.loads(line) for line in proc.stderr.splitlines()]
    assert any(entry["message"] == "run #1 succeeded" for entry in logs)
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in logs)


@pytest.mark.parametrize(
    "argv", [["run", "--offline", "--json"], ["export"], ["runs", "--json"]], ids=" ".join
)
def test_every_command_closes_the_sqlite_database_before_exit(
    tmp_path: Path, argv: list[str]
) -> None:
    # SQLite removes its -wal and -shm files when the last connection closes cleanly; leftovers
    # would mean a command relied on interpreter shutdown (which the CLI shortens) to close it.
    database = tmp_path / "closed.db"
    env = cli_env(f"sqlite:///{database}")
    if argv[0] != "run":
        assert runner.invoke(app, ["run", "--offline"], env=env).exit_code == 0
    proc = subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert database.exists()
    assert not list(tmp_path.glob("closed.db-*")), sorted(p.name for p in tmp_path.iterdir())


def test_export_csv_round_trips_through_csv_reader(database_url: str) -> None:
    env = cli_env(database_url)
    runner.invoke(app, ["run", "--offline"], env=env)
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["export"], env=env).stdout)))
    assert len(rows) == 1100
    # The NYT's first day, which JHU lacks: recovered is null (an empty cell).
    assert rows[0] == {"date": "2020-01-21", "cases": "1", "deaths": "0", "recovered": ""}
    assert rows[1] == {"date": "2020-01-22", "cases": "1", "deaths": "0", "recovered": "0"}
    assert rows[-1]["recovered"] == ""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_offline_loads_the_snapshot(tmp_path: Path) -> None:
    database = tmp_path / "make-run.db"
    proc = subprocess.run(
        ["make", "--no-print-directory", "run", "OFFLINE=1"],
        cwd=Path(__file__).parents[2],
        env=cli_env(f"sqlite:///{database}"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1100 inserted, 0 updated, 0 unchanged" in proc.stdout
    assert database.exists()


@pytest.mark.parametrize("argv", [["export"], ["runs"], ["runs", "--json"]], ids=" ".join)
def test_read_commands_on_a_missing_database_say_so_and_create_nothing(
    tmp_path: Path, argv: list[str]
) -> None:
    database = tmp_path / "nowhere" / "covid.db"
    result = runner.invoke(app, argv, env=cli_env(f"sqlite:///{database}"))
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: no database at {database}; run `covid-etl run` first\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["run", "runs", "export", "serve"])
def test_every_command_that_opens_a_store_takes_database_url(command: str) -> None:
    options = {opt for param in app.commands[command].params for opt in param.opts}
    assert "--database-url" in options


def test_database_url_option_wins_over_the_environment(tmp_path: Path) -> None:
    loaded = f"sqlite:///{tmp_path / 'loaded.db'}"
    assert runner.invoke(app, ["run", "--offline"], env=cli_env(loaded)).exit_code == 0
    env = cli_env(f"sqlite:///{tmp_path / 'other.db'}")
    exported = runner.invoke(app, ["export", "--database-url", loaded], env=env)
    assert exported.exit_code == 0 and exported.stdout == expected_csv(NYT_CURRENT, JHU_CURRENT)
    history = runner.invoke(app, ["runs", "--json", "--database-url", loaded], env=env)
    assert [r["id"] for r in json.loads(history.stdout)] == [1]
    assert not (tmp_path / "other.db").exists()


def test_run_json_has_null_run_id_when_the_run_could_not_be_recorded(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    env = cli_env(f"sqlite:///{tmp_path / 'file' / 'covid.db'}")
    result = runner.invoke(app, ["run", "--offline", "--json"], env=env)
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["run_id"] is None and out["failed_stage"] == "open"


# Runs the console entry point with the work of `run` and `serve` replaced by a report of whether
# Python's cyclic garbage collector is on at that moment.
COLLECTOR_PROBE = """
import gc, sys
import covid_etl.cli, uvicorn
from covid_etl.cli import main

def report(*args, **kwargs):
    print("collector on" if gc.isenabled() else "collector off", flush=True)
    raise SystemExit(0)

covid_etl.cli.run_etl = report
uvicorn.Server.run = report
sys.argv = ["covid-etl", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(
    ("argv", "state"),
    [(["run", "--offline", "--json"], "off"), (["serve", "--no-schedule", "--port", "PORT"], "on")],
    ids=["run", "serve"],
)
def test_one_shot_commands_run_without_the_cyclic_collector_and_serve_keeps_it(
    sqlite_url: str, argv: list[str], state: str
) -> None:
    """A command that exits when done needs no cycle collection (its allocations end with the
    process); `serve` lives on and must collect them."""
    argv = [str(free_port()) if arg == "PORT" else arg for arg in argv]
    proc = subprocess.run(
        [sys.executable, "-c", COLLECTOR_PROBE, *argv],
        env=cli_env(sqlite_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == f"collector {state}"
