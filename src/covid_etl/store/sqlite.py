"""SQLite backend: a single file, WAL mode so readers never wait for (or see half of) a load.

One writer at a time is enforced by an exclusive ``flock`` on a lock file next to the database;
the kernel releases it when the process dies, so a killed run never blocks the next one. Any wait
for SQLite's own locks (another program writing to the file) is bounded by the lock timeout too.

SQLite's errors are translated into sentences that say what happened to the file: locked by
another process, disk full, read-only, corrupt. A file that fails SQLite's ``quick_check`` is
never written to.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from covid_etl.errors import (
    DatabaseCorrupt,
    DatabaseLocked,
    RunInProgress,
    StoreError,
    StoreUnavailable,
)
from covid_etl.series.spec import Series
from covid_etl.store.sql import (
    CHANGE_COLUMNS,
    CHANGE_KIND_CHECK,
    EVENT_ID_MIGRATION,
    SqlStore,
    cursor_transaction,
)

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
    # 2: what a run deleted with --accept-removals (count, and the dates as ranges).
    (
        "ALTER TABLE runs ADD COLUMN removed INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE runs ADD COLUMN removed_dates TEXT NOT NULL DEFAULT '[]'",
    ),
    # 3: the AWS event that started a run, so a second delivery is refused.
    EVENT_ID_MIGRATION,
    # 4: the per-state series, and what each run did to it (JSON; null when states were off).
    (
        """CREATE TABLE states (
            date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            fips TEXT NOT NULL CHECK (fips GLOB '[0-9][0-9]'),
            name TEXT NOT NULL,
            cases INTEGER NOT NULL CHECK (cases >= 0),
            deaths INTEGER NOT NULL CHECK (deaths >= 0),
            run_id INTEGER NOT NULL REFERENCES runs (id),
            PRIMARY KEY (date, fips)
        ) WITHOUT ROWID""",
        "CREATE INDEX states_by_fips ON states (fips, date)",
        "ALTER TABLE runs ADD COLUMN states TEXT",
    ),
    # 5: the change log, one entry per row a run changed, with the values before and after.
    (
        """CREATE TABLE changes (
            run_id INTEGER NOT NULL REFERENCES runs (id),
            series TEXT NOT NULL,
            date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            kind TEXT NOT NULL CHECK (kind IN ('inserted', 'updated', 'removed')),
            old_values TEXT,
            new_values TEXT,
            PRIMARY KEY (run_id, series, date)
        ) WITHOUT ROWID""",
        "CREATE INDEX changes_by_series ON changes (series, date)",
    ),
    # 6: the same change log with its kind check spelled as CHANGE_KIND_CHECK (a table's CHECK
    # can only change by rebuilding the table in SQLite).
    (
        f"""CREATE TABLE changes_v6 (
            run_id INTEGER NOT NULL REFERENCES runs (id),
            series TEXT NOT NULL,
            date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            kind TEXT NOT NULL {CHANGE_KIND_CHECK},
            old_values TEXT,
            new_values TEXT,
            PRIMARY KEY (run_id, series, date)
        ) WITHOUT ROWID""",
        f"INSERT INTO changes_v6 ({CHANGE_COLUMNS}) SELECT {CHANGE_COLUMNS} FROM changes",
        "DROP TABLE changes",
        "ALTER TABLE changes_v6 RENAME TO changes",
        "CREATE INDEX changes_by_series ON changes (series, date)",
    ),
    # 7: the per-state series keyed by (fips, date), its only B-tree (why: sql._seek_partitions).
    # Spelled out, like every migration: what version 7 is must not change with the code.
    (
        """CREATE TABLE states_v7 (
            date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            fips TEXT NOT NULL CHECK (fips GLOB '[0-9][0-9]'),
            name TEXT NOT NULL,
            cases INTEGER NOT NULL CHECK (cases >= 0),
            deaths INTEGER NOT NULL CHECK (deaths >= 0),
            run_id INTEGER NOT NULL REFERENCES runs (id),
            PRIMARY KEY (fips, date)
        ) WITHOUT ROWID""",
        "INSERT INTO states_v7 (date, fips, name, cases, deaths, run_id) "
        "SELECT date, fips, name, cases, deaths, run_id FROM states ORDER BY fips, date",
        "DROP TABLE states",  # and its index states_by_fips, which the new key replaces
        "ALTER TABLE states_v7 RENAME TO states",
    ),
    # 8: the national series keeps every NYT date, with whether JHU has it (every row stored
    # before was of both sources); the NYT's anomaly notes, keyed by (geoid, type, date).
    (
        # Which rules built a run's series: a run after an upgrade rebuilds them (runs.rules).
        "ALTER TABLE runs ADD COLUMN rules INTEGER",
        # The day whose data a run loaded: the data as of a day is read back from it.
        "ALTER TABLE runs ADD COLUMN as_of TEXT CHECK (as_of GLOB "
        "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]')",
        "ALTER TABLE records ADD COLUMN in_jhu INTEGER NOT NULL DEFAULT 1 CHECK (in_jhu IN (0, 1))",
        """CREATE TABLE anomalies (
            date TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            geoid TEXT NOT NULL CHECK (geoid GLOB 'USA*'),
            type TEXT NOT NULL CHECK (type IN ('cases', 'deaths', 'both')),
            end_date TEXT CHECK (end_date >= date),
            county TEXT,
            state TEXT,
            omit_from_rolling_average TEXT CHECK (omit_from_rolling_average = 'yes'),
            omit_from_rolling_average_on_subgeographies TEXT
                CHECK (omit_from_rolling_average_on_subgeographies = 'yes'),
            description TEXT,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            PRIMARY KEY (geoid, type, date)
        ) WITHOUT ROWID""",
    ),
)


# SQLite's primary result codes (the low byte of an extended code).
SQLITE_READONLY, SQLITE_BUSY, SQLITE_LOCKED = 8, 5, 6
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26

# Page cache of the load transaction; other work keeps the connection's own.
LOAD_CACHE_KIB = 64 * 1024
# Used only when a caller does not pass the configured COVID_ETL_LOCK_TIMEOUT (same default).
DEFAULT_LOCK_TIMEOUT = 60.0


class SqliteStore(SqlStore):
    """Store in one SQLite file."""

    migrations = MIGRATIONS

    def __init__(
        self, path: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        self.path = Path(path)
        self.url_for_display = f"sqlite:///{self.path}"
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        self._checked_intact = False

    @classmethod
    def from_url(cls, url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> SqliteStore:
        """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's spelling)."""
        path = url.split(":", 1)[1]
        if not path.startswith("///"):
            raise StoreUnavailable(f"bad SQLite URL {url!r}: expected sqlite:///path/to/file.db")
        return cls(path[3:], lock_timeout=lock_timeout)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot open SQLite database {self.path}: its directory: {_os_cause(exc)}"
            ) from exc
        try:
            # isolation_level=None: we issue BEGIN ourselves, so a transaction is exactly as
            # wide as the code says. timeout: how long a statement waits for a lock that
            # another connection holds (SQLite's busy timeout).
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.lock_timeout,
            )
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a run reported as committed survives a power cut, not only a crash.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise self._translate(exc, "cannot open") from exc
        return conn

    @contextmanager
    def _loading(self) -> Iterator[None]:
        # The load gets up to LOAD_CACHE_KIB of page cache (SQLite's default is 2 MiB): a large
        # load otherwise spills and re-reads its own pages through the WAL (a 2.7M-row states
        # load: 7.4 s of system time down to 2 s). Only the load: reads keep the default.
        conn = self._connection()
        try:
            before = int(conn.execute("PRAGMA cache_size").fetchone()[0])
            conn.execute(f"PRAGMA cache_size = -{LOAD_CACHE_KIB}")
        except sqlite3.Error as exc:
            raise self._translate(exc, "cannot write") from exc
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):  # a broken connection reports itself
                conn.execute(f"PRAGMA cache_size = {before}")

    def migrate(self, series: Sequence[Series] = (), where: str | None = None) -> None:
        self._ensure_intact()
        try:
            super().migrate(series, where)
        except sqlite3.Error as exc:
            raise self._translate(exc, "cannot migrate") from exc

    def schema_version(self) -> int:
        self._connection()  # an unopenable file is reported as such, not as an empty schema
        return super().schema_version()

    def _ensure_intact(self) -> None:
        """Run SQLite's quick_check once per store, before anything is written."""
        if self._checked_intact:
            return
        try:
            rows = self._connection().execute("PRAGMA quick_check(3)").fetchall()
        except sqlite3.Error as exc:
            raise self._translate(exc, "cannot check") from exc
        # Rows look like "*** in database main ***\nPage 6: btreeInitPage() returns error code
        # 11"; keep the findings, on one line.
        lines = [line for row in rows for line in str(row[0]).splitlines()]
        problems = [line for line in lines if line != "ok" and not line.startswith("***")]
        if problems:
            raise _corrupt(self.path, "; ".join(problems[:2]))
        self._checked_intact = True

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        self._ensure_intact()
        # IMMEDIATE takes the write lock up front, so two writers never deadlock on upgrade.
        try:
            with cursor_transaction(self._connection(), "BEGIN IMMEDIATE") as cur:
                yield cur
        except sqlite3.Error as exc:
            raise self._translate(exc, "cannot write") from exc

    def _read(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return super()._read(query, params)
        except sqlite3.Error as exc:
            raise self._translate(exc, "cannot read") from exc

    def _translate(self, exc: sqlite3.Error, doing: str, waited: float | None = None) -> StoreError:
        """One sentence saying what happened to the database file."""
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in (SQLITE_BUSY, SQLITE_LOCKED):
            waited = self.lock_timeout if waited is None else waited
            return DatabaseLocked(
                f"the database is locked by another process (waited {waited:g}s "
                f"for SQLite's lock on {self.path})"
            )
        if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
            return _corrupt(self.path, str(exc))
        cause = self._disk_cause(code)
        if cause is None:  # e.g. a constraint: the statement, not the file, is the problem
            return StoreError(f"{doing} SQLite database {self.path}: {exc}")
        return StoreUnavailable(f"{doing} SQLite database {self.path}: {cause} (SQLite: {exc})")

    def _disk_cause(self, code: int) -> str | None:
        """What the file system says when SQLite reports a vague I/O or open failure."""
        if code == SQLITE_FULL:
            return "disk full"
        if code not in (SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN):
            return None
        directory = self.path.parent
        try:
            fs = os.statvfs(directory)
        except OSError:
            return None
        if fs.f_flag & os.ST_RDONLY:
            return "read-only file system"
        if fs.f_bavail == 0:
            return "disk full"
        if self.path.exists() and not _writable(self.path):
            return "the database file is read-only"
        if not _writable(directory):
            return "the database directory is read-only"
        return "the database is read-only" if code == SQLITE_READONLY else None

    @contextmanager
    def writer_lock(self, timeout: float) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole block
        except OSError as exc:
            raise StoreUnavailable(f"cannot open lock file {lock_path}: {_os_cause(exc)}") from exc
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
                self._wait_for_sqlite_lock(max(0.0, deadline - time.monotonic()), timeout)
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()

    def _wait_for_sqlite_lock(self, remaining: float, lock_timeout: float) -> None:
        """Under our writer lock, make sure no other program holds SQLite's write lock on the
        file, waiting what is left of the lock timeout: such a lock is reported at the lock
        stage, not half-way through the run."""
        conn = self._connection()
        conn.execute(f"PRAGMA busy_timeout = {int(remaining * 1000)}")
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._translate(exc, "cannot lock", waited=lock_timeout) from exc
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout * 1000)}")

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


def _writable(path: Path) -> bool:
    # access(2) also answers for root: an immutable file or a read-only mount is unwritable.
    return os.access(path, os.W_OK)


def _corrupt(path: Path, detail: str) -> DatabaseCorrupt:
    return DatabaseCorrupt(
        f"the database file is corrupt: {path} ({detail}); restore it from a backup or move it away"
    )


def _os_cause(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"disk full ({exc.strerror})"
    if exc.errno == errno.EROFS:
        return f"read-only file system ({exc.strerror})"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied, the location is read-only to this user ({exc.strerror})"
    return str(exc.strerror or exc)
