"""docs/troubleshooting.md stays true: every message the code can print is on the page, and the
commonest failures print the documented line with the documented exit code.

The messages are read from the source (tests/helpers/messages.py): a new ``fail("...")`` or
``raise StoreError(f"...")`` without its entry on the page fails
``test_every_message_in_the_code_is_on_the_page``, naming it. The situations below are real: a
SQLite file, a held lock, a closed port, a bound port, the command line run in process.
"""

from __future__ import annotations

import ast
import fcntl
import socket
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import pytest
from click.testing import CliRunner

import covid_etl
from covid_etl.cli import app
from covid_etl.store import open_store
from tests.helpers.data import JHU_CURRENT
from tests.helpers.env import cli_env
from tests.helpers.messages import (
    Entry,
    documented_lines,
    package_templates,
    page_entries,
    templates_in,
    undocumented,
)
from tests.helpers.servers import free_port

PAGE = Path(__file__).parents[2] / "docs" / "troubleshooting.md"
PACKAGE = Path(covid_etl.__file__).parent
runner = CliRunner()


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def entries(page: str) -> list[Entry]:
    return page_entries(page)


# -- the code's messages are on the page ---------------------------------------------------------


def test_every_message_in_the_code_is_on_the_page(page: str) -> None:
    templates = package_templates(PACKAGE)
    # The collector must keep finding the messages it is meant to find, or the check below
    # would pass for want of anything to check.
    assert len(templates) > 100
    shown = {t.shown for t in templates}
    assert "no database at {...}; run `covid-etl run` first" in shown  # fail(...)
    assert "expected a port number: a whole number from 1 to 65535" in shown  # ValueError(form)
    assert (
        "the database is locked by another process (waited {...}s for SQLite's lock on {...})"
        in shown
    )
    missing = [f"{t.where}: {t.shown}" for t in undocumented(templates, documented_lines(page))]
    assert not missing, "messages missing from docs/troubleshooting.md:\n" + "\n".join(missing)


def test_a_new_fail_without_an_entry_is_reported(page: str) -> None:
    """The check catches what it is for: a message added to the command line and nowhere else."""
    source = PACKAGE / "cli" / "__init__.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    added = ast.parse('def later():\n    fail(f"the cache at {path} is stale; clear it")\n')
    tree.body.extend(added.body)
    common = ast.parse((PACKAGE / "cli" / "common.py").read_text(encoding="utf-8"))
    modules = {"cli/common.py": common, "cli/__init__.py": tree}
    missing = list(undocumented(templates_in(modules), documented_lines(page)))
    assert [t.shown for t in missing] == ["the cache at {...} is stale; clear it"]


def test_every_entry_with_messages_states_its_exit_code(entries: list[Entry]) -> None:
    for entry in entries:
        if entry.lines:
            assert entry.exit_codes or entry.no_exit_code, f"{entry.title}: no exit code"
            assert entry.exit_codes <= {0, 1, 2}, entry.title


# -- the commonest situations, for real ----------------------------------------------------------

Prepared = tuple[list[str], dict[str, str], AbstractContextManager[object]]


def _bad_setting(tmp_path: Path) -> Prepared:
    env = cli_env(f"sqlite:///{tmp_path / 'covid.db'}", COVID_ETL_RETRIES="many")
    return ["run", "--offline"], env, nullcontext()


def _bad_database_url(tmp_path: Path) -> Prepared:
    env = cli_env(f"sqlite:///{tmp_path / 'unused.db'}")
    return ["runs", "--database-url", "sqlite://covid.db"], env, nullcontext()


def _no_database(tmp_path: Path) -> Prepared:
    return ["runs"], cli_env(f"sqlite:///{tmp_path / 'missing.db'}"), nullcontext()


def _unknown_option(tmp_path: Path) -> Prepared:
    return ["runs", "--bogus"], cli_env(f"sqlite:///{tmp_path / 'covid.db'}"), nullcontext()


def _corrupt_file(tmp_path: Path) -> Prepared:
    database = tmp_path / "covid.db"
    database.write_bytes(b"this is not a SQLite database" * 100)
    return ["run", "--offline"], cli_env(f"sqlite:///{database}"), nullcontext()


def _corrupt_file_read(tmp_path: Path) -> Prepared:
    _, env, held = _corrupt_file(tmp_path)
    return ["export"], env, held


def _migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'covid.db'}"
    store = open_store(url)
    store.migrate()
    store.close()
    return url


@contextmanager
def _writer_lock_held(path: Path) -> Iterator[None]:
    """What another run holds for its whole length: the lock file beside the database."""
    with open(f"{path}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run_in_progress(tmp_path: Path) -> Prepared:
    url = _migrated(tmp_path)
    env = cli_env(url, COVID_ETL_LOCK_TIMEOUT="0")
    return ["run", "--offline"], env, _writer_lock_held(tmp_path / "covid.db")


@contextmanager
def _sqlite_lock_held(path: Path) -> Iterator[None]:
    """Another program in a write transaction on the file (a sqlite3 shell, a backup tool)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def _database_locked(tmp_path: Path) -> Prepared:
    url = _migrated(tmp_path)
    env = cli_env(url, COVID_ETL_LOCK_TIMEOUT="0.2")
    return ["run", "--offline"], env, _sqlite_lock_held(tmp_path / "covid.db")


def _source_unreachable(tmp_path: Path) -> Prepared:
    env = cli_env(
        f"sqlite:///{tmp_path / 'covid.db'}",
        COVID_ETL_NYT_URL=f"http://127.0.0.1:{free_port()}/us.csv",  # nothing listens there
        COVID_ETL_JHU_URL=str(JHU_CURRENT),
        COVID_ETL_RETRIES="0",
    )
    return ["run"], env, nullcontext()


def _contract_broken(tmp_path: Path) -> Prepared:
    nyt = tmp_path / "us.csv"
    nyt.write_text("date,cases,deaths\n2020-01-21,1,0\n2020-01-22,-3,0\n")
    env = cli_env(
        f"sqlite:///{tmp_path / 'covid.db'}",
        COVID_ETL_NYT_URL=str(nyt),
        COVID_ETL_JHU_URL=str(JHU_CURRENT),
    )
    return ["run"], env, nullcontext()


@contextmanager
def _port_taken(port: int) -> Iterator[None]:
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        yield


def _port_in_use(tmp_path: Path) -> Prepared:
    port = free_port()
    argv = ["serve", "--no-schedule", "--host", "127.0.0.1", "--port", str(port)]
    return argv, cli_env(f"sqlite:///{tmp_path / 'covid.db'}"), _port_taken(port)


# (situation, its entry's title on the page, a phrase that shows this situation was reached)
SITUATIONS: list[tuple[Callable[[Path], Prepared], str, str]] = [
    (_bad_setting, "A setting has a value it does not accept", "COVID_ETL_RETRIES='many'"),
    (_bad_database_url, "The database URL cannot be read", "three slashes"),
    (_no_database, "There is no database yet", "no database at"),
    (_unknown_option, "An option's value is refused", "No such option '--bogus'"),
    (_corrupt_file, "The database file is corrupt", "failed at stage open"),
    (_corrupt_file_read, "The database file is corrupt", "Error: the database file is corrupt"),
    (_run_in_progress, "Another run is in progress", "failed at stage lock"),
    (_database_locked, "The database is locked by another process", "failed at stage lock"),
    (_source_unreachable, "A source cannot be reached", "Connection refused"),
    (_contract_broken, "A file breaks the data contract", "count is negative"),
    (_port_in_use, "The port or address cannot be used", "is already in use"),
]


@pytest.mark.parametrize(
    ("prepare", "title", "phrase"), SITUATIONS, ids=[s[0].__name__.strip("_") for s in SITUATIONS]
)
def test_the_printed_error_and_exit_code_are_the_documented_ones(
    tmp_path: Path,
    entries: list[Entry],
    prepare: Callable[[Path], Prepared],
    title: str,
    phrase: str,
) -> None:
    argv, env, held = prepare(tmp_path)
    with held:
        result = runner.invoke(app, argv, env=env)
    assert phrase in result.output, result.output
    printed = [
        line
        for line in result.output.splitlines()
        if line.startswith(("Error: ", "Run #", "A source could not be reached"))
    ]
    assert printed, result.output
    entry = next(e for e in entries if e.title == title)
    for line in printed:
        assert entry.matches(line), f"not documented under {title!r}: {line}"
    assert result.exit_code in entry.exit_codes, (result.exit_code, entry.exit_codes)


# -- an older covid-etl refuses a newer database where it checks: db copy ------------------------


def test_db_copy_refuses_a_database_newer_than_this_covid_etl(
    tmp_path: Path, entries: list[Entry]
) -> None:
    source = _migrated(tmp_path)
    store = open_store(source)
    known = store.schema_version()
    store.close()
    # What a later covid-etl's migration leaves behind: one more version than this one knows.
    with sqlite3.connect(tmp_path / "covid.db") as newer:
        newer.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            (known + 1, "2027-01-01T00:00:00+00:00"),
        )
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    env = cli_env(f"sqlite:///{tmp_path / 'unused.db'}")
    result = runner.invoke(app, ["db", "copy", "--from", source, "--to", target], env=env)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {source} has schema version {known + 1}, newer than this covid-etl knows "
        f"({known}); upgrade covid-etl first\n"
    )
    entry = next(e for e in entries if e.title == "`db copy` refuses")
    assert entry.matches(result.output.strip()) and 1 in entry.exit_codes
