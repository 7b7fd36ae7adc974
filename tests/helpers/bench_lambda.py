"""Time the ETL handler against an in-process moto (S3, SNS, SQS) with the real files served
from loopback: an initial load, then a run that finds nothing to do. Prints JSON.

    python -m tests.helpers.bench_lambda [repetitions]

It also times the API function (Mangum) on the loaded data with the recorded HTTP API event.

moto answers in microseconds where S3 takes milliseconds, so these are the handler's own costs
(download from loopback, parse, join, diff, CSV, JSON), not what Lambda will bill.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import boto3
from moto import mock_aws

from covid_etl.aws import handlers
from covid_etl.aws.handlers import etl_handler
from tests.helpers.data import serve_real
from tests.helpers.servers import SourceServer, running

EVENTS = Path(__file__).parents[1] / "events"


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    os.environ.update(
        AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1"
    )
    timings: dict[str, list[float]] = {
        "initial_load": [], "no_change": [], "api_first_request": [], "api_warm_request": []
    }  # fmt: skip
    with running(SourceServer()) as server:
        urls = serve_real(server)
        os.environ.update(
            COVID_ETL_NYT_URL=urls["nyt_url"], COVID_ETL_JHU_URL=urls["jhu_url"],
            COVID_ETL_STATES_URL="off", COVID_ETL_ANOMALIES_URL="off",
        )  # fmt: skip
        for _ in range(repetitions):
            with mock_aws():
                bucket = f"bench-{uuid.uuid4().hex[:8]}"
                boto3.client("s3").create_bucket(Bucket=bucket)
                os.environ["COVID_ETL_DATABASE_URL"] = f"s3://{bucket}"
                for name in ("initial_load", "no_change"):
                    started = time.perf_counter()
                    etl_handler({"environment": "testing"}, SimpleNamespace(aws_request_id=None))
                    timings[name].append(time.perf_counter() - started)
                # The API function on the same data: a new container's first request builds
                # the app (imports excluded: they are loaded once per process here), then a
                # repeated request is answered from the app's cache.
                os.environ["COVID_ETL_ENVIRONMENT"] = "testing"
                handlers._api = None
                event = json.loads((EVENTS / "apigw-http-v2.json").read_text())
                for name in ("api_first_request", "api_warm_request"):
                    started = time.perf_counter()
                    response = handlers.api_handler(dict(event), SimpleNamespace())
                    timings[name].append(time.perf_counter() - started)
                    assert response["statusCode"] == 200, response
    print(
        json.dumps(
            {
                k: {"median_s": round(statistics.median(v), 4), "min_s": round(min(v), 4)}
                for k, v in timings.items()
            }
        )
    )


if __name__ == "__main__":
    main()
