"""docs/reference/database.md: every table, column, key, index and check of the database, read
from a fresh SQLite database the store's own migrations create, with the PostgreSQL type of each
column read from the PostgreSQL migrations, and a description of each from ``TABLES``.

The descriptions are the one part written by hand, so the writer refuses to run when they and the
schema disagree: a table or column without a description, or a description of one that is gone.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple


class Table(NamedTuple):
    """A table's description, written "what it is: details" (the part before the colon is its
    line in the page's list of tables), and each column's."""

    description: str
    columns: dict[str, str]

    @property
    def summary(self) -> str:
        return self.description.split(": ", 1)[0]


_DATE = "The day, `YYYY-MM-DD`."
_RUN = "The run that last wrote the row (inserted or revised it): `runs.id`."

# What each table and column means, in the order the page shows them.
TABLES: dict[str, Table] = {
    "records": Table(
        "The national series: one row per date of the NYT's `us.csv`, with JHU's recoveries "
        "where JHU has the date. What `/api/v1/records` serves, before its derived columns "
        "(daily values, 7-day averages), which are computed when read.",
        {
            "date": _DATE,
            "cases": "Cumulative cases in the United States (NYT).",
            "deaths": "Cumulative deaths (NYT).",
            "recovered": "Cumulative recoveries (JHU); null where JHU has no figure for the day "
            "([data contract](../data-contract.md)).",
            "run_id": _RUN,
            "in_jhu": "1 where JHU has a row for the date, 0 where it has none. The original "
            "design's outputs (`/covid_data`, `acg-covid-data.csv`) keep the rows with 1.",
        },
    ),
    "states": Table(
        "The per-state series: one row per jurisdiction (state, DC or territory) and date of the "
        "NYT's `us-states.csv`. Empty when `COVID_ETL_STATES_URL=off`.",
        {
            "date": _DATE,
            "fips": "The jurisdiction's two-digit FIPS code (`06` California, `72` Puerto Rico).",
            "name": "The jurisdiction's name as the NYT spells it.",
            "cases": "Cumulative cases in the jurisdiction (NYT).",
            "deaths": "Cumulative deaths (NYT).",
            "run_id": _RUN,
        },
    ),
    "anomalies": Table(
        "The NYT's notes on anomalous days (`rolling-averages/anomalies.csv`): why a figure "
        "looks wrong and whether the NYT's 7-day averages leave the days out. The columns are "
        "the NYT's, as `/api/v1/anomalies` serves them.",
        {
            "date": "The first day the note is about, `YYYY-MM-DD`.",
            "geoid": "The place: `USA` (the nation), `USA-SS` (a state by FIPS code) or "
            "`USA-SSCCC` (a county).",
            "type": "The measure: `cases`, `deaths` or `both`.",
            "end_date": "The note's last day for a range of days; null for a note on one day.",
            "county": "The county's name, for a note on a county; otherwise null.",
            "state": "The state's name, for a note on a state or county; null for the nation.",
            "omit_from_rolling_average": "`yes` when the NYT's 7-day averages leave the days "
            "out, otherwise null.",
            "omit_from_rolling_average_on_subgeographies": "`yes` when the averages of the places "
            "within (a state's counties) leave the days out too, otherwise null.",
            "description": "The NYT's explanation, as published; null where it gives none.",
            "run_id": _RUN,
        },
    ),
    "runs": Table(
        "The run history: one row per run, whatever its outcome, written when the run starts "
        "and completed when it ends. What `covid-etl runs` and `/api/v1/runs` show, apart from "
        "`pid`, `host`, `event_id` and `rules`, which only the store keeps.",
        {
            "id": "The run's number, counted up from 1.",
            "trigger": "What started it: `manual`, `schedule`, `event` (AWS) or `replay`.",
            "environment": "The `COVID_ETL_ENVIRONMENT` label (`production`, `testing`).",
            "status": "`running`, `succeeded`, `failed`, or `interrupted` (found dead by a later "
            "run).",
            "started_at": "When it started: UTC, ISO 8601 with its offset.",
            "finished_at": "When it ended; null while it runs.",
            "failed_stage": "Where a failed run stopped: `open`, `lock`, `extract`, `validate`, "
            "`transform` or `load`; otherwise null.",
            "error": "Why it failed, one sentence with secrets masked; otherwise null.",
            "warnings": "JSON array of the run's warnings (texts).",
            "initial_load": "1 when the run loaded an empty national series, otherwise 0.",
            "inserted": "National rows the run added.",
            "updated": "National rows the run revised.",
            "unchanged": "National rows the run found as stored.",
            "data_through": "The national series' last date after the run.",
            "sources": "JSON array, one object per source read: `name`, `url` (secrets masked), "
            "`status`, `bytes`, `sha256`, `etag`, `last_modified`, `not_modified`.",
            "recovered_from": "The id of the failed or interrupted run just before this one; "
            "otherwise null.",
            "notification_status": "What became of the run's notifications, one line "
            "(`delivered to 1 channel(s)`); null when none were sent.",
            "pid": "The process id of the process that ran it.",
            "host": "The host name of the machine that ran it.",
            "removed": "National rows the run deleted (`run --accept-removals`, or a replayed "
            "version without them).",
            "removed_dates": "JSON array of the deleted dates as ranges, "
            '`"2021-01-01..2021-01-05"`.',
            "event_id": "The AWS event that started the run; at most one succeeded run per event.",
            "states": "JSON object of what the run did to the per-state series: `inserted`, "
            "`updated`, `unchanged`, `removed`, `data_through`. Null when the states were off.",
            "rules": "The version of the rules that built the stored series "
            "(`RULES` in `series/registry.py`); null for runs before schema 8.",
            "as_of": "The day whose data the run loaded: a live run's UTC date, a replayed "
            "version's date. `as_of=` answers are read back from it.",
        },
    ),
    "changes": Table(
        "The change log: one entry per row a run inserted, revised or removed, in every series, "
        "written in the run's own transaction "
        "([data contract](../data-contract.md#change-log)).",
        {
            "run_id": "The run that made the change: `runs.id`.",
            "series": "`national`, a state's FIPS code (`06`), or a note's place and measure "
            "(`anomalies:USA-06:cases`).",
            "date": "The changed day (a note's first day), `YYYY-MM-DD`.",
            "kind": "`inserted`, `updated` or `removed`.",
            "old_values": "JSON object of the row's values before the run (outside its key: "
            "`cases`, `deaths`, `recovered` for the nation); null for `inserted`.",
            "new_values": "JSON object of the values the run wrote; null for `removed`.",
        },
    ),
    "notifications": Table(
        "The notification outbox: one row per run and channel, kept until delivered, so a "
        "channel that was down gets the message on a later run.",
        {
            "id": "The notification's number.",
            "run_id": "The run it reports: `runs.id`.",
            "channel_key": "A hash of the channel's URL (24 hex digits of its SHA-256): the URL "
            "itself, which may hold a secret, is not stored.",
            "channel": "The channel's URL with its secrets masked, for display.",
            "status": "`pending`, `delivered`, or `failed` (the channel is no longer configured).",
            "attempts": "Delivery attempts so far.",
            "last_error": "The last attempt's error, secrets masked; null after a delivery.",
            "created_at": "When the run queued it: UTC, ISO 8601.",
            "delivered_at": "When it was delivered; null until then.",
        },
    ),
    "schema_migrations": Table(
        "The schema's version: one row per migration applied. covid-etl applies the missing "
        "ones when it opens a store.",
        {
            "version": "The migration's number.",
            "applied_at": "When it was applied: UTC, ISO 8601.",
        },
    ),
}


class Column(NamedTuple):
    name: str
    sqlite_type: str
    postgres_type: str
    not_null: bool
    default: str | None
    check: str | None


class Index(NamedTuple):
    name: str
    columns: tuple[str, ...]
    unique: bool
    where: str | None


class TableSchema(NamedTuple):
    columns: list[Column]
    primary_key: tuple[str, ...]
    references: list[tuple[str, str, str]]  # (column, table, column)
    indexes: list[Index]


class Schema(NamedTuple):
    version: int
    tables: dict[str, TableSchema]


# -- reading the schema -----------------------------------------------------------------------


def parenthesised(text: str, start: int) -> tuple[str, int]:
    """The text inside the parenthesis that opens at ``text[start]``, and the index just after
    its closing one. Parentheses inside quoted strings do not count."""
    depth, quote = 0, ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    raise ValueError(f"unbalanced parentheses in {text!r}")


def top_level_parts(body: str) -> list[str]:
    """``body`` split at the commas outside parentheses and quotes, each part on one line."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(body):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return [" ".join(part.split()) for part in parts if part.strip()]


TABLE_CONSTRAINTS = {"PRIMARY", "CONSTRAINT", "UNIQUE", "CHECK", "FOREIGN"}
# Where a column's type ends in its definition.
COLUMN_CLAUSES = {
    "NOT", "NULL", "PRIMARY", "REFERENCES", "CHECK", "DEFAULT", "GENERATED", "UNIQUE",
    "CONSTRAINT", "COLLATE",
}  # fmt: skip


def column_definitions(create_table: str) -> dict[str, str]:
    """Column name -> its definition (type and clauses), from a CREATE TABLE statement."""
    body, _ = parenthesised(create_table, create_table.index("("))
    definitions = {}
    for part in top_level_parts(body):
        name, _, rest = part.partition(" ")
        if name.upper() not in TABLE_CONSTRAINTS:
            definitions[name.strip('"')] = rest
    return definitions


def column_type(definition: str) -> str:
    words = []
    for word in definition.split():
        if word.upper() in COLUMN_CLAUSES:
            break
        words.append(word)
    return " ".join(words)


def check_of(definition: str) -> str | None:
    """The expression of a column's CHECK clause, if it has one."""
    found = re.search(r"\bCHECK\s*\(", definition, flags=re.IGNORECASE)
    if found is None:
        return None
    inner, _ = parenthesised(definition, found.end() - 1)
    return " ".join(inner.split())


ADD_COLUMN = re.compile(r"^\s*ALTER TABLE (\w+) ADD COLUMN (\w+) (.*)$", re.DOTALL | re.IGNORECASE)
CREATE_TABLE = re.compile(r"^\s*CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.IGNORECASE)


def column_types(statements: Iterable[str]) -> dict[tuple[str, str], str]:
    """(table, column) -> type, as a list of CREATE TABLE and ALTER TABLE ... ADD COLUMN
    statements leaves them (the other statements do not change a column's type)."""
    types = {}
    for statement in statements:
        if created := CREATE_TABLE.match(statement):
            for name, definition in column_definitions(statement).items():
                types[(created.group(1), name)] = column_type(definition)
        elif added := ADD_COLUMN.match(statement):
            types[(added.group(1), added.group(2))] = column_type(added.group(3))
    return types


def postgres_types() -> dict[tuple[str, str], str]:
    """Every column's type on PostgreSQL, from its migrations (``store/postgres.py``)."""
    from covid_etl.store.postgres import MIGRATIONS, PostgresStore

    return column_types([PostgresStore.schema_table_ddl, *(s for m in MIGRATIONS for s in m)])


def read_schema(conn: sqlite3.Connection, pg_types: Mapping[tuple[str, str], str]) -> Schema:
    """The schema of the SQLite database on ``conn``."""
    tables = {}
    listed = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    for name, sql in listed:
        definitions = column_definitions(sql)
        columns, key = [], []
        for _, column, kind, not_null, default, pk, _hidden in conn.execute(
            f"PRAGMA table_xinfo({name})"
        ):
            pg_type = pg_types.get((name, column))
            if pg_type is None:
                raise ValueError(f"{name}.{column} has no type in the PostgreSQL migrations")
            check = check_of(definitions[column])
            # A key column is never null: SQLite's rowid alias and WITHOUT ROWID keys refuse it.
            required = bool(not_null or pk)
            columns.append(Column(column, kind, pg_type, required, default, check))
            if pk:
                key.append((pk, column))
        references = [
            (row[3], row[2], row[4])
            for row in conn.execute(f"PRAGMA foreign_key_list({name})").fetchall()
        ]
        tables[name] = TableSchema(
            columns, tuple(c for _, c in sorted(key)), sorted(references), _indexes(conn, name)
        )
    (version,) = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return Schema(int(version), tables)


def _indexes(conn: sqlite3.Connection, table: str) -> list[Index]:
    """The table's indexes but the one SQLite makes for its primary key."""
    found = []
    for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
        if origin == "pk":
            continue
        columns = tuple(row[2] for row in conn.execute(f"PRAGMA index_info({name})"))
        where = None
        if partial:
            (sql,) = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
            ).fetchone()
            where = " ".join(sql.split(" WHERE ", 1)[1].split())
        found.append(Index(name, columns, bool(unique), where))
    return sorted(found)


def fresh_schema() -> Schema:
    """The schema of a new store: an empty SQLite database that covid-etl's migrations build,
    in a directory of its own that is removed after."""
    from covid_etl.series.registry import SERIES
    from covid_etl.store.sqlite import SqliteStore

    pg_types = postgres_types()
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteStore(Path(directory) / "schema.db")
        try:
            store.migrate(SERIES)
        finally:
            store.close()
        conn = sqlite3.connect(Path(directory) / "schema.db")
        try:
            return read_schema(conn, pg_types)
        finally:
            conn.close()


def check_descriptions(schema: Schema, tables: Mapping[str, Table]) -> None:
    """Every table and column has a description, and every description has its table or
    column; otherwise a ValueError naming each mismatch."""
    problems = []
    for name in schema.tables.keys() - tables.keys():
        problems.append(f"table {name} has no description")
    for name in tables.keys() - schema.tables.keys():
        problems.append(f"table {name} is described but does not exist")
    for name in schema.tables.keys() & tables.keys():
        stored = {c.name for c in schema.tables[name].columns}
        described = set(tables[name].columns)
        problems += [f"column {name}.{c} has no description" for c in stored - described]
        problems += [
            f"column {name}.{c} is described but does not exist" for c in described - stored
        ]
    if problems:
        raise ValueError(
            "the database page's descriptions (TABLES in docs_gen/database_reference.py) do not "
            "match the schema: " + "; ".join(sorted(problems))
        )


# -- the page ---------------------------------------------------------------------------------

# The examples: what a user asks of the database, each run by tests/site/test_examples.py on a
# database loaded from the shipped snapshot.
EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "The latest run: its outcome, its counts and the last date it loaded.",
        "SELECT id, status, trigger, as_of, started_at, inserted, updated, unchanged, removed,\n"
        "       data_through\n"
        "FROM runs ORDER BY id DESC LIMIT 1;",
    ),
    (
        "The national series for one month.",
        "SELECT date, cases, deaths, recovered\n"
        "FROM records\n"
        "WHERE date BETWEEN '2021-01-01' AND '2021-01-31'\n"
        "ORDER BY date;",
    ),
    (
        "Daily new cases: each day's count minus the previous day's, computed over the whole "
        "series and then cut to one month (window functions need SQLite 3.25 or later).",
        "SELECT date, new_cases\n"
        "FROM (SELECT date, cases - LAG(cases) OVER (ORDER BY date) AS new_cases FROM records)\n"
        "WHERE date BETWEEN '2021-01-01' AND '2021-01-31'\n"
        "ORDER BY date;",
    ),
    (
        "One state's last week of rows, by FIPS code (`06` California): the table's key "
        "is (fips, date), so this reads one range of it.",
        "SELECT date, name, cases, deaths\n"
        "FROM states\n"
        "WHERE fips = '06'\n"
        "ORDER BY date DESC LIMIT 7;",
    ),
    (
        "What the latest run that changed data did, per series and kind.",
        "SELECT series, kind, COUNT(*) AS entries\n"
        "FROM changes\n"
        "WHERE run_id = (SELECT MAX(run_id) FROM changes)\n"
        "GROUP BY series, kind\n"
        "ORDER BY series, kind;",
    ),
    (
        "The same run's national changes, with the values before and after.",
        "SELECT date, kind,\n"
        "       json_extract(old_values, '$.cases') AS cases_before,\n"
        "       json_extract(new_values, '$.cases') AS cases_after\n"
        "FROM changes\n"
        "WHERE run_id = (SELECT MAX(run_id) FROM changes) AND series = 'national'\n"
        "ORDER BY date;",
    ),
    (
        "The NYT's notes in force on a day: those whose days, from `date` to `end_date`, "
        "include it.",
        "SELECT geoid, type, date, end_date, omit_from_rolling_average, description\n"
        "FROM anomalies\n"
        "WHERE date <= '2020-11-26' AND COALESCE(end_date, date) >= '2020-11-26'\n"
        "ORDER BY geoid, type;",
    ),
    (
        "The schema's version.",
        "SELECT MAX(version) FROM schema_migrations;",
    ),
)


def _table_section(name: str, table: TableSchema, described: Table) -> list[str]:
    from .markdown import code
    from .markdown import table as markdown_table

    rows = []
    for column in table.columns:
        postgres = column.postgres_type if column.postgres_type != column.sqlite_type else ""
        default = code(column.default) if column.default is not None else ""
        rows.append(
            (
                code(column.name), column.sqlite_type, postgres,
                "no" if column.not_null else "yes", default, described.columns[column.name],
            )
        )  # fmt: skip
    header = ("Column", "SQLite type", "PostgreSQL type", "Nullable", "Default", "Meaning")
    lines = [f"## `{name}`", "", described.description, "", *markdown_table(header, rows), ""]
    facts = [f"Primary key: ({', '.join(table.primary_key)})."] if table.primary_key else []
    facts += [
        f"`{column}` references `{target}.{target_column}`."
        for column, target, target_column in table.references
    ]
    for index in table.indexes:
        kind = "Unique index" if index.unique else "Index"
        where = f", only where `{index.where}`" if index.where else ""
        facts.append(f"{kind} `{index.name}` on ({', '.join(index.columns)}){where}.")
    facts += [f"Check on `{c.name}`: `{c.check}`." for c in table.columns if c.check]
    return [*lines, *(f"- {fact}" for fact in facts), ""]


def database_page(
    schema: Schema, tables: Mapping[str, Table], examples: Sequence[tuple[str, str]]
) -> str:
    from .markdown import generated_note

    check_descriptions(schema, tables)
    lines = [
        "# Database tables",
        "",
        generated_note(
            "an empty database that covid-etl's migrations create (`src/covid_etl/store/`) and "
            "the descriptions in `docs_gen/database_reference.py`"
        ),
        "",
        f"This is schema version {schema.version}: `schema_migrations` holds one row per "
        "migration, and covid-etl brings an older database up to date when it opens it. A "
        "self-hosted SQLite store is one file (`data/covid-etl.db` by default); the AWS stack "
        "keeps the same file in S3 (`covid-etl.db`); PostgreSQL has the same tables and "
        "columns in its own types, shown where they differ.",
        "",
        "On SQLite a date is `YYYY-MM-DD` text, which sorts and compares as dates do, a time is "
        "ISO 8601 text in UTC, a flag is 0 or 1, and JSON is text that SQLite's `json_extract` "
        "reads. PostgreSQL keeps them as `DATE`, `TIMESTAMPTZ`, `BOOLEAN` or `SMALLINT`, and "
        "`JSONB`. The checks below are SQLite's; PostgreSQL's migrations "
        "(`src/covid_etl/store/postgres.py`) declare their own, in its syntax, and its `DATE` "
        "columns need no check of their form.",
        "",
        "| Table | What it holds |",
        "|---|---|",
        *(f"| [`{name}`](#{name}) | {tables[name].summary}. |" for name in tables),
        "",
    ]
    for name in tables:
        lines += _table_section(name, schema.tables[name], tables[name])
    lines += [
        "## Example queries",
        "",
        "Open the database read-only with the `sqlite3` shell, so that nothing is written by "
        "mistake, and paste a query:",
        "",
        "```sh",
        "sqlite3 -readonly -header -column data/covid-etl.db",
        "```",
        "",
        "Each query below is run by the tests on the database that `covid-etl run --offline` "
        "loads, and returns rows there.",
        "",
    ]
    for title, sql in examples:
        lines += [title, "", "```sql", sql, "```", ""]
    return "\n".join(lines)


def page() -> str:
    return database_page(fresh_schema(), TABLES, EXAMPLES)
