"""Settings from the environment: every bad value is refused up front with one line that names
the variable and the form it accepts (exit code 2), instead of waiting forever on a NaN timeout
or failing mid-run on a negative backoff."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from covid_etl.errors import ConfigError
from covid_etl.redact import mask_url
from covid_etl.settings import Settings, settings_from_env
from covid_etl.store import check_database_url
from tests.helpers.env import cli_env

# Every numeric setting, found from the settings object itself, so a new one is covered here
# without anyone remembering to add it.
NUMERIC = [f for f in dataclasses.fields(Settings) if f.type in ("int", "float", int, float)]
NOT_NUMBERS = [
    "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "1e300", "-1", "-0.5", "ten", "1,5",
]  # fmt: skip
# Zero means "no time at all" or "nothing accepted" here: refused.
ZERO_REFUSED = {
    "COVID_ETL_CONNECT_TIMEOUT", "COVID_ETL_READ_TIMEOUT", "COVID_ETL_DEADLINE",
    "COVID_ETL_MAX_BYTES", "COVID_ETL_PORT",
}  # fmt: skip
# Zero is meaningful: no retry, no backoff, fail at once when another run holds the lock,
# revalidate the S3 copy on every request.
ZERO_ACCEPTED = {
    "COVID_ETL_RETRIES", "COVID_ETL_RETRY_BACKOFF", "COVID_ETL_LOCK_TIMEOUT",
    "COVID_ETL_NOTIFY_RETRIES", "COVID_ETL_S3_REVALIDATE",
}  # fmt: skip


def env_name(f: dataclasses.Field[object]) -> str:
    return str(f.metadata["env"])


def refusal(env: str, value: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from_env({env: value})
    return caught.value.message


def test_the_numeric_settings_are_all_known() -> None:
    assert {env_name(f) for f in NUMERIC} == ZERO_REFUSED | ZERO_ACCEPTED


@pytest.mark.parametrize("value", NOT_NUMBERS)
@pytest.mark.parametrize("field", NUMERIC, ids=env_name)
def test_numeric_setting_refuses_non_finite_negative_and_garbage(
    field: dataclasses.Field[object], value: str
) -> None:
    message = refusal(env_name(field), value)
    assert message.startswith(f"{env_name(field)}={value!r} is invalid: expected ")
    assert "\n" not in message
    assert "invalid literal" not in message and "could not convert" not in message


@pytest.mark.parametrize("field", NUMERIC, ids=env_name)
def test_numeric_setting_zero_is_refused_only_where_meaningless(
    field: dataclasses.Field[object],
) -> None:
    env = env_name(field)
    if env in ZERO_REFUSED:
        assert "expected" in refusal(env, "0")
    else:
        assert getattr(settings_from_env({env: "0"}), field.name) == 0


@pytest.mark.parametrize("field", NUMERIC, ids=env_name)
def test_numeric_setting_accepts_an_ordinary_value(field: dataclasses.Field[object]) -> None:
    settings = settings_from_env({env_name(field): "7"})
    assert getattr(settings, field.name) == 7


@pytest.mark.parametrize("field", [f for f in NUMERIC if f.type in ("int", int)], ids=env_name)
def test_whole_number_setting_refuses_a_fraction(field: dataclasses.Field[object]) -> None:
    assert "whole number" in refusal(env_name(field), "1.5")


def test_port_above_the_range_is_refused() -> None:
    assert refusal("COVID_ETL_PORT", "65536") == (
        "COVID_ETL_PORT='65536' is invalid: expected a port number: a whole number from 1 to 65535"
    )


def test_seconds_message_names_the_accepted_form() -> None:
    assert refusal("COVID_ETL_LOCK_TIMEOUT", "nan") == (
        "COVID_ETL_LOCK_TIMEOUT='nan' is invalid: expected a number of seconds from 0 "
        "to 86400 (e.g. 60)"
    )
    assert refusal("COVID_ETL_DEADLINE", "-1") == (
        "COVID_ETL_DEADLINE='-1' is invalid: expected a number of seconds greater than 0, "
        "at most 86400 (e.g. 300)"
    )


BAD_DATABASE_URLS = [
    "sqlite://relative.db",
    "sqlite:",
    "sqlite:/data/covid.db",
    "sqlite://",
    "sqlite:///",
    "sqlite:////",
    "postgresql://",
    "postgresql:///covid",
    "postgresql://user@:5432/covid",
    "postgresql://user@db:port/covid",
    "postgres://",
    "s3://",
    "s3:///prefix",
    "mysql://db/covid",
    "",
]


@pytest.mark.parametrize("url", BAD_DATABASE_URLS)
def test_malformed_database_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_database_url(url)
    message = caught.value.message
    assert message.startswith(f"COVID_ETL_DATABASE_URL={mask_url(url)!r} is invalid: ")
    assert "use sqlite:///relative/path.db, sqlite:////absolute/path.db" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///data/covid-etl.db",
        "sqlite:////var/lib/covid-etl/covid.db",
        "SQLite:///covid.db",
        "postgresql://etl:secret@db.example.com:5432/covid",
        "postgresql://db/covid",
        "postgres://etl@127.0.0.1/covid",
        "postgresql+psycopg://etl@[::1]:5432/covid",
        "postgresql:///covid?host=/var/run/postgresql",
        "postgresql://%2Fvar%2Frun%2Fpostgresql/covid",
        "s3://bucket",
        "s3://bucket/prefix/more",
    ],
)
def test_wellformed_database_url_is_accepted(url: str) -> None:
    check_database_url(url)


def test_database_url_message_masks_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        check_database_url("postgresql://etl:hunter22@db:port/covid")
    assert "hunter22" not in caught.value.message


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    database = tmp_path / "covid.db"
    environ = cli_env(f"sqlite:///{database}", **env)
    return subprocess.run(
        [sys.executable, "-m", "covid_etl.cli", *args],
        env=environ, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("COVID_ETL_LOCK_TIMEOUT", "nan"),
        ("COVID_ETL_RETRY_BACKOFF", "-1"),
        ("COVID_ETL_DEADLINE", "inf"),
        ("COVID_ETL_MAX_BYTES", "0"),
    ],
)
def test_cli_refuses_a_bad_number_in_one_line_with_exit_2(
    tmp_path: Path, env: str, value: str
) -> None:
    result = cli(tmp_path, "run", "--offline", **{env: value})
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {env}={value!r} is invalid: expected ")
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no database, no lock file


@pytest.mark.parametrize("command", [["run", "--offline"], ["runs"], ["export"]])
def test_cli_refuses_a_relative_sqlite_url_with_two_slashes(
    tmp_path: Path, command: list[str]
) -> None:
    result = cli(tmp_path, *command, COVID_ETL_DATABASE_URL="sqlite://relative.db")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: COVID_ETL_DATABASE_URL='sqlite://relative.db' is invalid: ")
    assert list(tmp_path.iterdir()) == []


def test_cli_names_the_option_when_the_url_came_from_it(tmp_path: Path) -> None:
    result = cli(tmp_path, "run", "--offline", "--database-url", "postgresql://")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: --database-url='postgresql://' is invalid: ")
