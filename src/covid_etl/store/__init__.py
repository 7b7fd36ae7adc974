"""Storage: one small interface (:class:`~covid_etl.store.base.Store`), several backends.

:func:`open_store` picks the backend from the URL scheme; nothing outside this package knows which
backend is in use.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..redact import mask_url
from .base import NotificationRow, Store

__all__ = ["NotificationRow", "Store", "open_store"]


def open_store(url: str) -> Store:
    """Open (without migrating) the store named by ``url``."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from .sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if scheme in {"postgresql", "postgres", "postgresql+psycopg"}:
        try:
            from .postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ConfigError(
                f"PostgreSQL support is not installed ({exc}); install covid-etl[postgres]"
            ) from exc
        store: Store = PostgresStore.from_url(url)
        return store
    raise ConfigError(
        f"unsupported database URL {mask_url(url)!r}: use sqlite:///path.db or "
        "postgresql://user:pass@host:port/db"
    )
