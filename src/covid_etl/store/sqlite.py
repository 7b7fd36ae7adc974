"""SQLite backend: a single file, WAL mode so readers never wait for (or see half of) a load.

One writer at a time is enforced by an exclusive ``flock`` on a lock file next to the database;
the kernel releases it when the process dies, so a killed run never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import RunInProgress, StoreError, StoreUnavailable
from .sql import EVENT_ID_MIGRATION, SqlStore, cursor_transaction

MIGRATIONS = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            trigger TEXT NOT NULL,
            environment TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            failed_stage TEXT,
            error TEXT,
            warnings TEXT NOT NULL DEFAULT '[]',
            initial_load INTEGER NOT NULL DEFAULT 0,
            inserted INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            data_through TEXT,
            sources TEXT NOT NULL DEFAULT '[]',
            recovered_from INTEGER,
            notification_status TEXT,
            pid INTEGER,
            host TEXT
        )""",
        "CREATE INDEX runs_by_status ON runs (status)",
        """CREATE TABLE records (
            date TEXT PRIMARY KEY CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            cases INTEGER NOT NULL CHECK (cases >= 0),
            deaths INTEGER NOT NULL CHECK (deaths >= 0),
            recovered INTEGER CHECK (recovered IS NULL OR recovered >= 0),
            run_id INTEGER NOT NULL REFERENCES runs (id)
        ) WITHOUT ROWID""",
        """CREATE TABLE notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            channel_key TEXT NOT NULL,
            channel TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            delivered_at TEXT
        )""",
        "CREATE INDEX notifications_by_status ON notifications (status)",
    ),
    EVENT_ID_MIGRATION,
)


class SqliteStore(SqlStore):
    """Store in one SQLite file."""

    migrations = MIGRATIONS
    busy_timeout_ms = 30_000

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.url_for_display = f"sqlite:///{self.path}"
        self._local = threading.local()

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's spelling)."""
        path = url.split(":", 1)[1]
        if not path.startswith("///"):
            raise StoreUnavailable(f"bad SQLite URL {url!r}: expected sqlite:///path/to/file.db")
        return cls(path[3:])

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN ourselves, so a transaction is exactly as
            # wide as the code says.
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a run reported as committed survives a power cut, not only a crash.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        # IMMEDIATE takes the write lock up front, so two writers never deadlock on upgrade.
        try:
            with cursor_transaction(self._connection(), "BEGIN IMMEDIATE") as cur:
                yield cur
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite database {self.path} refused the write: {exc}") from exc

    def _read(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return super()._read(query, params)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read SQLite database {self.path}: {exc}") from exc

    @contextmanager
    def writer_lock(self, timeout: float) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole block
        except OSError as exc:
            raise StoreUnavailable(f"cannot open lock file {lock_path}: {exc}") from exc
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RunInProgress(
                            f"another run is in progress (waited {timeout:g}s for the writer "
                            f"lock of {self.path})"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()

    def snapshot(self) -> bytes:
        """The committed database as the bytes of one file (what a backup would write)."""
        try:
            return self._connection().serialize()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read SQLite database {self.path}: {exc}") from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
