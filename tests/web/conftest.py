"""The web layer's tests run on SQLite: what a route answers does not depend on the backend,
and tests/web/test_recorded_answers.py shows it, requesting every read endpoint on SQLite,
PostgreSQL and S3 and comparing the answers byte for byte. A test here whose subject is the
backend itself runs on every backend with ``tests.helpers.backends.on_every_backend``."""

from __future__ import annotations

import pytest


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh SQLite store, or the backend a test is parametrised with."""
    backend = getattr(request, "param", "sqlite")
    return str(request.getfixturevalue(f"{backend}_url"))
