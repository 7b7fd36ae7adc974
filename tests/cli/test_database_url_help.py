"""Every command that takes --database-url documents the same store URLs in its --help."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
from click.testing import CliRunner

from covid_etl.cli import app
from covid_etl.store import POSTGRES_SCHEMES, S3_SCHEMES, SQLITE_SCHEMES

runner = CliRunner()


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def _with_database_url() -> list[tuple[str, ...]]:
    found = []
    for path in _commands(app):
        command: click.Command = app
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        if any("--database-url" in param.opts for param in command.params):
            found.append(path)
    return found


def _schemes_in_help(path: tuple[str, ...]) -> set[str]:
    result = runner.invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "--database-url" in line)
    return set(re.findall(r"([a-z0-9+]+)://", line))


def test_every_command_with_database_url_lists_every_store_scheme_in_its_help() -> None:
    commands = _with_database_url()
    # The commands that open a store; a new one joins this list by taking the option.
    assert {" ".join(path) for path in commands} >= {
        "run",
        "runs",
        "export",
        "changes",
        "replay",
        "check",
        "serve",
    }
    # One form per backend: sqlite, postgresql and s3 (postgres and postgresql+psycopg are
    # aliases the help need not list).
    accepted = SQLITE_SCHEMES | POSTGRES_SCHEMES | S3_SCHEMES
    listed = {path: _schemes_in_help(path) for path in commands}
    assert all(schemes == {"sqlite", "postgresql", "s3"} for schemes in listed.values()), listed
    assert {"sqlite", "postgresql", "s3"} <= accepted
