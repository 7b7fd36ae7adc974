"""Restrict a ``database_url`` test to some backends, with the reason in one place.

SQLite and PostgreSQL hold a writer lock: a second run waits for the first, and a killed run is
left "running" for the next one to mark interrupted. S3 takes no lock: a run works on a local
copy and commits it with one conditional PUT, so a killed run leaves no trace and concurrent runs
race, one commit winning (tests/run/test_crash_and_concurrency.py shows both).
"""

from __future__ import annotations

import pytest

with_writer_lock = pytest.mark.parametrize(
    "database_url",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
on_s3 = pytest.mark.parametrize(
    "database_url", [pytest.param("s3", marks=pytest.mark.s3)], indirect=True
)
# The same two backends for a reason other than the lock, which the test states (for example:
# the S3 store runs the SQLite store's code on a local copy, so the SQLite case covers it).
on_sqlite_and_postgres = with_writer_lock
# Where the backend is the subject of a test in a directory that runs on SQLite alone (tests/web,
# tests/cli: their conftest.py says why), the test takes every backend back with this.
on_every_backend = pytest.mark.parametrize(
    "database_url",
    [
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("s3", marks=pytest.mark.s3),
    ],
    indirect=True,
)
