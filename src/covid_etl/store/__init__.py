"""Storage: one small interface (:class:`~covid_etl.store.base.Store`), several backends.

:func:`open_store` picks the backend from the URL scheme; nothing outside this package knows which
backend is in use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from covid_etl.errors import ConfigError
from covid_etl.redact import mask_url

if TYPE_CHECKING:  # the interface is for type checkers; backends do not inherit from it
    from covid_etl.store.base import Store

__all__ = ["check_database_url", "missing_database", "open_store"]


SQLITE_SCHEMES = frozenset({"sqlite"})
POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})
S3_SCHEMES = frozenset({"s3"})


def url_scheme(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""


DATABASE_URL_FORMS = (
    "use sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "postgresql://user:pass@host:port/db or s3://bucket/prefix"
)


def check_database_url(url: str, name: str = "COVID_ETL_DATABASE_URL") -> None:
    """Raise ConfigError for a URL no backend understands (a settings mistake, exit code 2);
    ``name`` is where the URL came from (the variable or the command-line option)."""
    problem = database_url_problem(url)
    if problem is not None:
        raise ConfigError(f"{name}={mask_url(url)!r} is invalid: {problem}; {DATABASE_URL_FORMS}")


def database_url_problem(url: str) -> str | None:
    """What is wrong with a store URL, or None. Only the shape: whether it opens is for later."""
    scheme = url_scheme(url)
    if scheme in SQLITE_SCHEMES:
        path = url.split(":", 1)[1]
        if not path.startswith("///"):
            # sqlite://x.db would put the file name where a host goes; SQLAlchemy's spelling
            # has three slashes before a relative path and four before an absolute one.
            return "a SQLite URL needs three slashes before the file path"
        if path[3:].strip("/") == "" or path.endswith("/"):
            return "no database file path after sqlite:///"
        return None
    if scheme in POSTGRES_SCHEMES:
        return _postgres_url_problem(url)
    if scheme in S3_SCHEMES:
        if not urlsplit(url).netloc:
            return "no bucket after s3://"
        return None
    return f"unsupported database URL scheme {scheme!r}" if scheme else "not a URL"


def _postgres_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "the port is not a number from 1 to 65535"
    # libpq also takes the host (or a socket directory) from a host= query parameter.
    if not parts.hostname and "host=" not in parts.query:
        return "no host: write postgresql://user:pass@host:port/db"
    return None


def missing_database(url: str) -> str | None:
    """The path of the SQLite file ``url`` names when that file does not exist (else None).

    Commands that only read (``export``, ``runs``) check this first, so that asking an empty
    location for data does not create a database there.
    """
    if url_scheme(url) not in SQLITE_SCHEMES:
        return None
    from covid_etl.store.sqlite import SqliteStore

    path = SqliteStore.from_url(url).path
    return None if path.exists() else str(path)


def open_store(
    url: str, *, lock_timeout: float | None = None, s3_revalidate: float | None = None
) -> Store:
    """Open (without migrating) the store named by ``url``.

    ``lock_timeout`` (COVID_ETL_LOCK_TIMEOUT) bounds every wait for a lock held by another
    program, where the backend has such locks (SQLite's own file locks). ``s3_revalidate``:
    seconds an S3 store's reader uses its cached copy before checking for a newer commit.
    """
    scheme = url_scheme(url)
    if scheme in SQLITE_SCHEMES:
        from covid_etl.store.sqlite import DEFAULT_LOCK_TIMEOUT, SqliteStore

        timeout = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
        return SqliteStore.from_url(url, lock_timeout=timeout)
    if scheme in POSTGRES_SCHEMES:
        try:
            from covid_etl.store.postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ConfigError(
                f"PostgreSQL support is not installed ({exc}); install covid-etl[postgres]"
            ) from exc
        store: Store = PostgresStore.from_url(url)
        return store
    if scheme in S3_SCHEMES:
        # boto3 is imported by the S3 store only when it first talks to S3.
        from covid_etl.store.s3 import S3Store

        if s3_revalidate is None:
            return S3Store.from_url(url)
        return S3Store.from_url(url, revalidate=s3_revalidate)
    check_database_url(url)
    raise AssertionError("unreachable")
