"""Settings and CLI environments for tests: quick retries and timeouts, no real sources."""

from __future__ import annotations

import os

from covid_etl.settings import Settings
from tests.helpers.data import ANOMALIES_CURRENT

# The NYT's notes: off by default, like the per-state series, so that a test's counts are those
# of the series it is about; the tests of the notes and of what is served switch them on with
# the shipped file (no test reaches the real host).
ANOMALIES_LOCAL = str(ANOMALIES_CURRENT)


def fast_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests: quick retries and timeouts so failure paths take milliseconds."""
    base: dict[str, object] = {
        "database_url": database_url,
        "retry_backoff": 0.01,
        "retries": 2,
        "read_timeout": 2.0,
        "connect_timeout": 2.0,
        "deadline": 10.0,
        "lock_timeout": 30.0,
        "notify_retries": 1,
        "environment": "testing",
        "states_url": "off",
        "anomalies_url": "off",
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment for running the CLI as a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVID_ETL_")}
    env.update(
        {
            "COVID_ETL_DATABASE_URL": database_url,
            "COVID_ETL_RETRY_BACKOFF": "0.01",
            "COVID_ETL_STATES_URL": "off",
            "COVID_ETL_ANOMALIES_URL": "off",
        }
    )
    env.update(extra)
    return env
