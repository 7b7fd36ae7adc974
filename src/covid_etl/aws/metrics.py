"""The ETL function's run outcome as CloudWatch metrics, in the Embedded Metric Format.

One JSON line on standard output per run: CloudWatch Logs extracts the metrics from it, so the
function needs no PutMetricData call (no extra latency, no extra permission). The line carries
``Runs`` (1), ``RowsChanged`` and ``Duration`` under the dimensions Environment and Status, so the
"no successful run in 26 hours" alarm of template.yaml watches
``covid-etl / Runs {Environment=production, Status=succeeded}``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any, TextIO

from covid_etl.models import RunRecord

NAMESPACE = "covid-etl"
DIMENSIONS = ("Environment", "Status")


def run_metrics_document(run: RunRecord, environment: str, now: dt.datetime) -> dict[str, Any]:
    """The EMF document for one finished run (pure)."""
    finished = run.finished_at or now
    duration = max(0.0, (finished - run.started_at).total_seconds())
    return {
        "_aws": {
            "Timestamp": int(now.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(DIMENSIONS)],
                    "Metrics": [
                        {"Name": "Runs", "Unit": "Count"},
                        {"Name": "RowsChanged", "Unit": "Count"},
                        {"Name": "Duration", "Unit": "Seconds"},
                    ],
                }
            ],
        },
        "Environment": environment,
        "Status": str(run.status),
        "Runs": 1,
        "RowsChanged": run.changed,
        "Duration": round(duration, 3),
        # Not metrics, but searchable in CloudWatch Logs Insights next to them.
        "run_id": run.id,
    }


def emit_run_metrics(
    run: RunRecord, environment: str, now: dt.datetime, out: TextIO | None = None
) -> None:
    """Write the EMF line. Standard output, not the logger: the JSON log formatter would wrap
    the document, and CloudWatch only reads a line that is the document itself."""
    stream = sys.stdout if out is None else out
    stream.write(json.dumps(run_metrics_document(run, environment, now)) + "\n")
    stream.flush()
