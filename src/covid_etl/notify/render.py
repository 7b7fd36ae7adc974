"""Render one run record into the message every channel sends (e-mail, Slack, SNS...).

One renderer for every shape of the product, so a subscriber reads the same text whether the
run happened on a laptop, a server or in AWS Lambda.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from covid_etl.models import ChangeEntry, Record, RunRecord, RunStatus
from covid_etl.ranges import SHOWN_RANGES, join_ranges
from covid_etl.series.changelog import change_lines

# Removed dates spelled out in a message; the run record keeps them all.


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
    kind = "initial load" if run.initial_load else "update"
    removed = f", {run.removed} removed" if run.removed else ""
    return (
        f"[covid-etl {run.environment}] Succeeded ({kind}): {run.changed} row(s) updated "
        f"({run.inserted} inserted, {run.updated} updated, {run.unchanged} unchanged{removed})"
    )


def failure_subject(run: RunRecord) -> str:
    stage = run.failed_stage or "unknown"
    what = "interrupted" if run.status is RunStatus.INTERRUPTED else "FAILED"
    return f"[covid-etl {run.environment}] {what} at stage {stage} (run #{run.id})"


def success_body(run: RunRecord, latest: Record | None, changes: Sequence[ChangeEntry] = ()) -> str:
    kind = "initial load" if run.initial_load else "incremental update"
    lines = [
        f"covid-etl run #{run.id} succeeded.",
        "",
        f"Environment: {run.environment}",
        f"Run: #{run.id} ({run.trigger}), {kind}",
        f"Rows updated in the database: {run.changed}",
        f"  inserted: {run.inserted}",
        f"  updated: {run.updated}",
        f"  unchanged: {run.unchanged}",
        *_removed(run),
        f"Data through: {_date(run.data_through)}",
        *_states(run),
    ]
    if latest is not None:
        lines.append(
            f"Latest figures ({latest.date.isoformat()}): cases {latest.cases:,}, "
            f"deaths {latest.deaths:,}, recovered "
            + (f"{latest.recovered:,}" if latest.recovered is not None else "not reported")
        )
    if run.recovered_from is not None:
        lines.append(f"Recovered from failed run #{run.recovered_from}.")
    lines += _changes(changes) + _warnings(run) + _sources(run) + _times(run)
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
    lines += _warnings(run) + _sources(run) + _times(run)
    return "\n".join(lines) + "\n"


def _removed(run: RunRecord) -> list[str]:
    if not run.removed:
        return []
    return [
        f"  removed: {run.removed} ({join_ranges(run.removed_dates, SHOWN_RANGES)}): the sources "
        "no longer have these dates and their removal was accepted"
    ]


def _states(run: RunRecord) -> list[str]:
    """The per-state series' counts (a separate series: never summed into the national one)."""
    s = run.states
    if s is None:
        return []
    removed = [f"  removed: {s.removed} (removal accepted)"] if s.removed else []
    return [
        f"States and territories: {s.inserted + s.updated + s.removed} row(s) updated",
        f"  inserted: {s.inserted}",
        f"  updated: {s.updated}",
        f"  unchanged: {s.unchanged}",
        *removed,
        f"  data through: {_date(s.data_through)}",
    ]


def _states_unchanged(run: RunRecord, data_known: bool) -> list[str]:
    if run.states is None or not data_known:
        return []
    through = run.states.data_through
    held = f"through {through.isoformat()}" if through else "no per-state data yet"
    return [f"States and territories unchanged; {held}."]


def _warnings(run: RunRecord) -> list[str]:
    if not run.warnings:
        return []
    return ["", f"Warnings ({len(run.warnings)}):", *(f"  - {w}" for w in run.warnings)]


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
