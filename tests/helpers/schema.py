"""A database as an older covid-etl left it, to test that migrations upgrade it in place."""

from __future__ import annotations

from covid_etl.models import utcnow
from covid_etl.store import open_store


def record_run_at_schema_version(database_url: str, version: int) -> None:
    """Migrate the store only up to ``version`` and record one succeeded run with the columns
    every version has, as the code of that version would have."""
    old = open_store(database_url)
    old.migrations = old.migrations[:version]  # type: ignore[attr-defined]
    try:
        old.migrate()
        with old._transaction() as cur:  # type: ignore[attr-defined]
            cur.execute(
                old._sql(  # type: ignore[attr-defined]
                    "INSERT INTO runs (trigger, environment, status, started_at) "
                    "VALUES ('manual', 'testing', 'succeeded', ?)"
                ),
                (old._ts_in(utcnow()),),  # type: ignore[attr-defined]
            )
    finally:
        old.close()
