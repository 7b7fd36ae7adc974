"""A database as an older covid-etl left it, to test that migrations upgrade it in place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from covid_etl.models import utcnow
from covid_etl.series.registry import NATIONAL, STATES
from covid_etl.series.spec import Built, Series
from covid_etl.store import open_store, sql


class RecordBefore8(NamedTuple):
    """A national row as the covid-etl of schema versions 1..7 stored it."""

    date: dt.date
    cases: int
    deaths: int
    recovered: int | None


def _inner_join(parsed: Any) -> Built:
    built = NATIONAL.build(parsed)
    rows = [RecordBefore8(*row[:4]) for row in built.rows if row.in_jhu]
    return Built(rows, built.warnings)


# The series as the covid-etl of versions 4..7 declared them: the national series was the inner
# join of the two sources, without ``in_jhu``, and there were no NYT notes. A run into a store
# held at one of those versions must write what that code wrote.
SERIES_BEFORE_8: tuple[Series, ...] = (
    NATIONAL._replace(row=RecordBefore8, columns=NATIONAL.columns[:4], build=_inner_join),
    STATES,
)


@contextmanager
def store_at_schema_version(database_url: str, version: int) -> Iterator[Any]:
    """The store migrated only up to ``version``, as that version of covid-etl left it; its
    migrations stop there for as long as it is open."""
    old = open_store(database_url)
    old.migrations = old.migrations[:version]  # type: ignore[attr-defined]
    try:
        old.migrate()
        with _run_columns_of(version):
            yield old
    finally:
        old.close()


# The run columns each schema version added after the first, and the version that added them.
_LATER_RUN_COLUMNS = {"rules": 8, "as_of": 8}


@contextmanager
def _run_columns_of(version: int) -> Iterator[None]:
    """The store reads and writes the run columns that ``version`` had, as its code did."""
    module: Any = sql  # its run columns are module constants, read at each query
    fields = tuple(f for f in module.RUN_FIELDS if _LATER_RUN_COLUMNS.get(f, 0) <= version)
    saved = (
        module.RUN_FIELDS,
        module.RUN_COLUMNS,
        module._RUN_VALUE_COLUMNS,
        module.CHANGES_WITH_AS_OF,
    )
    module.RUN_FIELDS, module.RUN_COLUMNS = fields, ", ".join(fields)
    module._RUN_VALUE_COLUMNS = fields[1:]
    if version < _LATER_RUN_COLUMNS["as_of"]:
        module.CHANGES_WITH_AS_OF = f"{module.CHANGE_COLUMNS} FROM changes"
    try:
        yield
    finally:
        (
            module.RUN_FIELDS,
            module.RUN_COLUMNS,
            module._RUN_VALUE_COLUMNS,
            module.CHANGES_WITH_AS_OF,
        ) = saved


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
