"""Storage: one small interface (:class:`~covid_etl.store.base.Store`), several backends.

:func:`open_store` picks the backend from the URL scheme; nothing outside this package knows which
backend is in use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..redact import mask_url

if TYPE_CHECKING:  # the interface is for type checkers; backends do not inherit from it
    from .base import Store

__all__ = ["check_database_url", "missing_database", "open_store"]


SQLITE_SCHEMES = frozenset({"sqlite"})
POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})
S3_SCHEMES = frozenset({"s3"})


def url_scheme(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""


def check_database_url(url: str) -> None:
    """Raise ConfigError for a URL no backend understands (a settings mistake, exit code 2)."""
    if url_scheme(url) not in SQLITE_SCHEMES | POSTGRES_SCHEMES | S3_SCHEMES:
        raise ConfigError(
            f"unsupported database URL {mask_url(url)!r}: use sqlite:///path.db, "
            "postgresql://user:pass@host:port/db or s3://bucket/prefix"
        )


def missing_database(url: str) -> str | None:
    """The path of the SQLite file ``url`` names when that file does not exist (else None).

    Commands that only read (``export``, ``runs``) check this first, so that asking an empty
    location for data does not create a database there.
    """
    if url_scheme(url) not in SQLITE_SCHEMES:
        return None
    from .sqlite import SqliteStore

    path = SqliteStore.from_url(url).path
    return None if path.exists() else str(path)


def open_store(url: str, *, lock_timeout: float | None = None) -> Store:
    """Open (without migrating) the store named by ``url``.

    ``lock_timeout`` (COVID_ETL_LOCK_TIMEOUT) bounds every wait for a lock held by another
    program, where the backend has such locks (SQLite's own file locks).
    """
    scheme = url_scheme(url)
    if scheme in SQLITE_SCHEMES:
        from .sqlite import DEFAULT_LOCK_TIMEOUT, SqliteStore

        timeout = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
        return SqliteStore.from_url(url, lock_timeout=timeout)
    if scheme in POSTGRES_SCHEMES:
        try:
            from .postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ConfigError(
                f"PostgreSQL support is not installed ({exc}); install covid-etl[postgres]"
            ) from exc
        store: Store = PostgresStore.from_url(url)
        return store
    if scheme in S3_SCHEMES:
        # boto3 is imported by the S3 store only when it first talks to S3.
        from .s3 import S3Store

        return S3Store.from_url(url)
    check_database_url(url)
    raise AssertionError("unreachable")
