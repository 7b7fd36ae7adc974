"""The way back from bad data: ``covid-etl run --accept-removals``.

A run never deletes rows on its own (the shrink guard). When a source really drops dates that are
stored, the operator accepts the removals explicitly; the run deletes those rows in its own
transaction, records how many and which dates, and says so in its notification.
Runs on the real files, through the real CLI, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from covid_etl.aws.etl import run_invocation
from covid_etl.aws.events import parse_invocation, store_url_for
from covid_etl.errors import ConfigError
from covid_etl.series import registry
from covid_etl.store import open_store
from tests.helpers.backends import on_sqlite_and_postgres
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT
from tests.helpers.env import cli_env
from tests.helpers.schema import record_run_at_schema_version, upgraded_store
from tests.helpers.servers import WebhookSink

# Two ranges and a single day, all inside the national series (2020-01-21 .. 2023-01-24).
DROPPED = (
    [dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(5)]
    + [dt.date(2021, 3, 10)]
    + [dt.date(2023, 1, 23), dt.date(2023, 1, 24)]
)
DROPPED_RANGES = "2021-01-01..2021-01-05, 2021-03-10, 2023-01-23..2023-01-24"


def without_dates(source: Path, target: Path, dates: list[dt.date]) -> Path:
    """A copy of the real NYT file lacking the given dates (line by line, bytes otherwise kept)."""
    drop = {d.isoformat() for d in dates}
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text(
        "".join(line for line in lines if line.split(",", 1)[0] not in drop), encoding="utf-8"
    )
    return target


def cli(database_url: str, nyt: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "run", "--nyt-url", str(nyt),
         "--jhu-url", str(JHU_CURRENT), *args],
        env=cli_env(database_url, **env), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def stored(database_url: str) -> dict[dt.date, Any]:
    store = open_store(database_url)
    try:
        return {r.date: r for r in store.rows(registry.NATIONAL)}
    finally:
        store.close()


def runs(database_url: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", "runs", "--json"],
        env=cli_env(database_url), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return list(json.loads(result.stdout))


def test_shrunken_source_fails_and_says_how_to_accept_the_removals(
    database_url: str, tmp_path: Path
) -> None:
    assert cli(database_url, NYT_CURRENT).returncode == 0
    before = stored(database_url)
    assert len(before) == 1100
    shrunken = without_dates(NYT_CURRENT, tmp_path / "us.csv", DROPPED)

    result = cli(database_url, shrunken)

    assert result.returncode == 1, result.stdout + result.stderr
    message = runs(database_url)[0]["error"]
    assert f"lacks 8 date(s) that are already stored ({DROPPED_RANGES})" in message
    assert message.endswith(
        "if the source really dropped these dates, accept the removals with "
        "`covid-etl run --accept-removals`"
    )
    assert "covid-etl run --accept-removals" in result.stdout
    assert stored(database_url) == before


def test_accept_removals_deletes_records_and_reports_them(
    database_url: str, tmp_path: Path, webhook: WebhookSink
) -> None:
    assert cli(database_url, NYT_CURRENT).returncode == 0
    shrunken = without_dates(NYT_CURRENT, tmp_path / "us.csv", DROPPED)

    result = cli(
        database_url, shrunken, "--accept-removals", "--json", COVID_ETL_NOTIFY=webhook.url
    )

    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded"
    assert (out["removed"], out["inserted"], out["updated"]) == (8, 0, 0)
    assert out["unchanged"] == 1100 - 8
    assert out["data_through"] == "2023-01-22"
    after = stored(database_url)
    assert len(after) == 1100 - 8 and not set(DROPPED) & set(after)

    run = runs(database_url)[0]
    assert (run["removed"], run["removed_dates"]) == (8, DROPPED_RANGES.split(", "))
    [notice] = webhook.received
    assert "8 removed" in notice["title"]
    assert notice["message"].splitlines()[:2] == [
        f"Run #{run['id']} succeeded (update, production): 8 row(s) changed (0 inserted, "
        "0 updated, 1092 unchanged, 8 removed). Data through 2023-01-22.",
        f"Removed: 8 date(s) ({DROPPED_RANGES}): the sources no longer have these dates and "
        "their removal was accepted.",
    ]

    # The next ordinary run on the same source has nothing left to remove.
    again = cli(database_url, shrunken, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["removed"] == 0


def test_accept_removals_text_summary_names_the_removed_dates(
    database_url: str, tmp_path: Path
) -> None:
    assert cli(database_url, NYT_CURRENT).returncode == 0
    shrunken = without_dates(NYT_CURRENT, tmp_path / "us.csv", DROPPED[:5])

    result = cli(database_url, shrunken, "--accept-removals")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "row(s) changed (0 inserted, 0 updated, 1095 unchanged, 5 removed)" in result.stdout
    assert (
        "\nRemoved: 5 date(s) (2021-01-01..2021-01-05): the sources no longer have these dates "
        "and their removal was accepted.\n" in result.stdout
    )


def test_ordinary_run_reports_zero_removed(database_url: str) -> None:
    result = cli(database_url, NYT_CURRENT, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["removed"] == 0
    assert runs(database_url)[0]["removed"] == 0


def test_aws_event_accepts_removals(database_url: str, tmp_path: Path) -> None:
    shrunken = without_dates(NYT_CURRENT, tmp_path / "us.csv", DROPPED)
    environ = {
        "COVID_ETL_DATABASE_URL": database_url,
        "COVID_ETL_NYT_URL": str(NYT_CURRENT),
        "COVID_ETL_JHU_URL": str(JHU_CURRENT),
        "COVID_ETL_STATES_URL": "off",
        "COVID_ETL_ANOMALIES_URL": "off",
    }
    first = run_invocation(parse_invocation({"environment": "testing"}, "req-1"), environ)
    assert first["inserted"] == 1100 and first["removed"] == 0
    environ["COVID_ETL_NYT_URL"] = str(shrunken)

    event = {"environment": "testing", "accept_removals": True}
    summary = run_invocation(parse_invocation(event, "req-2"), environ)

    assert summary["status"] == "succeeded" and summary["removed"] == 8
    assert DROPPED_RANGES in summary["body"]
    assert len(stored(store_url_for(database_url, "testing"))) == 1100 - 8


def test_aws_event_accept_removals_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match=r"invalid accept_removals 'yes' in the event"):
        parse_invocation({"accept_removals": "yes"}, "req-1")


# The S3 store runs the SQLite store's migrations on its local copy: the SQLite case covers it.
@on_sqlite_and_postgres
def test_runs_recorded_before_the_removed_columns_read_as_zero_removed(database_url: str) -> None:
    record_run_at_schema_version(database_url, 1)  # the schema before it
    with upgraded_store(database_url) as store:
        [upgraded] = store.list_runs()
        assert (upgraded.status, upgraded.removed, upgraded.removed_dates) == ("succeeded", 0, [])
