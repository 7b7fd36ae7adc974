"""The smoke test (``python -m covid_etl.aws.smoke``) against a moto server started here.

moto runs neither Lambda code nor destinations, so the smoke test runs with ``--in-process``:
the handlers run in the smoke-test process and talk to the moto server (S3, SNS, SQS). The
second test deploys template.yaml itself to the moto server through CloudFormation and lets the
smoke test find everything from the stack outputs and the functions' configuration.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto")
import boto3

from tests.helpers.aws import BUCKET, REGION, make_topic_and_queue
from tests.helpers.data import serve_real
from tests.helpers.servers import SourceServer

ROOT = Path(__file__).parents[2]
# moto's CloudFormation warns about each resource type it leaves out (test_template checks them).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from tests.helpers.aws import fake_credentials

    fake_credentials(monkeypatch)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the smoke test's store keeps its copy
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


def smoke(endpoint: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("COVID_ETL_")}
    full.pop("AWS_ENDPOINT_URL", None)  # the smoke test must use its --endpoint-url
    full.update(COVID_ETL_RETRY_BACKOFF="0.01", COVID_ETL_STATES_URL="off",
                COVID_ETL_ANOMALIES_URL="off", **env)  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "covid_etl.aws.smoke", "--endpoint-url", endpoint,
         "--in-process", "--timeout", "20", *args],
        env=full, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def versions(s3: Any, prefix: str) -> list[str]:
    page = s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)
    return [v["Key"] for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]


@pytest.fixture
def resources(moto_server: str) -> dict[str, Any]:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="production/covid-etl.db", Body=b"production's database")
    wiring = make_topic_and_queue(boto3.client("sns"), boto3.client("sqs"))
    return {"s3": s3, "queue_url": wiring.queue_url, "topic_arn": wiring.topic_arn}


def test_smoke_passes_against_a_moto_server(
    moto_server: str, resources: dict[str, Any], source_server: SourceServer
) -> None:
    urls = serve_real(source_server)
    proc = smoke(
        moto_server, "--queue-url", resources["queue_url"], "--bucket", BUCKET,
        "--topic-arn", resources["topic_arn"],
        COVID_ETL_NYT_URL=urls["nyt_url"], COVID_ETL_JHU_URL=urls["jhu_url"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert report["attributes"]["environment"] == "testing"
    assert report["counts"] == {"inserted": 1100, "updated": 0, "unchanged": 0}
    assert report["stored_rows"] == 1100
    assert report["removed_objects"] >= 2  # covid-etl.db and acg-covid-data.csv
    s3 = resources["s3"]
    assert versions(s3, "testing/") == []
    assert versions(s3, "production/") == ["production/covid-etl.db"]  # untouched


def test_smoke_fails_on_a_failed_run_and_still_cleans_up(
    moto_server: str, resources: dict[str, Any], source_server: SourceServer
) -> None:
    urls = serve_real(source_server)
    source_server.serve("/nytimes/covid-19-data/master/us.csv", b"date,cases\n2020-01-21,1\n")
    proc = smoke(
        moto_server, "--queue-url", resources["queue_url"], "--bucket", BUCKET,
        "--topic-arn", resources["topic_arn"],
        COVID_ETL_NYT_URL=urls["nyt_url"], COVID_ETL_JHU_URL=urls["jhu_url"],
    )  # fmt: skip
    assert proc.returncode == 1
    assert "smoke test FAILED: the testing run did not succeed" in proc.stderr
    assert "missing required column(s): deaths" in proc.stderr
    assert versions(resources["s3"], "testing/") == []


def test_smoke_finds_everything_from_the_template_stack(
    moto_server: str, source_server: SourceServer
) -> None:
    """template.yaml, deployed to the moto server: the smoke test reads the stack outputs and
    runs the handlers with the functions' own environment (their NytUrl/JhuUrl parameters point
    at the loopback source host; StatesUrl/AnomaliesUrl are `off`, whose defaults would reach
    the real host, so the run stores the national series only)."""
    from samtranslator.translator.transform import transform

    from tests.deploy import test_template as tt

    urls = serve_real(source_server)
    template = copy.deepcopy(tt._load_template())
    template["Globals"]["Function"]["CodeUri"] = f"s3://{tt.CODE_BUCKET}/{tt.CODE_KEY}"
    cfn = transform(template, {}, tt._StubPolicyLoader())
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=tt.CODE_BUCKET)
    s3.put_object(Bucket=tt.CODE_BUCKET, Key=tt.CODE_KEY, Body=tt._lambda_zip())
    params = {"NytUrl": urls["nyt_url"], "JhuUrl": urls["jhu_url"], "StatesUrl": "off",
              "AnomaliesUrl": "off", "NotificationEmail": ""}  # fmt: skip
    cloudformation = boto3.client("cloudformation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cloudformation.create_stack(
            StackName=tt.STACK,
            TemplateBody=json.dumps(cfn),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
    summaries = cloudformation.list_stack_resources(StackName=tt.STACK)["StackResourceSummaries"]
    values: dict[str, str] = dict(params)
    values.update({s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries})
    sqs = boto3.client("sqs")
    for logical_id in ("SmokeTestQueue", "SmokeTestDeadLetterQueue"):
        values[f"{logical_id}.Arn"] = sqs.get_queue_attributes(
            QueueUrl=values[logical_id], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
    values["DataBucket.Arn"] = f"arn:aws:s3:::{values['DataBucket']}"
    lam = boto3.client("lambda")
    for logical_id in ("EtlFunction", "NotifyFunction", "ApiFunction"):
        values[f"{logical_id}.Arn"] = lam.get_function(FunctionName=values[logical_id])[
            "Configuration"
        ]["FunctionArn"]
    # The subscriptions (filter policy, raw delivery) that moto's CloudFormation leaves out.
    # Not the bucket policy: it refuses plain HTTP, and this moto server speaks nothing else
    # (moto enforces it, which is how we know the policy works).
    del cfn["Resources"]["DataBucketPolicy"]
    tt._apply_skipped(cfn, tt._Resolver(values), params)

    proc = smoke(moto_server, "--stack-name", tt.STACK, "--region", REGION)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["counts"]["inserted"] == 1100 and report["stored_rows"] == 1100
    page = s3.list_object_versions(Bucket=values["DataBucket"], Prefix="testing/")
    assert not page.get("Versions") and not page.get("DeleteMarkers")
