"""What every command shares: the exit codes, the one-line error and its exit, the settings
(environment plus options, checked, logging configured), the ``--database-url`` option and the
opened store. Its own module so that commands in modules of their own (``revisions``) use the
same helpers as the group's, without the two importing each other."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from covid_etl.errors import ConfigError, EtlError
from covid_etl.log import configure_logging
from covid_etl.settings import Settings, settings_from_env
from covid_etl.store import check_database_url, missing_database, open_store

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus CLI overrides; configure logging once."""
    try:
        settings = settings_from_env(os.environ, **overrides)
        url_name = "COVID_ETL_DATABASE_URL" if overrides.get("database_url") is None else None
        check_database_url(settings.database_url, url_name or "--database-url")
        if settings.notify:
            from covid_etl.notify.channels import check_channels  # only with channels

            check_channels(settings.notify)
    except ConfigError as exc:
        fail(exc.message)
    configure_logging(settings.log_format, settings.log_level, settings.secrets())
    return settings


# One definition for every command that opens the store, so their --help cannot disagree.
DATABASE_URL_OPTION = click.option(
    "--database-url", help="Store URL (sqlite:///..., postgresql://... or s3://...)."
)


@contextmanager
def opened_store(settings: Settings, *, must_exist: bool = False) -> Iterator[Any]:
    """The configured store, migrated, closed when the command is done. An unusable store (or,
    with ``must_exist``, a SQLite file that does not exist) is one line and exit code 1."""
    if must_exist and (path := missing_database(settings.database_url)) is not None:
        fail(f"no database at {path}; run `covid-etl run` first", EXIT_FAILED)
    try:
        store = open_store(settings.database_url, lock_timeout=settings.lock_timeout)
        store.migrate()
    except EtlError as exc:
        fail(exc.message, EXIT_FAILED)
    try:
        yield store
    except EtlError as exc:  # a read failed after a good open: still one line, no traceback
        fail(exc.message, EXIT_FAILED)
    finally:
        store.close()
