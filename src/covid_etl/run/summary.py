"""The one-object summary of a run: printed by ``covid-etl run --json``, returned by the AWS
ETL function. Kept apart from the CLI so that the Lambda path does not import click."""

from __future__ import annotations

from typing import Any

from covid_etl.models import RunRecord, RunStatus
from covid_etl.series.anomalies import ANOMALIES_NAME

# The run's own fields in the summary, after its id and outcome, in the documented order.
_SUMMARY_FIELDS = (
    "initial_load", "inserted", "updated", "unchanged", "removed", "data_through", "warnings",
    "error", "failed_stage",
)  # fmt: skip


def run_summary_json(run: RunRecord) -> dict[str, Any]:
    """The documented JSON shape of ``covid-etl run --json``."""
    return {
        # Id 0 means the store could not record the run (e.g. it could not be opened).
        "run_id": run.id or None,
        "status": "succeeded" if run.status is RunStatus.SUCCEEDED else "failed",
        **run.to_dict(_SUMMARY_FIELDS),
        # The per-state series (null when COVID_ETL_STATES_URL=off).
        "states": _states_json(run),
        # The NYT's anomaly notes (null when COVID_ETL_ANOMALIES_URL=off, or when the run could
        # not say: the counts are the run's, not stored with it).
        "anomalies": _notes_json(run),
    }


def _notes_json(run: RunRecord) -> dict[str, Any] | None:
    counts = run.counts(ANOMALIES_NAME)
    if counts is None:
        return None
    return {
        "added": counts.inserted,
        "changed": counts.updated,
        "removed": counts.removed,
        "unchanged": counts.unchanged,
    }


def _states_json(run: RunRecord) -> dict[str, Any] | None:
    if run.states is None:
        return None
    counts = run.states.to_dict()
    if not counts["removed"]:
        del counts["removed"]  # documented shape: removed appears only with accepted removals
    return counts
