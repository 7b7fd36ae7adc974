"""The Lambda handlers against moto (S3, SNS, SQS) with the real files served from loopback.

Lambda's asynchronous invocation and destination are played by :func:`invoke`: the ETL handler
is called like the runtime calls it (an exception becomes the error payload), and its
invocation record goes to the notify handler, which publishes to the topic the smoke-test queue
is subscribed to (filter ``environment = testing``, raw delivery), as in template.yaml.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto")
import boto3
from moto import mock_aws

from covid_etl.aws import handlers
from covid_etl.aws.events import destination_record, invoke_locally
from covid_etl.aws.sns import MAX_SUBJECT, sns_subject
from covid_etl.publish.export import write_csv
from covid_etl.series import registry
from covid_etl.store import open_store
from tests.helpers.aws import (
    BUCKET,
    atomic_conditional_puts,
    fake_credentials,
    make_topic_and_queue,
    receive_all,
)
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT, serve_real
from tests.helpers.reference import expected_csv
from tests.helpers.servers import SourceServer

ROOT = Path(__file__).parents[2]
EVENTS = Path(__file__).parents[1] / "events"
ETL_ARN = "arn:aws:lambda:us-east-1:123456789012:function:covid-etl-EtlFunction"


@dataclass
class Aws:
    s3: Any
    sqs: Any
    queue_url: str
    topic_arn: str
    source: SourceServer

    def messages(self) -> list[dict[str, Any]]:
        return receive_all(self.sqs, self.queue_url)

    def object(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def head(self, environment: str = "testing") -> tuple[str, str]:
        head = self.s3.head_object(Bucket=BUCKET, Key=f"{environment}/covid-etl.db")
        return head["ETag"], head["VersionId"]

    def runs(self, environment: str = "testing") -> list[dict[str, Any]]:
        """The environment's run history, oldest first, as the database object holds it."""
        store = open_store(f"s3://{BUCKET}/{environment}")
        try:
            return [{**r.to_dict(), "event_id": r.event_id} for r in store.list_runs()[::-1]]
        finally:
            store.close()

    def exported(self, environment: str = "testing") -> str:
        """The environment's rows as ``covid-etl export`` writes them."""
        store = open_store(f"s3://{BUCKET}/{environment}")
        try:
            out = io.StringIO()
            write_csv(registry.NATIONAL, store.rows(registry.NATIONAL), out)
            return out.getvalue()
        finally:
            store.close()


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch, source_server: SourceServer, tmp_path: Path
) -> Iterator[Aws]:
    fake_credentials(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the containers' /tmp
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sqs = boto3.client("sqs")
        wiring = make_topic_and_queue(boto3.client("sns"), sqs)
        urls = serve_real(source_server)
        # The variables template.yaml gives the functions.
        monkeypatch.setenv("COVID_ETL_DATABASE_URL", f"s3://{BUCKET}")
        monkeypatch.setenv("COVID_ETL_NYT_URL", urls["nyt_url"])
        monkeypatch.setenv("COVID_ETL_JHU_URL", urls["jhu_url"])
        monkeypatch.setenv("COVID_ETL_SNS_TOPIC_ARN", wiring.topic_arn)
        monkeypatch.setenv("COVID_ETL_LOG_FORMAT", "json")
        monkeypatch.setenv("COVID_ETL_RETRY_BACKOFF", "0.01")
        monkeypatch.setenv("COVID_ETL_RETRIES", "1")
        yield Aws(s3, sqs, wiring.queue_url, wiring.topic_arn, source_server)


def invoke(event: Any, request_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Asynchronous invocation + destination: (ETL invocation record, notify result)."""
    request_id = request_id or str(uuid.uuid4())
    ok, response = invoke_locally(handlers.etl_handler, event, request_id)
    record = destination_record(
        function_arn=ETL_ARN, request_id=request_id, request=event, response=response,
        succeeded=ok,
    )  # fmt: skip
    published = handlers.notify_handler(record, None)
    return record, published


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}


CLI_KEYS = {
    "run_id", "status", "initial_load", "inserted", "updated", "unchanged", "data_through",
    "warnings", "error", "failed_stage",
}  # fmt: skip


def test_initial_load_writes_s3_and_sends_one_testing_message(aws: Aws) -> None:
    record, published = invoke({"environment": "testing"})
    summary = record["responsePayload"]
    assert record["requestContext"]["condition"] == "Success"
    assert set(summary) >= CLI_KEYS
    assert summary["status"] == "succeeded" and summary["initial_load"] is True
    assert (summary["inserted"], summary["updated"], summary["unchanged"]) == (1100, 0, 0)
    assert summary["trigger"] == "event" and summary["environment"] == "testing"
    assert aws.exported() == expected_csv(NYT_CURRENT, JHU_CURRENT)
    assert published["published"] is True

    (message,) = aws.messages()
    assert attributes(message)["environment"] == "testing"
    assert attributes(message)["status"] == "succeeded"
    body = message["Body"]
    assert body == summary["body"]  # the renderer's text, unchanged
    assert body.startswith(
        f"Run #{summary['run_id']} succeeded (initial load, testing): 1100 row(s) changed "
        "(1100 inserted, 0 updated, 0 unchanged). Data through 2023-01-24.\n"
    )


def test_production_message_does_not_reach_the_testing_queue(aws: Aws) -> None:
    record, published = invoke({"environment": "production", "trigger": "schedule"})
    assert record["responsePayload"]["trigger"] == "schedule"
    assert published["published"] is True and published["environment"] == "production"
    assert aws.object("production/covid-etl.db").startswith(b"SQLite format 3\x00")
    assert aws.messages() == []
    assert aws.runs("production")[0]["trigger"] == "schedule"


def test_malformed_source_fails_with_the_reason_and_leaves_s3_unchanged(aws: Aws) -> None:
    invoke({"environment": "testing"})
    aws.messages()
    before = aws.head()
    aws.source.serve(
        "/nytimes/covid-19-data/master/us.csv",
        NYT_CURRENT.read_bytes().replace(b"2021-03-01,", b"2021-03-01,-", 1),
    )
    record, _ = invoke({"environment": "testing"})
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    error = record["responsePayload"]
    assert error["errorType"] == "RunFailed"
    assert "count is negative" in error["errorMessage"]

    # The failed run is recorded: one new version, with the same rows.
    assert aws.head() != before
    assert aws.exported() == expected_csv(NYT_CURRENT, JHU_CURRENT)
    assert [r["status"] for r in aws.runs()] == ["succeeded", "failed"]
    (message,) = aws.messages()
    assert attributes(message) | {"status": "failed"} == attributes(message)
    assert attributes(message)["environment"] == "testing"
    body = message["Body"]
    assert body.startswith("covid-etl run #2 failed at stage validate.")
    assert "Error: NYT CSV: count is negative" in body and "column 'cases'" in body
    assert "Database unchanged; data still through 2023-01-24." in body


def test_duplicate_delivery_does_not_load_twice_or_notify_twice(aws: Aws) -> None:
    first, _ = invoke({"environment": "testing"}, request_id="req-1")
    # Lambda retries an asynchronous invocation with the same request id.
    again, published = invoke({"environment": "testing"}, request_id="req-1")
    assert again["responsePayload"]["duplicate"] is True
    assert again["responsePayload"]["run_id"] == first["responsePayload"]["run_id"]
    assert published == {
        "published": False,
        "reason": "duplicate delivery; the first was notified",
    }
    # An EventBridge event delivered twice has the same event id.
    scheduled = json.loads((EVENTS / "eventbridge-scheduled.json").read_text())
    scheduled["detail"] = {"environment": "testing"}
    one, _ = invoke(scheduled, request_id="req-2")
    two, _ = invoke(scheduled, request_id="req-3")
    assert one["responsePayload"]["trigger"] == "schedule"
    assert not one["responsePayload"]["duplicate"] and two["responsePayload"]["duplicate"]
    assert [r["id"] for r in aws.runs()] == [1, 2]
    assert [r.get("event_id") for r in aws.runs()] == ["req-1", scheduled["id"]]
    assert len(aws.messages()) == 2  # one per distinct event


def test_concurrent_invocations_cannot_both_write(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVID_ETL_LOCK_TIMEOUT", "0.5")
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        ok, response = invoke_locally(
            handlers.etl_handler, {"environment": "testing"}, str(uuid.uuid4())
        )
        results.append({"ok": ok, **response})

    with atomic_conditional_puts():
        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    loads = [r for r in results if r["ok"] and r["inserted"] == 1100]
    assert len(loads) == 1
    for other in (r for r in results if r is not loads[0]):
        # Waited and found nothing to do, or gave up waiting: never a second load.
        assert (other["ok"] and other["inserted"] + other["updated"] == 0) or (
            not other["ok"] and "another run committed first" in other["errorMessage"]
        )
    assert aws.exported() == expected_csv(NYT_CURRENT, JHU_CURRENT)
    assert sum(r["inserted"] for r in aws.runs()) == 1100


def test_recorded_timeout_record_becomes_a_failure_message(aws: Aws) -> None:
    record = json.loads((EVENTS / "destination-timeout.json").read_text())
    record["requestPayload"]["environment"] = "testing"
    handlers.notify_handler(record, None)
    (message,) = aws.messages()
    assert attributes(message)["request_id"] == record["requestContext"]["requestId"]
    assert "Task timed out after 120.00 seconds" in message["Body"]
    assert "Run: #0 (schedule)" in message["Body"]


def test_invalid_environment_is_refused(aws: Aws) -> None:
    record, _ = invoke({"environment": "../prod"})
    assert record["responsePayload"]["errorType"] == "ConfigError"
    assert "invalid environment" in record["responsePayload"]["errorMessage"]
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=BUCKET)


def test_any_store_url_works(aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # StoreUrl may point at PostgreSQL; the handlers do not care which backend it is.
    monkeypatch.setenv("COVID_ETL_DATABASE_URL", f"sqlite:///{tmp_path / 'covid.db'}")
    record, _ = invoke({"environment": "testing"})
    assert record["responsePayload"]["inserted"] == 1100
    assert len(aws.messages()) == 1
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=BUCKET)


def test_sns_subject_fits_the_limit() -> None:
    long = "[covid-etl testing] Succeeded (initial load) run #1: 1100 row(s) changed, " * 2
    assert len(sns_subject(long)) == MAX_SUBJECT and sns_subject(long).endswith("...")
    assert sns_subject("a\nb — c") == "a b ? c"


def test_lambda_path_imports_no_apprise_click_rich_or_pandas(source_server: SourceServer) -> None:
    """A fresh interpreter runs the ETL handler against a moto server while those imports are
    made to fail, as they would in the Lambda package (which does not contain them)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COVID_ETL_", "AWS_"))}
        env.update(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint,
            AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )  # fmt: skip
        boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ).create_bucket(Bucket=BUCKET)  # fmt: skip
        urls = serve_real(source_server)
        env.update(
            COVID_ETL_DATABASE_URL=f"s3://{BUCKET}", COVID_ETL_NYT_URL=urls["nyt_url"],
            COVID_ETL_JHU_URL=urls["jhu_url"], COVID_ETL_LOG_FORMAT="json",
            COVID_ETL_STATES_URL="off", COVID_ETL_ANOMALIES_URL="off",
        )  # fmt: skip
        proc = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "helpers" / "lambda_path.py")],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        # Standard output is Lambda's log stream: the run's metrics line, then the summary.
        emf, printed = (json.loads(line) for line in proc.stdout.splitlines())
        assert emf["Status"] == "succeeded" and emf["RowsChanged"] == 1100
        summary = printed
        assert summary["inserted"] == 1100 and summary["environment"] == "testing"
    finally:
        server.stop()


def test_notify_without_a_topic_is_a_configuration_error(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from covid_etl.errors import ConfigError

    monkeypatch.delenv("COVID_ETL_SNS_TOPIC_ARN")
    record = json.loads((EVENTS / "destination-timeout.json").read_text())
    with pytest.raises(ConfigError, match="COVID_ETL_SNS_TOPIC_ARN"):
        handlers.notify_handler(record, None)
    assert aws.messages() == []


@pytest.mark.serial  # an 8 s bound
def test_a_stuck_source_fails_the_run_before_lambda_times_out(aws: Aws) -> None:
    import time
    from types import SimpleNamespace

    from tests.helpers.servers import Response

    aws.source.script(
        "/nytimes/covid-19-data/master/us.csv", [Response(delay=4), Response(delay=4)]
    )
    # 18 s left: 3 s for the lock wait and the downloads, so 1 s each.
    context = SimpleNamespace(aws_request_id="r-1", get_remaining_time_in_millis=lambda: 18_000)
    started = time.monotonic()
    with pytest.raises(Exception) as failed:
        handlers.etl_handler({"environment": "testing"}, context)
    assert time.monotonic() - started < 8
    assert type(failed.value).__name__ == "RunFailed"
    assert "failed at stage extract" in str(failed.value)
    assert aws.runs()[0]["status"] == "failed"  # recorded


def test_duplicate_delivery_is_refused_on_every_store(
    database_url: str, source_server: SourceServer
) -> None:
    from covid_etl.aws.etl import run_invocation
    from covid_etl.aws.events import parse_invocation, store_url_for

    urls = serve_real(source_server)
    environ = {
        "COVID_ETL_DATABASE_URL": database_url,
        "COVID_ETL_NYT_URL": urls["nyt_url"],
        "COVID_ETL_JHU_URL": urls["jhu_url"],
        "COVID_ETL_STATES_URL": "off",
        "COVID_ETL_ANOMALIES_URL": "off",
        "COVID_ETL_RETRY_BACKOFF": "0.01",
    }
    delivery = parse_invocation({"environment": "testing"}, "req-1")
    first = run_invocation(delivery, environ)
    again = run_invocation(delivery, environ)
    assert (first["duplicate"], first["inserted"]) == (False, 1100)
    assert again["duplicate"] is True and again["run_id"] == first["run_id"]
    other = run_invocation(parse_invocation({"environment": "testing"}, "req-2"), environ)
    assert not other["duplicate"] and other["run_id"] == first["run_id"] + 1
    store = open_store(store_url_for(database_url, "testing"))
    try:
        assert [(r.id, r.event_id) for r in store.list_runs()[::-1]] == [
            (first["run_id"], "req-1"),
            (other["run_id"], "req-2"),
        ]
    finally:
        store.close()


def _emf_lines(out: str) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [d for d in documents if "_aws" in d]


def _check_emf(document: dict[str, Any]) -> dict[str, Any]:
    """Validate the document as CloudWatch does (Embedded Metric Format specification);
    return the metric values by name."""
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    (directive,) = meta["CloudWatchMetrics"]
    assert directive["Namespace"] == "covid-etl"
    for dimension_set in directive["Dimensions"]:
        assert all(isinstance(document[name], str) for name in dimension_set)
    values = {}
    for metric in directive["Metrics"]:
        assert metric["Unit"] in {"Count", "Seconds"}
        value = document[metric["Name"]]
        assert isinstance(value, int | float) and not isinstance(value, bool)
        values[metric["Name"]] = value
    return values


def test_etl_writes_its_outcome_as_one_emf_line_per_run(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke({"environment": "testing"})
    (ok,) = _emf_lines(capsys.readouterr().out)
    assert ok["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment", "Status"]]
    assert (ok["Environment"], ok["Status"]) == ("testing", "succeeded")
    values = _check_emf(ok)
    assert values["Runs"] == 1 and values["RowsChanged"] == 1100
    assert 0 <= values["Duration"] < 120

    aws.source.serve("/nytimes/covid-19-data/master/us.csv", b"date,cases\n")
    invoke({"environment": "testing"})
    (failed,) = _emf_lines(capsys.readouterr().out)
    assert failed["Status"] == "failed"
    assert _check_emf(failed)["Runs"] == 1 and failed["RowsChanged"] == 0


def test_duplicate_delivery_is_not_counted_as_another_run(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke({"environment": "testing"}, request_id="req-1")
    invoke({"environment": "testing"}, request_id="req-1")
    assert len(_emf_lines(capsys.readouterr().out)) == 1


def test_only_production_runs_ping_the_heartbeat(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVID_ETL_HEARTBEAT_URL", aws.source.serve("/ping/0a1b2c3d4e5f", b"OK"))
    invoke({"environment": "testing"})
    assert aws.source.hits("/ping/0a1b2c3d4e5f") == []
    invoke({"environment": "production", "trigger": "schedule"})
    assert len(aws.source.hits("/ping/0a1b2c3d4e5f")) == 1
