"""Upgrading a store of schema 7, whose national series was the inner join of the two sources:
the next run adds the NYT's days that JHU lacks, changes no stored day, and the original
system's outputs stay byte for byte what they were."""

from __future__ import annotations

from covid_etl.models import RunStatus
from covid_etl.publish.original import covid_data_csv, covid_data_rows, original_files
from covid_etl.run.pipeline import run_etl
from covid_etl.series import registry
from tests.helpers.backends import on_sqlite_and_postgres
from tests.helpers.env import fast_settings
from tests.helpers.schema import SERIES_BEFORE_8, store_at_schema_version, upgraded_store


@on_sqlite_and_postgres
def test_the_next_run_adds_the_missing_days_and_keeps_the_original_outputs(
    database_url: str,
) -> None:
    with store_at_schema_version(database_url, 7) as old:
        before = run_etl(fast_settings(database_url, offline=True), store=old,
                         series=SERIES_BEFORE_8).run  # fmt: skip
        assert (before.status, before.inserted) == (RunStatus.SUCCEEDED, 816)
        stored_before = old.rows(SERIES_BEFORE_8[0])
        published_before = covid_data_csv(covid_data_rows(
            [registry.NATIONAL.row(*row, 1) for row in stored_before]
        ))  # fmt: skip
    with upgraded_store(database_url) as store:
        # Migration 8 marks every stored day as one JHU has: they all came from the join.
        rows = store.rows(registry.NATIONAL)
        assert len(rows) == 816 and all(row.in_jhu == 1 for row in rows)
        assert original_files(store)["acg-covid-data.csv"] == published_before

    run = run_etl(fast_settings(database_url, offline=True)).run
    assert run.status is RunStatus.SUCCEEDED
    assert (run.inserted, run.updated, run.unchanged) == (284, 0, 816)
    assert run.data_through is not None and run.data_through.isoformat() == "2023-01-24"
    with upgraded_store(database_url) as store:
        rows = store.rows(registry.NATIONAL)
        assert len(rows) == 1100 and sum(row.in_jhu for row in rows) == 816
        assert original_files(store)["acg-covid-data.csv"] == published_before
