"""Time the ETL handler against an in-process moto (S3) with the real files served from
loopback, configured as template.yaml configures the function by default: the national series,
the per-state series and the NYT's notes. Prints JSON.

    python -m tests.helpers.bench_lambda [repetitions]

Each repetition uses a new bucket: an initial load, a run that finds nothing to do in the same
container (its temporary directory still holds the last commit), and the same run in a new
container (an empty temporary directory). Then the API function (Mangum) on the loaded data with
the recorded HTTP API event, in a new container of its own: its first request, and the same
request again.

moto answers in microseconds where S3 takes milliseconds, so these are the handler's own costs
(download from loopback, parse, join, diff, store, CSV, JSON), not what Lambda will bill.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import boto3
from moto import mock_aws

from covid_etl.aws import handlers
from covid_etl.aws.handlers import etl_handler
from tests.helpers.data import ANOMALIES_CURRENT, STATES_REAL, serve_real
from tests.helpers.servers import SourceServer, running

EVENTS = Path(__file__).parents[1] / "events"
# The paths the stack's default URLs name on the NYT's host (catalog.py).
STATES_PATH = "/nytimes/covid-19-data/master/us-states.csv"
NOTES_PATH = "/nytimes/covid-19-data/master/rolling-averages/anomalies.csv"

T = TypeVar("T")


def serve_stack_sources(server: SourceServer) -> dict[str, str]:
    """Every source the stack fetches by default, served from loopback: environment values."""
    urls = serve_real(server)
    return {
        "COVID_ETL_NYT_URL": urls["nyt_url"],
        "COVID_ETL_JHU_URL": urls["jhu_url"],
        "COVID_ETL_STATES_URL": server.serve(STATES_PATH, STATES_REAL.read_bytes()),
        "COVID_ETL_ANOMALIES_URL": server.serve(NOTES_PATH, ANOMALIES_CURRENT.read_bytes()),
    }


def new_container(scratch: Path) -> None:
    """What a new Lambda container starts with: an empty temporary directory."""
    tempfile.tempdir = tempfile.mkdtemp(dir=scratch)


def timed(call: Callable[..., T], *args: Any) -> tuple[float, T]:
    started = time.perf_counter()
    result = call(*args)
    return time.perf_counter() - started, result


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    os.environ.update(
        AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1"
    )
    timings: dict[str, list[float]] = {
        name: []
        for name in ("initial_load", "no_change_warm", "no_change_cold",
                     "api_first_request", "api_warm_request")
    }  # fmt: skip
    stored: dict[str, int] = {}
    event = json.loads((EVENTS / "apigw-http-v2.json").read_text())
    context = SimpleNamespace(aws_request_id=None)
    with running(SourceServer()) as server, tempfile.TemporaryDirectory() as scratch:
        os.environ.update(serve_stack_sources(server))
        for _ in range(repetitions):
            with mock_aws():
                bucket = f"bench-{uuid.uuid4().hex[:8]}"
                boto3.client("s3").create_bucket(Bucket=bucket)
                os.environ["COVID_ETL_DATABASE_URL"] = f"s3://{bucket}"
                new_container(Path(scratch))
                seconds, summary = timed(etl_handler, {"environment": "testing"}, context)
                timings["initial_load"].append(seconds)
                stored = rows_inserted(summary)
                seconds, _ = timed(etl_handler, {"environment": "testing"}, context)
                timings["no_change_warm"].append(seconds)
                new_container(Path(scratch))
                seconds, _ = timed(etl_handler, {"environment": "testing"}, context)
                timings["no_change_cold"].append(seconds)
                # The API function in a container of its own: its first request builds the app
                # (imports excluded: this process has them loaded) and downloads the object;
                # the same request again is answered from the app's cache.
                os.environ["COVID_ETL_ENVIRONMENT"] = "testing"
                handlers._api = None
                new_container(Path(scratch))
                for name in ("api_first_request", "api_warm_request"):
                    seconds, response = timed(handlers.api_handler, dict(event), SimpleNamespace())
                    timings[name].append(seconds)
                    assert response["statusCode"] == 200, response
    report: dict[str, object] = {
        k: {"median_s": round(statistics.median(v), 4), "min_s": round(min(v), 4)}
        for k, v in timings.items()
    }
    report["rows_inserted_by_the_initial_load"] = stored
    print(json.dumps(report))


def rows_inserted(summary: dict[str, Any]) -> dict[str, int]:
    """Rows each series inserted, from the handler's summary (``covid-etl run --json``)."""
    assert summary["status"] == "succeeded", summary
    return {
        "national": summary["inserted"],
        "states": summary["states"]["inserted"],
        "notes": summary["anomalies"]["added"],
    }


if __name__ == "__main__":
    main()
