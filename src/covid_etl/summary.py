"""The one-object summary of a run: printed by ``covid-etl run --json``, returned by the AWS
ETL function. Kept apart from the CLI so that the Lambda path does not import click."""

from __future__ import annotations

from typing import Any

from .models import RunRecord, RunStatus


def run_summary_json(run: RunRecord) -> dict[str, Any]:
    """The documented JSON shape of ``covid-etl run --json``."""
    return {
        # Id 0 means the store could not record the run (e.g. it could not be opened).
        "run_id": run.id or None,
        "status": "succeeded" if run.status is RunStatus.SUCCEEDED else "failed",
        "initial_load": run.initial_load,
        "inserted": run.inserted,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "removed": run.removed,
        "data_through": run.data_through.isoformat() if run.data_through else None,
        "warnings": run.warnings,
        "error": run.error,
        "failed_stage": str(run.failed_stage) if run.failed_stage else None,
        # The per-state series (null when COVID_ETL_STATES_URL=off).
        "states": _states_json(run),
    }


def _states_json(run: RunRecord) -> dict[str, Any] | None:
    if run.states is None:
        return None
    counts = run.states.to_dict()
    if not counts["removed"]:
        del counts["removed"]  # documented shape: removed appears only with accepted removals
    return counts
