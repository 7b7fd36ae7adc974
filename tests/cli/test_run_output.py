"""What `covid-etl run` prints: a newcomer's first offline run fits one screen, and
`--verbose` prints every warning the run recorded."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from covid_etl.cli import app
from tests.helpers.env import cli_env

# A terminal window of the usual default size.
SCREEN_ROWS, SCREEN_COLUMNS = 24, 100


# The series the tests' environment turns off, at their default (on) as for a newcomer.
DEFAULT_SERIES = ("COVID_ETL_STATES_URL", "COVID_ETL_ANOMALIES_URL")


def newcomer_env(database: Path) -> dict[str, str | None]:
    """The environment of a first `make run OFFLINE=1`, for a subprocess (which gets only these
    variables) or CliRunner (for which None unsets a variable of this process)."""
    return {**cli_env(f"sqlite:///{database}"), **dict.fromkeys(DEFAULT_SERIES)}


def screen_rows(text: str) -> int:
    """The rows ``text`` takes in a terminal SCREEN_COLUMNS wide, which wraps long lines."""
    return sum(max(1, math.ceil(len(line) / SCREEN_COLUMNS)) for line in text.splitlines())


def stored_warnings(env: dict[str, str | None]) -> list[str]:
    history = CliRunner().invoke(app, ["runs", "--json"], env=env)
    return list(json.loads(history.stdout)[0]["warnings"])


def test_first_offline_run_fits_one_screen_and_opens_with_the_summary(tmp_path: Path) -> None:
    env = newcomer_env(tmp_path / "first.db")
    proc = subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "run", "--offline"],
        env={k: v for k, v in env.items() if v is not None},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    terminal = proc.stdout + proc.stderr
    assert screen_rows(terminal) <= SCREEN_ROWS, terminal
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "Run #1 succeeded (initial load, production): 1100 row(s) changed (1100 inserted, "
        "0 updated, 0 unchanged). Data through 2023-01-24."
    )
    assert lines[1] == (
        "States: 27129 row(s) changed (27129 inserted, 0 updated, 0 unchanged); data through "
        "2021-07-08."
    )
    # The run record keeps every warning; the screen shows the national ones as they are and
    # the per-state ones summed up in two lines.
    warnings = stored_warnings(env)
    per_state = [w for w in warnings if w.startswith("states: ")]
    national = [w for w in warnings if w not in per_state]
    assert (len(national), len(per_state)) == (5, 43)
    shown = [line.removeprefix("warning: ") for line in lines if line.startswith("warning: ")]
    assert shown[:5] == national
    assert [line.split(":")[1].strip() for line in shown[5:]] == [
        "cumulative values decrease 189 times in 43 place(s)",
        "largest decreases",
    ]
    assert shown[-1].endswith("; --verbose prints the 43 per-state warnings")
    assert lines[-1] == "No notification channel configured (COVID_ETL_NOTIFY); summary printed."
    # The README shows this very output as what a first run prints.
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    shown_in_readme = readme.split("What the first run prints:\n\n```text\n", 1)[1]
    assert shown_in_readme.split("\n```", 1)[0] == terminal.rstrip("\n")


@pytest.mark.parametrize("flag", ["--verbose", "-v"])
def test_verbose_prints_every_recorded_warning_in_order(tmp_path: Path, flag: str) -> None:
    env = newcomer_env(tmp_path / "verbose.db")
    result = CliRunner().invoke(app, ["run", "--offline", flag], env=env)

    assert result.exit_code == 0, result.output
    shown = [
        line.removeprefix("warning: ")
        for line in result.output.splitlines()
        if line.startswith("warning: ")
    ]
    warnings = stored_warnings(env)
    assert len(warnings) == 48
    assert shown == warnings
