"""Fixtures for the HTTP service: a store loaded with the real 816-row data and a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from covid_etl.run.pipeline import run_etl
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers.env import fast_settings


@pytest.fixture
def loaded_url(database_url: str) -> str:
    """``database_url`` after one offline run of the real snapshot."""
    result = run_etl(fast_settings(database_url, offline=True))
    assert result.succeeded, result.run.error
    return database_url


@pytest.fixture
def client(loaded_url: str) -> Iterator[TestClient]:
    app = create_app(fast_settings(loaded_url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
