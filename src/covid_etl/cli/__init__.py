"""Command-line interface: builds settings, calls the library, turns errors into exit codes.

Exit codes: 0 the run succeeded (also with 0 changes), 1 the run failed, 2 bad usage or settings.
Plain click (not a heavier framework) keeps the start-up of a daily no-change run short; the
third-party libraries only some commands need are imported inside them: rich (the console's
tables and progress, ~40 ms), FastAPI and uvicorn (``serve``, ~300 ms); so are the modules of
one command's own work (the stale watcher and scheduler of ``serve``, ``check``'s staleness,
``export``, ``db copy``) and what only some settings need (channels, a schedule), which a daily
``run`` would otherwise import for nothing (~10 ms of a 0.12 s no-change run, measured).
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path
from typing import Any

import click

from covid_etl import __version__
from covid_etl.cli.common import (
    DATABASE_URL_OPTION,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    load_settings,
    opened_store,
)
from covid_etl.cli.revisions import revisions
from covid_etl.errors import ConfigError, EtlError, StoreUnavailable
from covid_etl.models import STATES_NAME, Trigger, utcnow
from covid_etl.publish.original import publish_original
from covid_etl.redact import redact, secrets_in_url
from covid_etl.run.pipeline import RUN_FAILED_TAG, run_etl
from covid_etl.run.summary import run_summary_json
from covid_etl.series.changelog import to_csv, valid_series
from covid_etl.series.registry import SERIES
from covid_etl.settings import SCHEDULE_OFF, Settings
from covid_etl.sources.fetch import source_unreachable
from covid_etl.store import check_database_url, missing_database, open_store


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="covid-etl")
def app() -> None:
    """Daily ETL of US COVID-19 data: NYT cases and deaths joined with JHU recoveries.

    Settings come from COVID_ETL_* environment variables (see the settings reference); options
    given on the command line win.
    """


@app.command()
@click.option("--offline", is_flag=True, help="Use the data snapshot shipped with the package.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@click.option("--nyt-url", help="NYT us.csv: URL or local path.")
@click.option("--jhu-url", help="JHU combined CSV: URL or local path.")
@DATABASE_URL_OPTION
@click.option(
    "--trigger",
    type=click.Choice(["manual", "schedule", "event"]),
    default="manual",
    show_default=True,
    help="What started the run (recorded in the run history).",
)
@click.option(
    "--accept-removals",
    is_flag=True,
    help="Delete stored dates the sources no longer have (recorded with the run) instead of "
    "failing; for when a source really dropped dates, e.g. to remove a bad row.",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Print every warning in full; by default the per-state decreases are summed up in two "
    "lines (the run record, runs --json and the notification keep them all).",
)
def run(
    offline: bool,
    as_json: bool,
    nyt_url: str | None,
    jhu_url: str | None,
    database_url: str | None,
    trigger: str,
    accept_removals: bool,
    verbose: bool,
) -> None:
    """Fetch, validate, join and load the data once; notify subscribers.

    Exit code 0 when the run succeeded (also with 0 changes), 1 when it failed.
    """
    settings = load_settings(
        offline=offline or None, nyt_url=nyt_url, jhu_url=jhu_url, database_url=database_url
    )
    progress = None if as_json else _progress_printer()
    if not as_json:
        _leave_run_failure_to_the_summary()
    result = run_etl(
        settings, trigger=Trigger(trigger), progress=progress, accept_removals=accept_removals
    )
    if progress is not None:
        progress.close()
    if as_json:
        click.echo(json.dumps(run_summary_json(result.run)))
    else:
        from covid_etl.cli.console import print_run

        print_run(
            result.run,
            printed_because_no_channel=not settings.notify,
            offline_hint=not settings.offline and _unreachable(result),
            data_known=result.data_known,
            verbose=verbose,
        )
    sys.exit(EXIT_OK if result.succeeded else EXIT_FAILED)


def _leave_run_failure_to_the_summary() -> None:
    """The summary printed after the run states its failure; the log line saying the same
    would show it twice on the terminal."""
    import logging

    logging.getLogger("covid_etl.run.pipeline").addFilter(
        lambda record: not getattr(record, RUN_FAILED_TAG, False)
    )


def _unreachable(result: Any) -> bool:
    return result.failure is not None and source_unreachable(result.failure.cause)


def _progress_printer() -> Any:
    from covid_etl.cli.console import SlowDownloadProgress

    return SlowDownloadProgress()


# Imported at start-up for the export command's choices: pure declarations, standard library only.
SERIES_NAMES = tuple(series.name for series in SERIES)


@app.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="Show the most recent N runs.",
)
@DATABASE_URL_OPTION
def runs(as_json: bool, limit: int, database_url: str | None) -> None:
    """Show the run history, most recent first."""
    with opened_store(load_settings(database_url=database_url), must_exist=True) as store:
        history = store.list_runs(limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in history], indent=2))
    else:
        from covid_etl.cli.console import print_runs

        print_runs(history)


@app.command()
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object.")
@DATABASE_URL_OPTION
@click.pass_context
def check(ctx: click.Context, as_json: bool, database_url: str | None) -> None:
    """Is the deployment stale? One line and an exit code, for cron-style monitors.

    Exit code 0 healthy, 1 stale (no successful run within COVID_ETL_MAX_RUN_AGE) or the store
    unreadable, 2 bad configuration. --json prints the facts: the last successful run's id,
    time and age, the last run's status, and the data-through date.
    """
    from covid_etl.monitor.staleness import assess

    settings = load_settings(database_url=database_url)
    # Tests hand in their own clock through click's context object instead of sleeping.
    clock = (ctx.obj or {}).get("clock", utcnow)
    try:
        facts = _check_facts(settings)
    except EtlError as exc:
        if as_json:
            click.echo(json.dumps({"stale": None, "error": exc.message}))
        fail(f"cannot read the store: {exc.message}", EXIT_FAILED)
    health = assess(facts, clock(), settings.max_run_age_seconds)
    click.echo(json.dumps(health.to_dict()) if as_json else health.summary())
    sys.exit(EXIT_FAILED if health.stale else EXIT_OK)


def _check_facts(settings: Settings) -> Any:
    """Read the run facts without creating a database where none is (raises EtlError)."""
    from covid_etl.monitor.staleness import read_facts

    if (path := missing_database(settings.database_url)) is not None:
        raise StoreUnavailable(f"no database at {path}; run `covid-etl run` first")
    store = open_store(settings.database_url, lock_timeout=settings.lock_timeout)
    try:
        store.migrate()
        return read_facts(store)
    finally:
        store.close()


@app.command()
@click.option("--host", help="Listen address (default from COVID_ETL_HOST).")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Listen port (default from COVID_ETL_PORT)."
)
@click.option(
    "--schedule",
    help="Run the ETL on this five-field cron expression, read in UTC whatever the machine's "
    "time zone. Default 0 21 * * *.",
)
@click.option("--no-schedule", is_flag=True, help="Serve only; never run the ETL.")
@click.option("--offline", is_flag=True, help="Scheduled runs use the bundled snapshot.")
@DATABASE_URL_OPTION
def serve(
    host: str | None,
    port: int | None,
    schedule: str | None,
    no_schedule: bool,
    offline: bool,
    database_url: str | None,
) -> None:
    """Serve the API and dashboard, and run the ETL on a schedule."""
    if schedule is not None and no_schedule:
        fail("use either --schedule or --no-schedule")
    if schedule is not None:
        try:
            from covid_etl.cron import parse_cron

            parse_cron(schedule)
        except ConfigError as exc:
            fail(f"--schedule: {exc.message}")
    settings = load_settings(
        host=host,
        port=port,
        schedule=SCHEDULE_OFF if no_schedule else schedule,
        offline=offline or None,
        database_url=database_url,
    )
    with opened_store(settings):  # fail fast, with exit code 1, on an unusable store
        pass
    # Bound before anything is printed, so a busy port is one clear line and nothing else.
    listening = _listen_socket(settings.host, settings.port)
    import uvicorn

    from covid_etl.monitor.watch import StaleWatcher
    from covid_etl.run.scheduler import cron_scheduler
    from covid_etl.web.app import create_app

    click.echo(
        f"Serving on http://{settings.host}:{settings.port}/ "
        f"(schedule: {settings.schedule}{' UTC' if settings.schedule != SCHEDULE_OFF else ''})",
        err=True,
    )
    scheduler = None
    if settings.schedule != SCHEDULE_OFF:
        scheduler = cron_scheduler(settings, settings.schedule)
    config = uvicorn.Config(
        create_app(settings, scheduler=scheduler),
        # No logging config of uvicorn's own: its records go to the handler configure_logging
        # set up, in the chosen text or JSON format, secrets masked.
        log_config=None,
        log_level=settings.log_level.lower(),
        # One line per request is a debugging aid, not worth its cost on every request.
        access_log=settings.log_level == "DEBUG",
        server_header=False,
    )

    watcher = StaleWatcher(settings)  # the stale / recovered notices, on serve's own clock
    watcher.start()
    gc.enable()  # serve lives on: cycles must not pile up (main turned the collector off)
    try:
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        watcher.stop()


def _listen_socket(host: str, port: int) -> Any:
    """A socket bound to ``host:port``; a busy port or bad address exits 2 with one line."""
    import errno
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}: {exc.strerror}")
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart may reuse the port while old connections sit in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} is already in use on {host}")
        fail(f"cannot listen on {host} port {port}: {exc.strerror}")
    return sock


@app.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
@click.option(
    "--series",
    "series_name",
    type=click.Choice(SERIES_NAMES),
    default=SERIES_NAMES[0],
    show_default=True,
    help="The series to export: national (date,cases,deaths,recovered) or states "
    "(date,fips,state,cases,deaths, by date then fips).",
)
@click.option("--states", is_flag=True, help="The same as --series states.")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The series as it stood on this day (YYYY-MM-DD): after the last succeeded run whose "
    "as-of date is that day or earlier.",
)
@DATABASE_URL_OPTION
def export(
    fmt: str,
    output: str | None,
    series_name: str,
    states: bool,
    as_of: Any,
    database_url: str | None,
) -> None:
    """Export a stored series (by default the national one), sorted by date."""
    from covid_etl.publish import export as exporting

    series = next(s for s in SERIES if s.name == (STATES_NAME if states else series_name))
    with opened_store(load_settings(database_url=database_url), must_exist=True) as store:
        if as_of is None:
            stored = store.rows(series)
        else:
            from covid_etl.store.asof import rows_as_of, run_as_of

            stored = rows_as_of(store, series, run_as_of(store, as_of.date()))
        rows = exporting.by_date(series, stored)
    writer = exporting.write_csv if fmt == "csv" else exporting.write_json
    if output is None:
        writer(series, rows, sys.stdout)
    else:
        with open(output, "w", newline="", encoding="utf-8") as handle:
            writer(series, rows, handle)


@app.command()
@click.argument("run_id", type=click.IntRange(min=1), required=False)
@click.option(
    "--series",
    help="Only this series: `national` or a state's two-digit FIPS code (e.g. 36).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@DATABASE_URL_OPTION
def changes(run_id: int | None, series: str | None, fmt: str, database_url: str | None) -> None:
    """Show what one run inserted, revised or removed, with the values before and after.

    RUN_ID defaults to the latest run that changed data.
    """
    if series is not None and not valid_series(series):
        fail(
            f"--series {series!r}: expected `national`, a two-digit FIPS code such as 36, or an "
            "NYT note's `anomalies:GEOID:TYPE` such as anomalies:USA-06:cases"
        )
    with opened_store(load_settings(database_url=database_url), must_exist=True) as store:
        if run_id is None:
            run_id = store.last_changed_run_id()
            if run_id is None:
                fail("no run has changed data yet; run `covid-etl run` first", EXIT_FAILED)
        elif store.get_run(run_id) is None:
            fail(f"no run #{run_id} in {store.url_for_display}", EXIT_FAILED)
        entries = store.changes(run_id=run_id, series=series)
    if fmt == "json":
        click.echo(json.dumps([e.to_dict() for e in entries], indent=2))
    elif fmt == "csv":
        click.echo(to_csv(entries), nl=False)
    else:
        from covid_etl.cli.console import print_changes

        print_changes(run_id, entries)


@app.group()
def db() -> None:
    """Database maintenance: move the data and run history between databases."""


@db.command("copy")
@click.option(
    "--from",
    "from_url",
    required=True,
    help="Database to read (e.g. sqlite:///data/covid-etl.db).",
)
@click.option(
    "--to",
    "to_url",
    required=True,
    help="Empty database to fill (e.g. postgresql://user@host:5432/db).",
)
def db_copy(from_url: str, to_url: str) -> None:
    """Copy the data (national and per-state series) and the run history (runs, records,
    notifications) into an empty database.

    Run ids are kept. A target that already holds runs or data is refused: the copy never
    merges or overwrites. It is one transaction, so a failed copy can simply be run again.
    """
    from covid_etl.store.copy import copy_store

    settings = load_settings()
    secrets = [*settings.secrets(), *secrets_in_url(from_url), *secrets_in_url(to_url)]
    try:
        check_database_url(from_url, "--from")
        check_database_url(to_url, "--to")
        report = copy_store(
            from_url, to_url, lock_timeout=settings.lock_timeout, after_commit=publish_original
        )
    except ConfigError as exc:
        fail(redact(exc.message, secrets), EXIT_USAGE)
    except EtlError as exc:
        fail(redact(exc.message, secrets), EXIT_FAILED)
    click.echo(
        f"Copied {report.runs} run(s), {report.records} record(s) and {report.notifications} "
        f"notification(s) from {report.source} to {report.target}, with {report.states} "
        "per-state row(s)."
    )


@app.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--offline",
    is_flag=True,
    help="JHU and the NYT's notes from the snapshot shipped with the package.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@DATABASE_URL_OPTION
def replay(paths: tuple[Path, ...], offline: bool, as_json: bool, database_url: str | None) -> None:
    """Load archived daily versions of the NYT's files, oldest first, one run per date.

    PATHS are directories, .tar/.tar.gz/.tar.xz archives or files named us-YYYY-MM-DD.csv
    (national) and us-states-YYYY-MM-DD.csv (per state). Each date is recorded as its run's
    as-of date; removals are applied and recorded. Dates already loaded are skipped, so a
    replay stopped part-way continues where it stopped. Exit code 0 when every date loaded, 1
    when one failed (the dates before it stay loaded).
    """
    from covid_etl.cli.console import ReplayProgress, print_replay
    from covid_etl.run.replay import replay as replay_versions

    settings = load_settings(offline=offline or None, database_url=database_url)
    _leave_run_failure_to_the_summary()
    shown = None if as_json else ReplayProgress()
    with opened_store(settings) as store:
        try:
            done = replay_versions(
                settings,
                list(paths),
                store,
                progress=shown.update if shown is not None else None,
                announce=None if as_json else click.echo,
            )
        except ConfigError as exc:
            if shown is not None:
                shown.close()
            fail(exc.message, EXIT_FAILED)
    if shown is not None:
        shown.close()
    if as_json:
        click.echo(json.dumps(done.to_dict()))
    else:
        print_replay(done)
    sys.exit(EXIT_FAILED if done.failed is not None else EXIT_OK)


app.add_command(revisions)


def main() -> None:
    """Console-script entry point."""
    # Every command but `serve` runs once and exits. Python's cyclic garbage collector would
    # walk the objects that the imports and the command's work create, again each time enough
    # new ones pile up (15 ms of a 0.3 s run of the real states file), to find cycles that end
    # with the process anyway: what a command allocates is freed by reference counting (the
    # parser's rows, the diff's dicts, the rows to write hold no cycles). So it is off while a
    # command runs; `serve`, which lives on, turns it back on.
    gc.disable()
    try:
        app(prog_name="covid-etl")
    finally:
        # The process ends here. At shutdown the interpreter would walk every object the imports
        # created in search of reference cycles: about 10 ms, a tenth of a no-change run.
        # Freezing takes them out of the collector's reach. Nothing waits on a cycle's finalizer:
        # the store, the HTTP client and output files are closed explicitly, and log handlers
        # are flushed by logging's own exit hook.
        gc.freeze()
