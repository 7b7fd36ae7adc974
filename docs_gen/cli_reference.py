"""docs/reference/cli.md: every command's ``--help``, as click prints it."""

from __future__ import annotations

from collections.abc import Iterator

import click

# A fixed width, so the page does not depend on the terminal the site was built in.
HELP_WIDTH = 80


def walk(
    command: click.Command, name: str, parent: click.Context | None = None
) -> Iterator[tuple[str, click.Command, click.Context]]:
    """(full command line, command, its context) for ``command`` and every command below it,
    in the order a reader meets them: a group, then its commands by name."""
    settings = {**command.context_settings, "terminal_width": HELP_WIDTH}
    settings["max_content_width"] = HELP_WIDTH
    context = click.Context(command, info_name=name, parent=parent, **settings)
    yield context.command_path, command, context
    if isinstance(command, click.Group):
        for sub_name in sorted(command.commands):
            yield from walk(command.commands[sub_name], sub_name, context)


def command_lines(root: click.Command, name: str) -> list[str]:
    return [line for line, _, _ in walk(root, name)]


def first_paragraph(command: click.Command) -> str:
    """The first paragraph of a command's help, whole: ``--help``'s list of commands cuts it
    to fit a line."""
    return " ".join((command.help or "").split("\n\n", 1)[0].split())


def heading_id(line: str) -> str:
    """The id the site gives the heading `` ## `covid-etl db copy` ``: ``covid-etl-db-copy``."""
    return line.replace(" ", "-")


def commands_table(root: click.Command, name: str) -> list[str]:
    """Every command below ``root``, linked to its section, with its first paragraph."""
    from .markdown import table

    rows = [
        (f"[`{line}`](#{heading_id(line)})", first_paragraph(command))
        for line, command, _ in walk(root, name)
        if command is not root and not isinstance(command, click.Group)
    ]
    return table(("Command", "What it does"), rows)


def cli_page(root: click.Command, name: str) -> str:
    from .markdown import generated_note

    lines = [
        "# Command line",
        "",
        generated_note("each command's `--help` (`src/covid_etl/cli/__init__.py`)"),
        "",
        "Every command reads its settings from `COVID_ETL_*` environment variables "
        "([settings](settings.md)); an option given on the command line wins. Exit codes: 0 "
        "success, 1 a failed run, a stale deployment (`check`) or a store that cannot be read, "
        "2 bad usage or settings.",
        "",
        *commands_table(root, name),
        "",
    ]
    for line, command, context in walk(root, name):
        lines += [f"## `{line}`", "", "```text", command.get_help(context).rstrip(), "```", ""]
    return "\n".join(lines)


def page() -> str:
    from covid_etl.cli import app

    return cli_page(app, "covid-etl")
