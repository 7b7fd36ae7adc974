"""The reference pages committed under docs/reference/ are what `make reference` writes from the
code, byte for byte on any machine; and the database page describes every table and column of
the schema the migrations build, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from covid_etl.store import open_store
from covid_etl.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from docs_gen import database_reference as database
from docs_gen.pages import REFERENCE, reference_pages, stale_pages, write_reference

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def written() -> dict[str, bytes]:
    return reference_pages()


@pytest.mark.parametrize("path", sorted(REFERENCE))
def test_committed_reference_page_is_what_make_reference_writes(
    path: str, written: dict[str, bytes]
) -> None:
    committed = DOCS / path
    assert committed.is_file(), f"docs/{path} is missing: run `make reference` and commit it"
    assert committed.read_bytes() == written[path], (
        f"docs/{path} differs from what the code writes: run `make reference` "
        "(python -m docs_gen) and commit the result"
    )


def test_docs_reference_holds_only_written_pages() -> None:
    on_disk = {f"reference/{p.name}" for p in (DOCS / "reference").iterdir()}
    assert on_disk - set(REFERENCE) == set(), "pages no writer writes: delete them or add one"


def test_writer_command_gives_the_same_bytes_whatever_the_terminal_directory_and_zone(
    tmp_path: Path,
) -> None:
    """`python -m docs_gen --check` from another directory, with a narrow terminal, another time
    zone and locale, finds the committed pages up to date: nothing in them depends on where or
    when they were written."""
    env = {**os.environ, "COLUMNS": "40", "TZ": "Pacific/Kiritimati", "LC_ALL": "C"}
    env["PYTHONPATH"] = str(ROOT)
    checked = subprocess.run(
        [sys.executable, "-m", "docs_gen", "--check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_write_reference_writes_missing_and_stale_pages_only(tmp_path: Path) -> None:
    assert sorted(write_reference(tmp_path)) == sorted(REFERENCE)
    assert write_reference(tmp_path) == []
    assert stale_pages(tmp_path) == []
    (tmp_path / "reference" / "cli.md").write_text("# edited by hand\n")
    assert stale_pages(tmp_path) == ["reference/cli.md"]
    assert write_reference(tmp_path) == ["reference/cli.md"]
    assert (tmp_path / "reference" / "cli.md").read_bytes() == (
        DOCS / "reference/cli.md"
    ).read_bytes()


# -- the database page -------------------------------------------------------------------------


def sqlite_columns(url: str) -> dict[str, list[str]]:
    """Table -> columns of a store the real migrations built, read independently of the page's
    writer."""
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: [row[1] for row in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()


def section(page: str, heading: str) -> str:
    start = page.index(f"\n## {heading}\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end != -1 else len(page)]


def test_database_page_has_every_table_and_column_of_a_migrated_store(
    sqlite_url: str, written: dict[str, bytes]
) -> None:
    from covid_etl.series.registry import SERIES

    store = open_store(sqlite_url)
    store.migrate(SERIES)
    store.close()
    page = written["reference/database.md"].decode()

    columns = sqlite_columns(sqlite_url)

    assert set(columns) == {
        "records", "states", "anomalies", "runs", "changes", "notifications", "schema_migrations",
    }  # fmt: skip
    for table, names in columns.items():
        text = section(page, f"`{table}`")
        for name in names:
            assert f"\n| `{name}` |" in text, (table, name)
    assert f"This is schema version {len(SQLITE_MIGRATIONS)}:" in page
    assert "- Primary key: (fips, date)." in section(page, "`states`")
    assert (
        "- Unique index `runs_one_success_per_event` on (event_id), only where "
        "`status = 'succeeded'`." in section(page, "`runs`")
    )
    assert "| `started_at` | TEXT | TIMESTAMPTZ | no |" in section(page, "`runs`")


def schema_with(**tables: list[str]) -> database.Schema:
    def column(name: str) -> database.Column:
        return database.Column(name, "TEXT", "TEXT", True, None, None)

    return database.Schema(
        1,
        {
            name: database.TableSchema([column(c) for c in names], (names[0],), [], [])
            for name, names in tables.items()
        },
    )


def test_database_page_refuses_a_table_or_column_without_description_and_a_stale_one() -> None:
    described = {"runs": database.Table("Runs: all.", {"id": "Its id.", "gone": "Dropped."})}
    schema = schema_with(runs=["id", "status"], notes=["date"])

    with pytest.raises(ValueError) as refused:
        database.database_page(schema, described, ())

    message = str(refused.value)
    assert "docs_gen/database_reference.py" in message
    assert "column runs.status has no description" in message
    assert "column runs.gone is described but does not exist" in message
    assert "table notes has no description" in message
    schema = schema_with(runs=["id", "gone"])
    with pytest.raises(ValueError, match="table old is described but does not exist"):
        database.database_page(schema, {**described, "old": database.Table("Old: x.", {})}, ())


def test_database_page_describes_what_the_schema_has() -> None:
    schema = schema_with(runs=["id", "gone"])
    described = {"runs": database.Table("Runs: all.", {"id": "Its id.", "gone": "Dropped."})}

    page = database.database_page(schema, described, (("The runs.", "SELECT id FROM runs;"),))

    assert "| [`runs`](#runs) | Runs. |" in page
    assert "| `gone` | TEXT |  | no |  | Dropped. |" in page
    assert "The runs.\n\n```sql\nSELECT id FROM runs;\n```" in page


def test_column_definitions_read_checks_and_types_past_commas_in_quotes_and_parentheses() -> None:
    statement = (
        "CREATE TABLE t (a TEXT NOT NULL CHECK (a IN ('x, y', ')')), "
        "b BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, c DOUBLE PRECISION, "
        "PRIMARY KEY (a, b)) WITHOUT ROWID"
    )
    definitions = database.column_definitions(statement)
    assert list(definitions) == ["a", "b", "c"]
    assert database.check_of(definitions["a"]) == "a IN ('x, y', ')')"
    assert [database.column_type(d) for d in definitions.values()] == [
        "TEXT", "BIGINT", "DOUBLE PRECISION",
    ]  # fmt: skip
    assert database.column_types([statement, "ALTER TABLE t ADD COLUMN d JSONB"])[("t", "d")] == (
        "JSONB"
    )


# What PostgreSQL's catalog calls the types its migrations spell.
PG_CATALOG_NAMES = {
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TEXT": "text",
    "DATE": "date",
    "TIMESTAMPTZ": "timestamp with time zone",
    "JSONB": "jsonb",
    "BOOLEAN": "boolean",
}


@pytest.mark.postgres
def test_postgres_types_on_the_page_are_what_postgresql_reports(
    postgres_url: str, sqlite_url: str
) -> None:
    import psycopg

    from covid_etl.series.registry import SERIES

    for url in (postgres_url, sqlite_url):
        store = open_store(url)
        store.migrate(SERIES)
        store.close()
    with psycopg.connect(postgres_url) as conn:
        reported = {
            (table, column): kind
            for table, column, kind in conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema()"
            )
        }

    parsed = database.postgres_types()

    assert {key: PG_CATALOG_NAMES[kind] for key, kind in parsed.items()} == reported
    on_sqlite = {(t, c) for t, names in sqlite_columns(sqlite_url).items() for c in names}
    assert set(reported) == on_sqlite
