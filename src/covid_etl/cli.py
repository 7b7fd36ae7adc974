"""Command-line interface: builds settings, calls the library, turns errors into exit codes.

Exit codes: 0 the run succeeded (also with 0 changes), 1 the run failed, 2 bad usage or settings.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from . import __version__
from .errors import ConfigError, EtlError
from .settings import Settings, settings_from_env

app = typer.Typer(
    name="covid-etl",
    help="Daily ETL of US COVID-19 data: NYT cases and deaths joined with JHU recoveries.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"covid-etl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Daily ETL of US COVID-19 data: NYT cases and deaths joined with JHU recoveries."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus CLI overrides; configure logging once."""
    from .log import configure_logging
    from .notify.channels import check_channels

    try:
        settings = settings_from_env(os.environ, **overrides)
        check_channels(settings.notify)
    except ConfigError as exc:
        fail(exc.message)
    configure_logging(settings.log_format, settings.log_level, settings.secrets())
    return settings


@app.command()
def run(
    offline: Annotated[
        bool, typer.Option("--offline", help="Use the snapshot shipped with the package.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a summary.")
    ] = False,
    nyt_url: Annotated[
        str | None, typer.Option("--nyt-url", help="NYT us.csv URL or path.", show_default=False)
    ] = None,
    jhu_url: Annotated[
        str | None,
        typer.Option("--jhu-url", help="JHU combined CSV URL or path.", show_default=False),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Store URL (sqlite:///... or postgresql://...).",
            show_default=False,
        ),
    ] = None,
    trigger: Annotated[
        str, typer.Option("--trigger", help="Label for what started the run.", hidden=True)
    ] = "manual",
) -> None:
    """Fetch, validate, join and load the data once; notify subscribers."""
    from .models import Trigger
    from .pipeline import run_etl

    settings = load_settings(
        offline=offline or None, nyt_url=nyt_url, jhu_url=jhu_url, database_url=database_url
    )
    try:
        trigger_value = Trigger(trigger)
    except ValueError:
        fail(f"--trigger must be one of {', '.join(t.value for t in Trigger)}")
    progress = None if as_json else _progress_printer()
    result = run_etl(settings, trigger=trigger_value, progress=progress)
    if progress is not None:
        progress.close()
    run_record = result.run
    if as_json:
        typer.echo(json.dumps(run_summary_json(run_record)))
    else:
        from .console import print_run

        print_run(run_record, printed_because_no_channel=not settings.notify)
    raise typer.Exit(EXIT_OK if result.succeeded else EXIT_FAILED)


def run_summary_json(run_record: Any) -> dict[str, Any]:
    """The documented JSON shape of ``covid-etl run --json``."""
    return {
        "run_id": run_record.id,
        "status": "succeeded" if run_record.status == "succeeded" else "failed",
        "initial_load": run_record.initial_load,
        "inserted": run_record.inserted,
        "updated": run_record.updated,
        "unchanged": run_record.unchanged,
        "data_through": run_record.data_through.isoformat() if run_record.data_through else None,
        "warnings": run_record.warnings,
        "error": run_record.error,
        "failed_stage": str(run_record.failed_stage) if run_record.failed_stage else None,
    }


def _progress_printer() -> Any:
    from .console import SlowDownloadProgress

    return SlowDownloadProgress()


@app.command()
def runs(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help="Most recent N runs.")
    ] = 20,
) -> None:
    """Show the run history, most recent first."""
    store = _open_store(load_settings())
    history = store.list_runs(limit=limit)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in history], indent=2))
    else:
        from .console import print_runs

        print_runs(history)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Listen address.", show_default=False)
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Listen port.", show_default=False),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            help="Run the ETL on this five-field cron expression (UTC). Default 0 21 * * *.",
            show_default=False,
        ),
    ] = None,
    no_schedule: Annotated[
        bool, typer.Option("--no-schedule", help="Serve only; never run the ETL.")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Scheduled runs use the bundled snapshot.")
    ] = False,
) -> None:
    """Serve the API and dashboard, and run the ETL on a schedule."""
    from .cron import parse_cron
    from .settings import SCHEDULE_OFF

    if schedule is not None and no_schedule:
        fail("use either --schedule or --no-schedule")
    if schedule is not None:
        try:
            parse_cron(schedule)
        except ConfigError as exc:
            fail(f"--schedule: {exc.message}")
    settings = load_settings(
        host=host,
        port=port,
        schedule=SCHEDULE_OFF if no_schedule else schedule,
        offline=offline or None,
    )
    _open_store(settings).close()  # fail fast, with exit code 1, on an unusable store
    import uvicorn

    from .web import create_app

    typer.echo(
        f"Serving on http://{settings.host}:{settings.port}/ "
        f"(schedule: {settings.schedule}{' UTC' if settings.schedule != SCHEDULE_OFF else ''})",
        err=True,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
    )


@app.command()
def export(
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="Output format.")
    ] = ExportFormat.csv,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file instead of stdout.", show_default=False
        ),
    ] = None,
) -> None:
    """Export the stored table (date,cases,deaths,recovered), sorted by date."""
    from .export import write_csv, write_json

    store = _open_store(load_settings())
    rows = store.records()
    writer = write_csv if fmt is ExportFormat.csv else write_json
    if output is None:
        writer(rows, sys.stdout)
    else:
        with open(output, "w", newline="", encoding="utf-8") as handle:
            writer(rows, handle)


def _open_store(settings: Settings) -> Any:
    from .store import open_store

    try:
        store = open_store(settings.database_url)
        store.migrate()
    except EtlError as exc:
        fail(exc.message, EXIT_FAILED)
    return store


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
