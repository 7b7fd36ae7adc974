"""``covid-etl revisions``: how figures settled, per date of the national series or one state's
(:mod:`covid_etl.series.revisions` holds the definitions; ``/api/v1/revisions`` serves the same).

Its own module, registered by the command line's group, with the helpers every command shares
(:mod:`covid_etl.cli.common`). The computation and rich are imported when the command runs, not
at every command's start-up.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import click

from covid_etl.cli.common import (
    DATABASE_URL_OPTION,
    EXIT_FAILED,
    EXIT_USAGE,
    fail,
    load_settings,
    opened_store,
)
from covid_etl.models import NATIONAL_NAME, ChangeEntry

if TYPE_CHECKING:
    from covid_etl.series.revisions import Settled
    from covid_etl.store.base import Store

# Dates the table shows; --format csv or json gives them all.
SHOWN = 20


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
@DATABASE_URL_OPTION
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
        fail(f"--fips {fips!r}: expected a two-digit FIPS code such as 06", EXIT_USAGE)
    place = fips or NATIONAL_NAME
    with opened_store(load_settings(database_url=database_url), must_exist=True) as store:
        entries, as_of = _read(store, place)
        where = store.url_for_display
    if as_of is None:
        fail(f"no stored series for fips {fips} in {where}", EXIT_FAILED)
    settled = settle(entries, as_of, measure)
    if fmt == "json":
        click.echo(json.dumps(report(settled, place, measure), indent=2))
    elif fmt == "csv":
        click.echo(to_csv(settled.dates), nl=False)
    else:
        _print_table(settled, place, measure)


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
