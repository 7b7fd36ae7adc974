"""Human-readable terminal output (rich): run summaries, run history, slow-download progress."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from covid_etl.models import RunRecord, RunStatus
from covid_etl.notify.digest import fold_warnings
from covid_etl.notify.render import UNKNOWN_DATA, succeeded, success_lines
from covid_etl.series.changelog import NATIONAL, display_rows, summary_lines, value_change


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_run(
    run: RunRecord,
    *,
    printed_because_no_channel: bool = False,
    offline_hint: bool = False,
    data_known: bool = True,
    verbose: bool = False,
) -> None:
    """A short summary of one run: what happened, then its warnings, the per-state decreases
    summed up in two lines unless ``verbose``. ``offline_hint``: a source could not be reached,
    so say how to run on the snapshot shipped with the package instead. ``data_known`` is False
    when the store could not be read to say what it holds."""
    from rich.markup import escape

    out = _console()
    if run.status is RunStatus.SUCCEEDED:
        first, *rest = success_lines(run)
        head = succeeded(run)
        out.print(f"[bold green]{escape(head)}[/]{escape(first.removeprefix(head))}")
        for line in rest:
            out.print(escape(line))
    else:
        out.print(
            f"[bold red]Run #{run.id} failed[/] at stage {run.failed_stage}: "
            f"{escape(run.error or 'unknown error')}"
        )
        if data_known:
            through = run.data_through.isoformat() if run.data_through else "-"
            stored = f"data still through {through}" if run.data_through else "no data stored yet"
        else:
            stored = UNKNOWN_DATA
        out.print(f"Database unchanged; {stored}.")
        if offline_hint:
            out.print(
                "A source could not be reached (no network?). To load the data snapshot shipped "
                "with the package instead, run `make run OFFLINE=1` (or `covid-etl run --offline`)."
            )
    for warning in warning_lines(run.warnings, verbose=verbose):
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    if run.notification_status:
        out.print(f"Notifications: {escape(run.notification_status)}")
    elif printed_because_no_channel:
        out.print("[dim]No notification channel configured (COVID_ETL_NOTIFY); summary printed.[/]")


def warning_lines(warnings: list[str], *, verbose: bool = False) -> list[str]:
    """The warnings to print: all of them with ``verbose``; otherwise each national one, then
    the per-state decreases summed up, with how to see them all."""
    if verbose:
        return list(warnings)
    folded = fold_warnings(warnings)
    if not folded.folded:
        return folded.shown
    *summary, last = folded.summary
    hint = f"; --verbose prints the {len(folded.folded)} per-state warnings"
    return [*folded.shown, *summary, last + hint]


def print_runs(runs: Sequence[RunRecord]) -> None:
    """The run history as a table."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="covid-etl runs", box=None, pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("trigger", no_wrap=True)
    table.add_column("ins/upd/unch", justify="right", no_wrap=True)
    table.add_column("through", no_wrap=True)
    table.add_column("detail", overflow="fold", ratio=1, min_width=24)
    colours = {"succeeded": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}
    for r in runs:
        detail = r.error or ("; ".join(r.warnings[:1]) if r.warnings else "")
        if r.failed_stage:
            detail = f"[{r.failed_stage}] {detail}"
        table.add_row(
            str(r.id),
            r.started_at.strftime("%Y-%m-%d %H:%M"),
            f"[{colours.get(str(r.status), 'white')}]{r.status}[/]",
            f"{r.trigger} ({r.environment})",
            f"{r.inserted}/{r.updated}/{r.unchanged}",
            r.data_through.isoformat() if r.data_through else "-",
            escape(detail),
        )
    _console().print(table)


class SlowDownloadProgress:
    """A progress bar on stderr that appears only once a download has taken over a second."""

    def __init__(self, after_seconds: float = 1.0) -> None:
        self.after = after_seconds
        self.started: dict[str, float] = {}
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}
        self.enabled = sys.stderr.isatty()

    def __call__(self, name: str, received: int, total: int | None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        first = self.started.setdefault(name, now)
        if self.progress is None:
            if now - first < self.after:
                return
            from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

            self.progress = Progress(
                *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                console=_console(stderr=True), transient=True,
            )  # fmt: skip
            self.progress.start()
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(f"downloading {name.upper()}", total=total)
        self.progress.update(self.tasks[name], completed=received, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def print_changes(run_id: int, entries: Sequence[Any]) -> None:
    """One run's change log: a line per series and kind, then a table of the changed values."""
    from rich.markup import escape
    from rich.table import Table

    out = _console()
    if not entries:
        out.print(f"Run #{run_id} recorded no changes.")
        return
    out.print(f"[bold]Run #{run_id} changed {len(entries)} row(s)[/]")
    for line in summary_lines(entries):
        out.print(f"  {escape(line)}")
    states = any(e.series != NATIONAL for e in entries)
    figures = ["cases", "deaths", "recovered"] + (["name"] if states else [])
    table = Table(show_edge=False)
    for column in ("series", "date(s)", "kind", *figures):
        table.add_column(column, justify="right" if column in figures[:3] else "left")
    for series, dates, kind, entry in display_rows(entries):
        table.add_row(series, dates, kind, *(escape(value_change(entry, f)) for f in figures))
    out.print(table)


class ReplayProgress:
    """A rich progress bar for a replay: dates done, rows changed, time left."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("dates, {task.fields[changed]:,} rows changed"),
            TimeRemainingColumn(),
            console=_console(stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task("replay", total=None, changed=0)
        self._progress.start()

    def update(self, done: int, total: int, changed: int) -> None:
        self._progress.update(self._task, completed=done, total=total, changed=changed)

    def close(self) -> None:
        self._progress.stop()


def print_replay(done: Any) -> None:
    """The summary of a replay (covid_etl.run.replay.Replayed)."""
    from rich.markup import escape

    out = _console()
    span = f"{done.first}..{done.last}" if done.first else "no new date"
    out.print(
        f"Replayed {done.dates} date(s) ({span}, {done.versions} version file(s)) in "
        f"{done.seconds:.1f} s: {done.inserted} inserted, {done.updated} updated, "
        f"{done.removed} removed."
    )
    if done.skipped:
        out.print(f"Skipped {done.skipped} date(s) already loaded.")
    if done.failed is not None:
        failed = done.failed
        out.print(
            f"[bold red]Run #{failed.id} failed[/] (as of {failed.as_of}) at stage "
            f"{failed.failed_stage}: {escape(failed.error or 'unknown error')}"
        )
