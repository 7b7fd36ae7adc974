"""One response, one store revision: a run that commits while a response is being built must not
give a summary whose data and last run come from different moments (an S3 reader revalidates
its copy before each read, so two reads of one request can straddle a commit)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from covid_etl.run.pipeline import run_etl
from covid_etl.series.spec import Series
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.store import open_store
from covid_etl.store.base import Store
from covid_etl.web.app import create_app
from tests.helpers.backends import on_every_backend
from tests.helpers.env import fast_settings


class CommitDuringRead:
    """A real store in which a complete run commits just after the first read of the data."""

    def __init__(self, inner: Store, database_url: str) -> None:
        self._inner = inner
        self._url = database_url
        self.committed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def rows(self, series: Series, *args: Any, **kwargs: Any) -> list[Any]:
        rows = self._inner.rows(series, *args, **kwargs)
        if not self.committed:
            self.committed = True
            assert run_etl(fast_settings(self._url, offline=True), store=self._inner).succeeded
        return rows


@on_every_backend
def test_summary_never_mixes_data_and_run_from_two_store_revisions(database_url: str) -> None:
    inner = open_store(database_url)
    inner.migrate()
    store = CommitDuringRead(inner, database_url)
    app = create_app(fast_settings(database_url, schedule=SCHEDULE_OFF), store=store)
    with TestClient(app) as client:
        summary = client.get("/api/v1/summary").json()
    assert store.committed
    last_run = summary["last_run"]
    # Either the revision before the run (no data, no run) or after it (its data and its run).
    assert (summary["data_through"], last_run and last_run["status"]) in (
        (None, None),
        ("2023-01-24", "succeeded"),
    ), summary
