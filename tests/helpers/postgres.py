"""Throwaway PostgreSQL databases for tests: one per test, created and dropped around it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    """The server the tests use (a maintenance database on it; its user may CREATE DATABASE)."""
    return os.environ.get("COVID_ETL_TEST_POSTGRES_URL") or DEFAULT_URL


def required() -> bool:
    """CI sets COVID_ETL_REQUIRE_POSTGRES=1: a missing server is then an error, not a skip."""
    return os.environ.get("COVID_ETL_REQUIRE_POSTGRES", "") == "1"


def unreachable_reason(url: str) -> str | None:
    """Why the server cannot be used, or None when it can."""
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return " ".join(str(exc).split())
    return None


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def with_port(url: str, port: int) -> str:
    """``url`` pointing at the same host on another port."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))


@contextmanager
def throwaway_database(url: str) -> Iterator[str]:
    """Create a database with a random name; yield its URL; drop it (and its sessions) after."""
    name = f"covid_etl_test_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(url, name)
    finally:
        # FORCE ends sessions a test left behind (a killed child's, a store not closed).
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
