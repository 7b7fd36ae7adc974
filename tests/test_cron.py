"""The five-field cron parser and its next fire times (UTC)."""

from __future__ import annotations

import datetime as dt

import pytest

from covid_etl.cron import parse_cron
from covid_etl.errors import ConfigError


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 21 * * *", "2024-05-01T10:00", "2024-05-01T21:00"),
        ("0 21 * * *", "2024-05-01T21:00", "2024-05-02T21:00"),  # strictly after
        ("0 21 * * *", "2024-12-31T21:30", "2025-01-01T21:00"),
        ("*/15 * * * *", "2024-05-01T10:07:30", "2024-05-01T10:15"),
        ("5-10/5 3 * * *", "2024-05-01T03:06", "2024-05-01T03:10"),
        ("0 0 29 2 *", "2023-03-01T00:00", "2024-02-29T00:00"),
        ("30 6 * * mon", "2024-05-01T00:00", "2024-05-06T06:30"),  # 1 May 2024 is a Wednesday
        ("0 12 * * 0", "2024-05-01T00:00", "2024-05-05T12:00"),
        ("0 12 * * 7", "2024-05-01T00:00", "2024-05-05T12:00"),  # 7 is Sunday too
        ("0 0 1 jan,jul *", "2024-02-01T00:00", "2024-07-01T00:00"),
        ("0 0 13 * fri", "2024-05-01T00:00", "2024-05-03T00:00"),  # either day field matches
        ("1,2 0 * * *", "2024-05-01T00:01", "2024-05-01T00:02"),
    ],
)
def test_cron_next_after_gives_the_next_fire_time(
    expression: str, after: str, expected: str
) -> None:
    assert parse_cron(expression).next_after(at(after)) == at(expected)


def test_cron_next_after_converts_other_timezones_to_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    moment = dt.datetime(2024, 5, 1, 22, 30, tzinfo=plus_two)  # 20:30 UTC
    assert parse_cron("0 21 * * *").next_after(moment) == at("2024-05-01T21:00")


@pytest.mark.parametrize(
    "expression",
    ["", "0 21 * *", "0 21 * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
     "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "0 0 30 2 *"],
)  # fmt: skip
def test_cron_invalid_expression_is_a_config_error(expression: str) -> None:
    with pytest.raises(ConfigError):
        parse_cron(expression)
