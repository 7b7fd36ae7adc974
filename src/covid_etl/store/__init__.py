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

__all__ = ["check_database_url", "open_store"]


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


def open_store(url: str, *, s3_revalidate: float | None = None) -> Store:
    """Open (without migrating) the store named by ``url``. ``s3_revalidate``: seconds an S3
    store's reader uses its cached copy before checking for a newer commit."""
    scheme = url_scheme(url)
    if scheme in SQLITE_SCHEMES:
        from .sqlite import SqliteStore

        return SqliteStore.from_url(url)
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

        if s3_revalidate is None:
            return S3Store.from_url(url)
        return S3Store.from_url(url, revalidate=s3_revalidate)
    check_database_url(url)
    raise AssertionError("unreachable")
