"""``covid-etl revisions``: how figures settled, per date of the national series or one state's
(:mod:`covid_etl.series.revisions` holds the definitions; ``/api/v1/revisions`` serves the same).

Its own module, registered by the command line's group; it cannot import that group's helpers
(the two modules would import each other), so it opens its store itself, as ``changes`` does.
The computation and rich are imported when the command runs, not at every command's start-up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import TYPE_CHECKING, NoReturn

import click

from covid_etl.errors import ConfigError, EtlError
from covid_etl.log import configure_logging
from covid_etl.models import NATIONAL_NAME, ChangeEntry
from covid_etl.settings import Settings, settings_from_env
from covid_etl.store import check_database_url, missing_database, open_store

if TYPE_CHECKING:
    from covid_etl.series.revisions import Settled
    from covid_etl.store.base import Store

EXIT_FAILED, EXIT_USAGE = 1, 2
# Dates the table shows; --format csv or json gives them all.
SHOWN = 20
# Runs read per query when mapping run ids to as-of dates.


@click.command()
@click.option(
    "--fips",
    metavar="SS",
    help="A state's two-digit FIPS code (e.g. 06); default: the national series.",
)
@click.option(
    "--measure",
    type=click.Choice(["cases", "deaths"]),
    default="cases",
    show_default=True,
    help="The measure whose revisions are counted.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format: a table (the first dates and the shares), every date as CSV, or the "
    "JSON of /api/v1/revisions.",
)
@click.option("--database-url", help="Store URL (sqlite:///..., postgresql://... or s3://...).")
def revisions(fips: str | None, measure: str, fmt: str, database_url: str | None) -> None:
    """Show how figures settled: per date, the first published value, the final value, the
    number of revisions and how many days after first publication the last one came.

    A date's first publication is the as-of date of the run that inserted it; each later run
    that changed the measure's value is a revision (a removal too: a revision to null), dated
    by its run's as-of date. Also: the share of dates still revised 1, 3, 7, 14, 30, 60 and 90
    days after first publication. Dates first published by runs that recorded no as-of date
    (before schema 8) are left out and counted as skipped. `covid-etl replay` loads the NYT's
    daily versions, which give every date its history.
    """
    from covid_etl.series.revisions import report, settle, to_csv

    if fips is not None and not (len(fips) == 2 and fips.isdigit()):
        _fail(f"--fips {fips!r}: expected a two-digit FIPS code such as 06", EXIT_USAGE)
    place = fips or NATIONAL_NAME
    settings = _settings(database_url)
    if (path := missing_database(settings.database_url)) is not None:
        _fail(f"no database at {path}; run `covid-etl run` first", EXIT_FAILED)
    try:
        store = open_store(settings.database_url, lock_timeout=settings.lock_timeout)
    except EtlError as exc:
        _fail(exc.message, EXIT_FAILED)
    try:
        store.migrate()
        entries, as_of = _read(store, place)
    except EtlError as exc:
        _fail(exc.message, EXIT_FAILED)
    finally:
        store.close()
    if as_of is None:
        _fail(f"no stored series for fips {fips} in {store.url_for_display}", EXIT_FAILED)
    settled = settle(entries, as_of, measure)
    if fmt == "json":
        click.echo(json.dumps(report(settled, place, measure), indent=2))
    elif fmt == "csv":
        click.echo(to_csv(settled.dates), nl=False)
    else:
        _print_table(settled, place, measure)


def _settings(database_url: str | None) -> Settings:
    """Settings from the environment, ``--database-url`` winning; logging configured."""
    try:
        settings = settings_from_env(os.environ, database_url=database_url)
        name = "COVID_ETL_DATABASE_URL" if database_url is None else "--database-url"
        check_database_url(settings.database_url, name)
    except ConfigError as exc:
        _fail(exc.message, EXIT_USAGE)
    configure_logging(settings.log_format, settings.log_level, settings.secrets())
    return settings


def _read(store: Store, place: str) -> tuple[list[ChangeEntry], dict[int, dt.date | None] | None]:
    """The change-log entries of ``place`` and each of their runs' as-of dates (the entries
    carry them); None for the dates when ``place`` is a state with no stored series."""
    from covid_etl.series.registry import STATES

    if place != NATIONAL_NAME and place not in store.partitions(STATES):
        return [], None
    entries = store.changes(series=place)
    return entries, {entry.run_id: entry.as_of for entry in entries}


def _print_table(settled: Settled, place: str, measure: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from covid_etl.series.revisions import report

    out = Console(highlight=False)
    page = report(settled, place, measure, limit=SHOWN)
    where = "National" if place == NATIONAL_NAME else f"FIPS {place}"
    revised = sum(1 for d in settled.dates if d.revisions)
    out.print(
        f"[bold]{where} {measure}[/]: {page['total']} date(s), {revised} revised at least once, "
        f"{page['skipped']} skipped (first published by a run without an as-of date)."
    )
    if not settled.dates:
        return
    # Short headers, explained in the caption: the values fit 80 columns uncut.
    table = Table(
        show_edge=False,
        pad_edge=False,
        caption="published: the as-of date of the run that first stored the date; first, final: "
        "its values then and now; last: the last revision's as-of date; lag: days from "
        "published to last",
        caption_justify="left",
    )
    for column, right in (
        ("date", False),
        ("published", False),
        ("first", True),
        ("final", True),
        ("revisions", True),
        ("last", False),
        ("lag", True),
    ):
        table.add_column(column, justify="right" if right else "left", no_wrap=True)
    for row in page["dates"]:
        table.add_row(
            row["date"],
            row["first_published"],
            _number(row["first_value"]),
            _number(row["final_value"]),
            str(row["revisions"]),
            row["last_revised"] or "-",
            str(row["lag_days"]),
        )
    out.print(table)
    if page["total"] > SHOWN:
        out.print(f"[dim]... and {page['total'] - SHOWN} more date(s): --format csv lists all.[/]")
    out.print("Dates still revised k or more days after their first publication:")
    shares = Table(show_edge=False, pad_edge=False)
    for column in ("k (days)", "dates", "share"):
        shares.add_column(column, justify="right")
    for row in page["settled_after"]:
        share = row["share_still_revised"]
        shares.add_row(
            str(row["days"]),
            str(row["still_revised"]),
            "-" if share is None else f"{share:.2%}",
        )
    out.print(shares)


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)
