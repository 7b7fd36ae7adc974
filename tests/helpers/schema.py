"""A database as an older covid-etl left it, to test that migrations upgrade it in place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from covid_etl.models import utcnow
from covid_etl.store import open_store


@contextmanager
def store_at_schema_version(database_url: str, version: int) -> Iterator[Any]:
    """The store migrated only up to ``version``, as that version of covid-etl left it; its
    migrations stop there for as long as it is open."""
    old = open_store(database_url)
    old.migrations = old.migrations[:version]  # type: ignore[attr-defined]
    try:
        old.migrate()
        yield old
    finally:
        old.close()


@contextmanager
def upgraded_store(database_url: str) -> Iterator[Any]:
    """The store as this covid-etl opens it: migrated, checked to be at the latest version."""
    store = open_store(database_url)
    try:
        store.migrate()
        assert store.schema_version() == len(store.migrations)  # type: ignore[attr-defined]
        yield store
    finally:
        store.close()


def record_run_at_schema_version(database_url: str, version: int) -> None:
    """Migrate the store only up to ``version`` and record one succeeded run with the columns
    every version has, as the code of that version would have."""
    with store_at_schema_version(database_url, version) as old, old._transaction() as cur:
        cur.execute(
            old._sql(
                "INSERT INTO runs (trigger, environment, status, started_at) "
                "VALUES ('manual', 'testing', 'succeeded', ?)"
            ),
            (old._ts_in(utcnow()),),
        )
