"""Render one run record into the message every channel sends (e-mail, Slack, SNS...).

One renderer for every shape of the product, so a subscriber reads the same text whether the
run happened on a laptop, a server or in AWS Lambda.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from covid_etl.models import ChangeEntry, Record, RunRecord, RunStatus, SeriesCounts
from covid_etl.notify.digest import Folded, fold_warnings
from covid_etl.ranges import SHOWN_RANGES, join_ranges
from covid_etl.series.anomalies import ANOMALIES_NAME
from covid_etl.series.changelog import change_lines


@dataclass(frozen=True, slots=True)
class Message:
    """What a notification says."""

    subject: str
    body: str


UNKNOWN_DATA = "the data's state is unknown because the store is unavailable"


def render(
    run: RunRecord,
    latest: Record | None,
    *,
    data_known: bool = True,
    changes: Sequence[ChangeEntry] = (),
) -> Message:
    """The message for a finished run; ``latest`` is the stored row at ``run.data_through``;
    ``changes`` is what the run recorded in the change log.

    ``data_known`` is False when the store could not be read, so ``run.data_through`` says
    nothing about what it holds.
    """
    if run.status is RunStatus.SUCCEEDED:
        return Message(success_subject(run), success_body(run, latest, changes))
    return Message(failure_subject(run), failure_body(run, data_known=data_known))


def success_subject(run: RunRecord) -> str:
    """What happened, within SNS's 100 characters for a production initial load as run #1 and
    for an update up to run #99999 that changed under a million rows; the counts of each kind
    open the body."""
    kind = "initial load" if run.initial_load else "update"
    removed = f" ({run.removed} removed)" if run.removed else ""
    return (
        f"[covid-etl {run.environment}] Succeeded ({kind}) run #{run.id}: "
        f"{run.changed} row(s) changed{removed}, data through {_date(run.data_through)}"
    )


def failure_subject(run: RunRecord) -> str:
    stage = run.failed_stage or "unknown"
    what = "interrupted" if run.status is RunStatus.INTERRUPTED else "FAILED"
    return f"[covid-etl {run.environment}] {what} at stage {stage} (run #{run.id})"


def rows_changed(inserted: int, updated: int, unchanged: int, removed: int = 0) -> str:
    """``17 row(s) changed (1 inserted, 16 updated, 496 unchanged)``: the one wording of a
    series' counts, in the terminal and in every message."""
    gone = f", {removed} removed" if removed else ""
    return (
        f"{inserted + updated + removed} row(s) changed "
        f"({inserted} inserted, {updated} updated, {unchanged} unchanged{gone})"
    )


def succeeded(run: RunRecord) -> str:
    """The start of a successful run's first line (the terminal colours it)."""
    return f"Run #{run.id} succeeded"


def success_lines(run: RunRecord) -> list[str]:
    """What a successful run did, first: the lines ``covid-etl run`` prints and every
    message opens with."""
    kind = "initial load" if run.initial_load else "update"
    counts = rows_changed(run.inserted, run.updated, run.unchanged, run.removed)
    lines = [
        f"{succeeded(run)} ({kind}, {run.environment}): {counts}. "
        f"Data through {_date(run.data_through)}."
    ]
    if (s := run.states) is not None:
        states = rows_changed(s.inserted, s.updated, s.unchanged, s.removed)
        lines.append(f"States: {states}; data through {_date(s.data_through)}.")
    if (notes := run.counts(ANOMALIES_NAME)) is not None:
        lines.append(f"NYT anomaly notes: {notes_summary(notes)}.")
    if run.removed:
        lines.append(
            f"Removed: {run.removed} date(s) ({join_ranges(run.removed_dates, SHOWN_RANGES)}): "
            "the sources no longer have these dates and their removal was accepted."
        )
    if run.recovered_from is not None:
        lines.append(f"Recovered from failed run #{run.recovered_from}.")
    return lines


def notes_summary(notes: SeriesCounts) -> str:
    """``615 added, 0 changed, 0 removed, 0 unchanged`` for the NYT's notes."""
    return (
        f"{notes.inserted} added, {notes.updated} changed, {notes.removed} removed, "
        f"{notes.unchanged} unchanged"
    )


def success_body(run: RunRecord, latest: Record | None, changes: Sequence[ChangeEntry] = ()) -> str:
    """What happened first, then the warnings (the per-state ones summed up), the changes and
    the details; below a rule, the per-state warnings in full."""
    kind = "initial load" if run.initial_load else "incremental update"
    lines = success_lines(run)
    if latest is not None:
        lines.append(
            f"Latest figures ({latest.date.isoformat()}): cases {latest.cases:,}, "
            f"deaths {latest.deaths:,}, recovered "
            + (f"{latest.recovered:,}" if latest.recovered is not None else "not reported")
        )
    warnings = fold_warnings(run.warnings)
    lines += _warnings(warnings) + _changes(changes)
    lines += ["", f"Environment: {run.environment}", f"Run: #{run.id} ({run.trigger}), {kind}"]
    lines += _sources(run) + _times(run) + _in_full(warnings)
    return "\n".join(lines) + "\n"


def _changes(changes: Sequence[ChangeEntry]) -> list[str]:
    if not changes:
        return []

    return ["", "What changed:", *(f"  {line}" for line in change_lines(changes))]


def failure_body(run: RunRecord, *, data_known: bool = True) -> str:
    if not data_known:
        through = UNKNOWN_DATA
    elif run.data_through:
        through = f"data still through {run.data_through.isoformat()}"
    else:
        through = "the database holds no data yet"
    verb = "was interrupted" if run.status is RunStatus.INTERRUPTED else "failed"
    lines = [
        f"covid-etl run #{run.id} {verb} at stage {run.failed_stage or 'unknown'}.",
        "",
        f"Error: {run.error or 'unknown error'}",
        "",
        f"Environment: {run.environment}",
        f"Run: #{run.id} ({run.trigger})",
        f"Database unchanged; {through}.",
        *_states_unchanged(run, data_known),
    ]
    warnings = fold_warnings(run.warnings)
    lines += _warnings(warnings) + _sources(run) + _times(run) + _in_full(warnings)
    return "\n".join(lines) + "\n"


def _states_unchanged(run: RunRecord, data_known: bool) -> list[str]:
    if run.states is None or not data_known:
        return []
    through = run.states.data_through
    held = f"through {through.isoformat()}" if through else "no per-state data yet"
    return [f"States and territories unchanged; {held}."]


def _warnings(warnings: Folded) -> list[str]:
    total = len(warnings.shown) + len(warnings.folded)
    if not total:
        return []
    heading = f"Warnings ({total}):"
    if warnings.folded:
        heading = (
            f"Warnings ({total}; the {len(warnings.folded)} per-state ones are summed up here "
            "and listed in full at the end):"
        )
    return ["", heading, *(f"  - {w}" for w in warnings.shown + warnings.summary)]


# Sets the per-state warnings in full apart from the message above them.
RULE = "-" * 72


def _in_full(warnings: Folded) -> list[str]:
    if not warnings.folded:
        return []
    return [
        "",
        RULE,
        f"Per-state warnings in full ({len(warnings.folded)}):",
        *(f"  - {w}" for w in warnings.folded),
    ]


def _sources(run: RunRecord) -> list[str]:
    if not run.sources:
        return []
    lines = ["", "Sources:"]
    for s in run.sources:
        state = "not modified" if s.not_modified else f"{s.bytes:,} bytes"
        status = f"HTTP {s.status}, " if s.status else ""
        digest = f", sha256 {s.sha256[:12]}" if s.sha256 else ""
        lines.append(f"  - {s.name.upper()}: {s.url} ({status}{state}{digest})")
    return lines


def _times(run: RunRecord) -> list[str]:
    finished = run.finished_at.isoformat(timespec="seconds") if run.finished_at else "-"
    return ["", f"Started {run.started_at.isoformat(timespec='seconds')}, finished {finished}."]


def _date(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else "-"
