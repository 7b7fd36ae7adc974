"""SQL shared by the relational backends. Subclasses supply the connection, the lock, the
schema (migrations) and value adapters; the queries and the transaction boundaries live here once.
Queries are written with ``?`` placeholders; a backend with another paramstyle rewrites them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from covid_etl.errors import INTERRUPTED_ERROR, DuplicateEvent, StoreError
from covid_etl.models import (
    RUN_FIELDS,
    ChangeEntry,
    DeliveryStatus,
    RunRecord,
    RunStatus,
    Trigger,
)
from covid_etl.series.registry import ANOMALIES, NATIONAL, STATES
from covid_etl.series.spec import Key, Series
from covid_etl.store.base import (
    History,
    NotificationRow,
    PendingChannel,
    SeriesWrite,
    StoredRecord,
    StoredState,
    chunks,
    new_run,
)

RUN_COLUMNS = ", ".join(RUN_FIELDS)
# Columns written without their id (the database assigns it), and those holding JSON.
_RUN_VALUE_COLUMNS = RUN_FIELDS[1:]
_JSON_RUN_COLUMNS = frozenset({"warnings", "sources", "removed_dates", "states"})
CHANGE_COLUMNS = "run_id, series, date, kind, old_values, new_values"
# The log's entries with the as-of date of the run that made each (runs.as_of, schema 8).
CHANGES_WITH_AS_OF = f"{CHANGE_COLUMNS}, runs.as_of FROM changes JOIN runs ON runs.id = run_id"
NOTIFICATION_COLUMNS = (
    "id, run_id, channel_key, channel, status, attempts, last_error, created_at, delivered_at"
)
# The change log's kinds as a CHECK. Spelled with OR rather than ``kind IN (...)``: SQLite
# evaluates an IN list in a CHECK slowly enough to make it a third of the cost of writing an
# entry (0.45 s per 271,000 entries, bench/states.py at 10x); schema version 6 rewrites it.
CHANGE_KIND_CHECK = "CHECK (kind = 'inserted' OR kind = 'updated' OR kind = 'removed')"
# A partitioned series is one B-tree keyed by (partition, date) (the per-state series since schema
# 7): one partition's series, what the API and the diff read, is a range of it; a load writes
# each partition's rows next to each other; and no second index has to be kept (a (fips, date)
# index beside a (date, fips) key cost a third of the rows' write time). What needs the dates
# across partitions seeks once per partition (_seek_partitions) instead of scanning the table.
# Schema version 3, the same statements on SQLite and PostgreSQL: a run remembers the event that
# started it, and at most one succeeded run per event can be committed (failed ones may retry).
EVENT_ID_MIGRATION = (
    "ALTER TABLE runs ADD COLUMN event_id TEXT",
    "CREATE UNIQUE INDEX runs_one_success_per_event ON runs (event_id) WHERE status = 'succeeded'",
)


def newer_schema(where: str, found: int, known: int) -> StoreError:
    """A database migrated by a newer covid-etl. An older one has no migration down and would
    read and write tables it does not know (0.3.0's national rule, on 0.4.0's data, asked to
    delete 284 stored days), so it touches nothing."""
    return StoreError(
        f"{where} has schema version {found}, newer than this covid-etl knows ({known}): "
        "upgrade covid-etl, or restore the backup taken before the upgrade"
    )


class SqlStore:
    """Backend-neutral SQL logic over a DB-API connection."""

    url_for_display: str
    paramstyle = "qmark"
    # Each migration is a list of statements; index i upgrades schema version i to i + 1.
    migrations: Sequence[Sequence[str]] = ()
    # Builds a JSON object in SQL from ('key', value, ...) pairs: a new row's change-log values.
    json_object = "json_object"
    # The dialect a series' own table statements are written in (``Series.tables``).
    dialect = "sqlite"
    # One row when the table named by the parameter exists, none otherwise.
    table_exists_sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    # The bookkeeping table is created outside the numbered migrations, in the backend's types.
    schema_table_ddl = (
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )

    # -- hooks for subclasses -----------------------------------------------------------------

    def _connection(self) -> Any:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[Any]:
        """A write transaction that excludes other writers; yields a cursor."""
        raise NotImplementedError

    def writer_lock(self, timeout: float) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _loading(self) -> AbstractContextManager[None]:
        """Hook: connection settings for the duration of a run's load transaction."""
        return contextlib.nullcontext()

    def _lock_schema(self, cur: Any) -> None:
        """Hook: serialise concurrent migrations inside the migration transaction (SQLite's
        ``BEGIN IMMEDIATE`` already does)."""

    def _date_in(self, value: dt.date | None) -> Any:
        return value.isoformat() if value else None

    def _date_out(self, value: Any) -> dt.date | None:
        if value is None:
            return None
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)

    def _ts_in(self, value: dt.datetime | None) -> Any:
        return value.isoformat() if value else None

    def _ts_out(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)

    def _json_in(self, value: Any) -> Any:
        return json.dumps(value, separators=(",", ":"))

    def _json_out(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    def _sql(self, query: str) -> str:
        return query.replace("?", "%s") if self.paramstyle == "format" else query

    # -- schema ---------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """0 when the bookkeeping table does not exist (an empty database). Any other failure
        (a lost connection, an unreadable file) is the backend's error: read as "empty", it
        would run every migration again over the stored data."""
        if not self.has_table("schema_migrations"):
            return 0
        return int(self._read("SELECT MAX(version) FROM schema_migrations", ())[0][0] or 0)

    def has_table(self, name: str) -> bool:
        return bool(self._read(self.table_exists_sql, (name,)))

    def migrate(self, series: Sequence[Series] = (), where: str | None = None) -> None:
        """Bring the schema to this version's last migration. ``where`` names the database in
        messages when this store is another's working copy (S3's local file)."""
        # Series that bring their own table (``Series.tables``) and do not have it yet.
        missing = [s for s in series if s.tables and not self.has_table(s.table)]
        found = self.schema_version()
        if found > len(self.migrations):
            raise newer_schema(where or self.url_for_display, found, len(self.migrations))
        if found >= len(self.migrations) and not missing:
            # Up to date: a plain read, so a run starting while another one is loading does not
            # queue behind that load's write transaction just to find nothing to do.
            return
        with self._transaction() as cur:
            self._lock_schema(cur)
            cur.execute(self.schema_table_ddl)
            cur.execute("SELECT MAX(version) FROM schema_migrations")
            current = int(cur.fetchone()[0] or 0)
            for version, statements in enumerate(self.migrations, start=1):
                if version <= current:
                    continue
                for statement in statements:
                    cur.execute(statement)
                cur.execute(
                    self._sql("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"),
                    (version, self._ts_in(dt.datetime.now(dt.UTC))),
                )
            # After the numbered migrations: a series' table may refer to theirs (runs).
            for each in missing:
                cur.execute(self._sql(self.table_exists_sql), (each.table,))
                if cur.fetchone() is None:  # another process may have created it meanwhile
                    for statement in each.tables[self.dialect]:
                        cur.execute(statement)

    # -- runs -----------------------------------------------------------------------------------

    def mark_interrupted(self, now: dt.datetime) -> list[int]:
        with self._transaction() as cur:
            cur.execute(self._sql("SELECT id FROM runs WHERE status = ? ORDER BY id"), ("running",))
            ids = [int(row[0]) for row in cur.fetchall()]
            if ids:
                cur.execute(
                    self._sql(
                        "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE status = ?"
                    ),
                    (str(RunStatus.INTERRUPTED), self._ts_in(now), INTERRUPTED_ERROR, "running"),
                )
        return ids

    def create_run(
        self,
        trigger: Trigger,
        environment: str,
        started_at: dt.datetime,
        event_id: str | None = None,
    ) -> RunRecord:
        run = new_run(trigger, environment, started_at)
        run.event_id = event_id
        return self._insert_run(run)

    def record_failed_start(self, run: RunRecord) -> RunRecord:
        return self._insert_run(run)

    def _insert_run(self, run: RunRecord) -> RunRecord:
        values = self._run_values(run)
        with self._transaction() as cur:
            if run.event_id is not None:
                self._refuse_duplicate(cur, run.event_id)
            columns = ", ".join(_RUN_VALUE_COLUMNS)
            cur.execute(
                self._sql(
                    f"INSERT INTO runs ({columns}) VALUES ({_placeholders(columns)}) RETURNING id"
                ),
                values,
            )
            run.id = int(cur.fetchone()[0])
        return run

    def _run_values(self, run: RunRecord) -> tuple[Any, ...]:
        """The run's column values in ``_RUN_VALUE_COLUMNS`` order, from its one dict form."""
        data = run.to_dict(RUN_FIELDS)
        return tuple(
            self._json_in(data[name]) if name in _JSON_RUN_COLUMNS else data[name]
            for name in _RUN_VALUE_COLUMNS
        )

    def _refuse_duplicate(self, cur: Any, event_id: str) -> None:
        """Raise DuplicateEvent when a succeeded run already handled ``event_id``. Only a success
        ends an event: a delivery retried after a failure runs again."""
        cur.execute(
            self._sql(f"SELECT {RUN_COLUMNS} FROM runs WHERE event_id = ? AND status = ?"),
            (event_id, str(RunStatus.SUCCEEDED)),
        )
        row = cur.fetchone()
        if row is not None:
            raise DuplicateEvent(event_id, self._run_from_row(row))

    def finish_run(
        self,
        run: RunRecord,
        writes: Sequence[SeriesWrite],
        channels: Sequence[PendingChannel],
        change_log: Sequence[ChangeEntry] = (),
    ) -> None:
        with self._loading(), self._transaction() as cur:
            # The change log is written with the changes it describes: both or neither. In
            # primary-key order, so each insert lands next to the previous one in the B-tree.
            ordered = sorted(change_log, key=lambda e: (e.series, e.date))
            for entries in chunks(ordered, 5000):
                self._write_changes(cur, [e._replace(run_id=run.id) for e in entries])
            # Every series in the same transaction: all or nothing. A new row's change-log entry
            # holds just the row's values, so the database builds the entries from the rows once
            # they are written (no Python object per entry: a county-sized load has millions).
            # The new rows go first: until the revised ones follow, this run's rows are exactly
            # the new ones.
            for write in writes:
                series = write.series
                for batch in chunks(write.inserted, 5000):
                    self._write_rows(cur, series, run.id, batch, new=True)
                if write.inserted:
                    self._log_inserted(cur, series, run.id)
                for batch in chunks(write.updated, 5000):
                    self._write_rows(cur, series, run.id, batch, new=False)
                # Only with --accept-removals: the operator accepted that the source dropped them.
                key_match = " AND ".join(f"{column} = ?" for column in series.key)
                for keys in chunks(write.removed, 5000):
                    cur.executemany(
                        self._sql(f"DELETE FROM {series.table} WHERE {key_match}"),
                        [self._key_in(series, key) for key in keys],
                    )
            assignments = ", ".join(f"{name} = ?" for name in _RUN_VALUE_COLUMNS)
            cur.execute(
                self._sql(f"UPDATE runs SET {assignments} WHERE id = ?"),
                (*self._run_values(run), run.id),
            )
            now = self._ts_in(run.finished_at or dt.datetime.now(dt.UTC))
            for channel in channels:
                cur.execute(
                    self._sql(
                        "INSERT INTO notifications (run_id, channel_key, channel, status, "
                        "attempts, created_at) VALUES (?, ?, ?, ?, 0, ?)"
                    ),
                    (run.id, channel.key, channel.label, str(DeliveryStatus.PENDING), now),
                )

    def _key_in(self, series: Series, key: Key) -> tuple[Any, ...]:
        """A key's values as the database takes them (its date last, as in ``series.key``)."""
        *partition, day = key
        return (*partition, self._date_in(day))

    def _write_changes(self, cur: Any, entries: Sequence[ChangeEntry]) -> None:
        date_in = functools.cache(self._date_in)
        cur.executemany(
            self._sql(f"INSERT INTO changes ({CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"),
            [
                (e.run_id, e.series, date_in(e.date), e.kind, self._json_or_null(e.before),
                 self._json_or_null(e.after))
                for e in entries
            ],
        )  # fmt: skip

    def _log_inserted(self, cur: Any, series: Series, run_id: int) -> None:
        """An ``inserted`` entry for each row of ``series`` this run wrote so far (its new rows),
        with the values :meth:`Series.log_values` gives, built by the database. In the table's
        key order, which is the change log's (series, date) order: each entry is appended after
        the previous one instead of into one of 55 places (a third faster on a large load)."""
        values = ", ".join(f"'{name}', {name}" for name in series.logged)
        params: tuple[Any, ...]
        if series.partition is None:
            logged_as, params = "?", (run_id, series.name, run_id)
        else:
            # Series.log_series in SQL: the prefix, then the partition and subkey joined by ":".
            parts = " || ':' || ".join((series.partition, *series.subkey))
            logged_as, params = f"? || {parts}", (run_id, series.log_prefix, run_id)
        cur.execute(
            self._sql(
                f"INSERT INTO changes ({CHANGE_COLUMNS}) "
                f"SELECT ?, {logged_as}, date, 'inserted', NULL, {self.json_object}({values}) "
                f"FROM {series.table} WHERE run_id = ? ORDER BY {', '.join(series.key)}"
            ),
            params,
        )

    def _json_or_null(self, value: Any) -> Any:
        return None if value is None else self._json_in(value)

    def _write_rows(
        self, cur: Any, series: Series, run_id: int, rows: Sequence[Any], *, new: bool
    ) -> None:
        """Write rows of ``series``. ``new``: none of them is stored yet (the diff found them
        missing, under the writer lock), so a plain INSERT, which refuses a key that exists
        instead of overwriting it; otherwise each replaces the stored row of its key."""
        columns = (*series.names, "run_id")
        replace = ""
        if not new:
            assignments = ", ".join(f"{name} = excluded.{name}" for name in series.values)
            replace = (
                f" ON CONFLICT ({', '.join(series.key)}) DO UPDATE SET {assignments}, "
                "run_id = excluded.run_id"
            )
        # Few distinct dates among many rows: adapt each one once.
        date_in = functools.cache(self._date_in)
        cur.executemany(
            self._sql(
                f"INSERT INTO {series.table} ({', '.join(columns)}) "
                f"VALUES ({_placeholders(', '.join(columns))}){replace}"
            ),
            [(date_in(row[0]), *row[1:], run_id) for row in rows]
            if not _later_dates(series)
            else [(*self._row_in(series, row), run_id) for row in rows],
        )

    def get_run(self, run_id: int) -> RunRecord | None:
        rows = self._runs(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return rows[0] if rows else None

    def list_runs(self, limit: int = 20, offset: int = 0) -> list[RunRecord]:
        return self._runs(
            f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
        )

    def last_run(self, *, before: int | None = None) -> RunRecord | None:
        if before is None:
            rows = self._runs(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT 1", ())
        else:
            rows = self._runs(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE id < ? ORDER BY id DESC LIMIT 1", (before,)
            )
        return rows[0] if rows else None

    def last_successful_run(self) -> RunRecord | None:
        rows = self._runs(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE status = ? ORDER BY id DESC LIMIT 1",
            (str(RunStatus.SUCCEEDED),),
        )
        return rows[0] if rows else None

    def _runs(self, query: str, params: tuple[Any, ...]) -> list[RunRecord]:
        return [self._run_from_row(row) for row in self._read(query, params)]

    def _run_from_row(self, row: Sequence[Any]) -> RunRecord:
        data = dict(zip(RUN_FIELDS, row, strict=True))
        for name in _JSON_RUN_COLUMNS:
            data[name] = self._json_out(data[name])
        return RunRecord.from_dict(data)

    # -- series (any declared series; the SQL follows its table, columns and key) -------------

    def rows(
        self,
        series: Series,
        partition: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Any]:
        where, params = self._range(start, end, partition=(series.partition, partition))
        query = (
            f"SELECT {', '.join(series.names)} FROM {series.table}{where} "
            f"ORDER BY {', '.join(series.key)}"
        )
        if limit is not None:
            query += " LIMIT ? OFFSET ?"
            params += (limit, offset)
        elif offset:
            query += " LIMIT -1 OFFSET ?" if self.paramstyle == "qmark" else " OFFSET ?"
            params += (offset,)
        date_out, make = self._date_out, series.row
        if _later_dates(series):
            return [self._row_out(series, row) for row in self._read(query, params)]
        # The date is the first column of every series; the rest come as stored.
        return [make(date_out(row[0]), *row[1:]) for row in self._read(query, params)]

    def partitions(self, series: Series) -> list[str | None]:
        if series.partition is None:
            found = self._read(f"SELECT 1 FROM {series.table} LIMIT 1", ())
            return [None] if found else []
        query = _seek_partitions(series) + "SELECT value FROM partitions ORDER BY value"
        return [row[0] for row in self._read(query, ())]

    def count(
        self, series: Series, start: dt.date | None = None, end: dt.date | None = None
    ) -> int:
        where, params = self._range(start, end)
        return int(self._read(f"SELECT COUNT(*) FROM {series.table}{where}", params)[0][0])

    def latest_date(self, series: Series) -> dt.date | None:
        if series.partition is None:
            query = f"SELECT MAX(date) FROM {series.table}"
        else:
            # The latest date of each partition, by a seek each, then the latest of those.
            query = _seek_partitions(series) + (
                f"SELECT MAX(last) FROM (SELECT (SELECT MAX(date) FROM {series.table} "
                f"WHERE {series.table}.{series.partition} = partitions.value) AS last "
                "FROM partitions) AS per_partition"
            )
        return self._date_out(self._read(query, ())[0][0])

    def _range(
        self,
        start: dt.date | None,
        end: dt.date | None,
        partition: tuple[str | None, str | None] = (None, None),
    ) -> tuple[str, tuple[Any, ...]]:
        """A WHERE clause for a date range and, given ``(column, value)``, one partition."""
        clauses, params = [], []
        column, value = partition
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
        if start is not None:
            clauses.append("date >= ?")
            params.append(self._date_in(start))
        if end is not None:
            clauses.append("date <= ?")
            params.append(self._date_in(end))
        return ((" WHERE " + " AND ".join(clauses)) if clauses else ""), tuple(params)

    # -- change log -----------------------------------------------------------------------------

    def changes(
        self,
        run_id: int | None = None,
        series: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ChangeEntry]:
        where, params = self._change_filter(run_id, series, start, end)
        # With each run's as-of date: when the change was published (the runs' names do not
        # clash with the log's, so the filter needs no table names).
        query = f"SELECT {CHANGES_WITH_AS_OF}{where} ORDER BY series, date, run_id"
        if limit is not None:
            query += " LIMIT ? OFFSET ?"
            params += (limit, offset)
        return [self._change_from_row(row) for row in self._read(query, params)]

    def count_changes(
        self,
        run_id: int | None = None,
        series: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> int:
        where, params = self._change_filter(run_id, series, start, end)
        return int(self._read(f"SELECT COUNT(*) FROM changes{where}", params)[0][0])

    def run_as_of(self, day: dt.date) -> RunRecord | None:
        rows = self._runs(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE status = ? AND as_of <= ? "
            "ORDER BY id DESC LIMIT 1",
            (str(RunStatus.SUCCEEDED), self._date_in(day)),
        )
        return rows[0] if rows else None

    def history_from(self) -> dt.date | None:
        value = self._read(
            "SELECT MIN(as_of) FROM runs WHERE status = ?", (str(RunStatus.SUCCEEDED),)
        )[0][0]
        return self._date_out(value)

    def changes_after(self, run_id: int, series: str | None = None) -> list[ChangeEntry]:
        query = f"SELECT {CHANGE_COLUMNS} FROM changes WHERE run_id > ?"
        params: tuple[Any, ...] = (run_id,)
        if series is not None:
            query += " AND series = ?"
            params += (series,)
        query += " ORDER BY series, date, run_id"
        return [self._change_from_row(row) for row in self._read(query, params)]

    def last_changed_run_id(self, series: str | None = None) -> int | None:
        where, params = self._change_filter(None, series, None, None)
        value = self._read(f"SELECT MAX(run_id) FROM changes{where}", params)[0][0]
        return None if value is None else int(value)

    def _change_filter(
        self,
        run_id: int | None,
        series: str | None,
        start: dt.date | None,
        end: dt.date | None,
    ) -> tuple[str, tuple[Any, ...]]:
        where, params = self._range(start, end)
        clauses = [where.removeprefix(" WHERE ")] if where else []
        if run_id is not None:
            clauses.append("run_id = ?")
            params += (run_id,)
        if series is not None:
            clauses.append("series = ?")
            params += (series,)
        return ((" WHERE " + " AND ".join(clauses)) if clauses else ""), params

    def _change_from_row(self, row: Sequence[Any]) -> ChangeEntry:
        before, after = row[4], row[5]
        return ChangeEntry(
            series=row[1],
            date=self._date_out(row[2]),  # type: ignore[arg-type]
            kind=row[3],
            before=None if before is None else self._json_out(before),
            after=None if after is None else self._json_out(after),
            run_id=int(row[0]),
            as_of=self._date_out(row[6]) if len(row) > 6 else None,
        )

    # -- notifications --------------------------------------------------------------------------

    def pending_notifications(self) -> list[NotificationRow]:
        rows = self._read(
            f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE status = ? ORDER BY id",
            (str(DeliveryStatus.PENDING),),
        )
        return self._notifications(rows)

    def notifications(self, run_id: int) -> list[NotificationRow]:
        rows = self._read(
            f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        return self._notifications(rows)

    def _notifications(self, rows: list[Any]) -> list[NotificationRow]:
        return [
            NotificationRow(
                id=int(r[0]),
                run_id=int(r[1]),
                channel_key=r[2],
                channel=r[3],
                status=DeliveryStatus(r[4]),
                attempts=int(r[5]),
                last_error=r[6],
                created_at=self._ts_out(r[7]) or dt.datetime.now(dt.UTC),
                delivered_at=self._ts_out(r[8]),
            )
            for r in rows
        ]

    def update_notification(
        self,
        notification_id: int,
        status: DeliveryStatus,
        attempts: int,
        error: str | None,
        at: dt.datetime,
    ) -> None:
        delivered_at = self._ts_in(at) if status is DeliveryStatus.DELIVERED else None
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "UPDATE notifications SET status = ?, attempts = ?, last_error = ?, "
                    "delivered_at = ? WHERE id = ?"
                ),
                (str(status), attempts, error, delivered_at, notification_id),
            )

    def set_notification_status(self, run_id: int, summary: str) -> None:
        with self._transaction() as cur:
            cur.execute(
                self._sql("UPDATE runs SET notification_status = ? WHERE id = ?"), (summary, run_id)
            )

    # -- whole history (db copy) ---------------------------------------------------------------

    def dump_history(self) -> History:
        runs = self._runs(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id", ())
        records = [StoredRecord(row, run_id) for row, run_id in self._stored(NATIONAL)]
        notes = self._notifications(
            self._read(f"SELECT {NOTIFICATION_COLUMNS} FROM notifications ORDER BY id", ())
        )
        states = [StoredState(row, run_id) for row, run_id in self._stored(STATES)]
        changes = [
            self._change_from_row(row)
            for row in self._read(
                f"SELECT {CHANGE_COLUMNS} FROM changes ORDER BY run_id, series, date", ()
            )
        ]
        return History(
            runs=runs,
            records=records,
            notifications=notes,
            states=states,
            changes=changes,
            anomalies=self._stored(ANOMALIES),
        )

    def restore_history(self, history: History) -> None:
        with self._transaction() as cur:
            # Checked inside the write transaction, under the backend's write exclusion, so no
            # run can slip in between the check and the copy.
            cur.execute(
                "SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM records) "
                "+ (SELECT COUNT(*) FROM notifications) + (SELECT COUNT(*) FROM states) "
                "+ (SELECT COUNT(*) FROM changes) + (SELECT COUNT(*) FROM anomalies)"
            )
            if int(cur.fetchone()[0]):
                raise StoreError(
                    f"{self.url_for_display} already holds runs or data; "
                    "db copy only writes into an empty database"
                )
            for runs in chunks(history.runs, 500):
                cur.executemany(
                    self._sql(
                        f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({_placeholders(RUN_COLUMNS)})"
                    ),
                    [(run.id, *self._run_values(run)) for run in runs],
                )
            copied: tuple[tuple[Series, Sequence[tuple[Any, int]]], ...] = (
                (NATIONAL, history.records),
                (STATES, history.states),
                (ANOMALIES, history.anomalies),
            )
            for series, stored in copied:
                columns = ", ".join((*series.names, "run_id"))
                for batch in chunks(stored, 5000):
                    cur.executemany(
                        self._sql(
                            f"INSERT INTO {series.table} ({columns}) "
                            f"VALUES ({_placeholders(columns)})"
                        ),
                        [(*self._row_in(series, row), run_id) for row, run_id in batch],
                    )
            for entries in chunks(history.changes, 5000):
                self._write_changes(cur, entries)
            for notes in chunks(history.notifications, 500):
                cur.executemany(
                    self._sql(
                        f"INSERT INTO notifications ({NOTIFICATION_COLUMNS}) "
                        f"VALUES ({_placeholders(NOTIFICATION_COLUMNS)})"
                    ),
                    [self._notification_values(n) for n in notes],
                )
            self._after_explicit_ids(cur)

    def _notification_values(self, n: NotificationRow) -> tuple[Any, ...]:
        return (
            n.id,
            n.run_id,
            n.channel_key,
            n.channel,
            str(n.status),
            n.attempts,
            n.last_error,
            self._ts_in(n.created_at),
            self._ts_in(n.delivered_at),
        )

    def _stored(self, series: Series) -> list[tuple[Any, int]]:
        """Every row of ``series`` with the run that last wrote it, in key order."""
        query = (
            f"SELECT {', '.join(series.names)}, run_id FROM {series.table} "
            f"ORDER BY {', '.join(series.key)}"
        )
        return [(self._row_out(series, row[:-1]), int(row[-1])) for row in self._read(query, ())]

    def _row_in(self, series: Series, row: Sequence[Any]) -> tuple[Any, ...]:
        """A row's values as the database takes them: its date columns adapted."""
        dates = _date_columns(series)
        return tuple(self._date_in(v) if i in dates else v for i, v in enumerate(row))

    def _row_out(self, series: Series, values: Sequence[Any]) -> Any:
        """A stored row as the series' NamedTuple: its date columns read back as dates."""
        dates = _date_columns(series)
        return series.row(*(self._date_out(v) if i in dates else v for i, v in enumerate(values)))

    def _after_explicit_ids(self, cur: Any) -> None:
        """Hook: make generated ids continue after explicitly inserted ones (SQLite's
        AUTOINCREMENT already does)."""

    # -- plumbing -------------------------------------------------------------------------------

    def _read(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        cur = self._connection().cursor()
        try:
            cur.execute(self._sql(query), params)
            rows = cur.fetchall()
        except Exception:
            self._rollback_quietly()
            raise
        self._end_read()
        return list(rows)

    def _end_read(self) -> None:
        """Hook: end an implicit read transaction (PostgreSQL) so no snapshot is held open."""

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self._connection().rollback()


def _date_columns(series: Series) -> frozenset[int]:
    """The positions of a series' date columns (the first, ``date``, and any other)."""
    return _date_positions(series.columns)


@functools.cache
def _date_positions(columns: tuple[Any, ...]) -> frozenset[int]:
    return frozenset(i for i, column in enumerate(columns) if column.type is dt.date)


def _later_dates(series: Series) -> bool:
    """Whether a series has a date column besides its first (a note's ``end_date``)."""
    return len(_date_columns(series)) > 1


def _placeholders(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(","))


@contextmanager
def cursor_transaction(conn: Any, begin: str | None) -> Iterator[Any]:
    """Run a block in a transaction on ``conn``; commit on success, roll back on any error."""
    cur = conn.cursor()
    if begin:
        cur.execute(begin)
    try:
        yield cur
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()
    finally:
        cur.close()


def _seek_partitions(series: Series) -> str:
    """The stored partition values as the table ``partitions (value)``, found by seeking from one
    to the next along the key (a loose index scan, the same on SQLite and PostgreSQL): 56 seeks
    for the states, however long the series are. The seeking ends on the NULL after the last
    value, which ``partitions`` leaves out."""
    table, column = series.table, series.partition
    return (
        "WITH RECURSIVE seek (value) AS ("
        f"SELECT MIN({column}) FROM {table} "
        "UNION ALL "
        f"SELECT (SELECT MIN({column}) FROM {table} WHERE {table}.{column} > seek.value) "
        "FROM seek WHERE seek.value IS NOT NULL), "
        "partitions (value) AS (SELECT value FROM seek WHERE value IS NOT NULL) "
    )
