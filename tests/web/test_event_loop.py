"""Store reads never block the event loop: one slow read (a PostgreSQL or S3 round trip that
takes seconds) must not stall every other request. Served by a real uvicorn on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from covid_etl.models import RunRecord
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.store import open_store
from covid_etl.store.base import Store
from covid_etl.web.app import create_app
from tests.helpers.env import fast_settings
from tests.helpers.serve import free_port

SLOW_READ_SECONDS = 2.0


class SlowHistoryStore:
    """A real store whose run-history read takes two seconds once ``armed`` is set."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.armed = threading.Event()
        self.entered = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def list_runs(self, limit: int = 20, offset: int = 0) -> list[RunRecord]:
        if self.armed.is_set():
            self.entered.set()
            time.sleep(SLOW_READ_SECONDS)
        return self._inner.list_runs(limit=limit, offset=offset)


@contextmanager
def uvicorn_serving(app: Any) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.serial  # a 100 ms bound
def test_slow_store_read_does_not_delay_a_cached_response(loaded_url: str) -> None:
    store = SlowHistoryStore(open_store(loaded_url))
    app = create_app(fast_settings(loaded_url, schedule=SCHEDULE_OFF), store=store)
    with uvicorn_serving(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(2):  # rendered by the route, then answered from the cache
            assert client.get("/api/v1/summary").status_code == 200
        store.armed.set()
        slow: dict[str, Any] = {}

        def read_history() -> None:
            started = time.monotonic()
            with httpx.Client(base_url=base, timeout=10) as other:
                slow["status"] = other.get("/api/v1/runs").status_code
            slow["seconds"] = time.monotonic() - started

        reader = threading.Thread(target=read_history)
        reader.start()
        assert store.entered.wait(5), "the slow read never started"
        started = time.monotonic()
        response = client.get("/api/v1/summary")
        elapsed = time.monotonic() - started
        health = client.get("/healthz")
        reader.join(10)
    assert response.status_code == 200 and health.status_code == 200
    assert elapsed < 0.1, f"a cached response took {elapsed:.3f} s behind a slow store read"
    assert slow == {"status": 200, "seconds": slow["seconds"]}
    assert slow["seconds"] >= SLOW_READ_SECONDS


def test_serving_freezes_start_up_objects_out_of_the_collector_and_thaws_them_after(
    sqlite_url: str,
) -> None:
    """A full cyclic collection in the middle of a request walked every object start-up built
    (p99 of 56-97 ms at 50 connections, docs/benchmarks-api.md); serving freezes them out of
    the collector, and gives them back when the app stops (tests start many apps)."""
    import gc

    from fastapi.testclient import TestClient

    app = create_app(fast_settings(sqlite_url))
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 10_000  # the app, its routes and schemas, and more
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0
