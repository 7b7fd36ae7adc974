"""The command line's formatting tests run on SQLite: how a command prints, exits and reads its
options does not depend on the backend. tests/store/test_postgres.py's
``test_cli_run_runs_export_on_each_backend`` runs ``run``, ``runs`` and ``export`` as real
processes on SQLite, PostgreSQL and S3."""

from __future__ import annotations

import pytest


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh SQLite store, or the backend a test is parametrised with."""
    backend = getattr(request, "param", "sqlite")
    return str(request.getfixturevalue(f"{backend}_url"))
