"""moto for the AWS tests: fake credentials, an in-process mock and a moto server on loopback.

Nothing here can reach a real AWS account: credentials are fake, config files are hidden, and
every client talks to moto (patched in-process, or the server through AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

REGION = "us-east-1"
BUCKET = "covid-etl-data"


def fake_credentials(mp: pytest.MonkeyPatch) -> None:
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        mp.delenv(var, raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", REGION)
    mp.setenv("AWS_REGION", REGION)
    mp.setenv("AWS_CONFIG_FILE", os.devnull)
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for key in [k for k in os.environ if k.startswith("COVID_ETL_")]:
        mp.delenv(key)
    # These S3 tests run on the national series only (the per-state source is on SQL stores).
    mp.setenv("COVID_ETL_STATES_URL", "off")
    mp.setenv("COVID_ETL_ANOMALIES_URL", "off")


@contextmanager
def atomic_conditional_puts() -> Iterator[None]:
    """Make moto's check-then-store of a conditional PUT one step, as it is in S3.

    moto checks If-Match / If-None-Match and then stores the object without a lock, so two
    threads could both pass the check. S3 itself never lets both win; the race tests must test
    our protocol, not that gap in the emulator.
    """
    from moto.s3.responses import S3Response

    original = S3Response.put_object
    lock = threading.Lock()

    def put_object(self: Any) -> Any:
        with lock:
            return original(self)

    S3Response.put_object = put_object  # type: ignore[method-assign]
    try:
        yield
    finally:
        S3Response.put_object = original  # type: ignore[method-assign]


@dataclass
class SnsSqs:
    """A topic with the smoke-test queue subscribed as in template.yaml."""

    topic_arn: str
    queue_url: str


def make_topic_and_queue(sns: Any, sqs: Any, environment_filter: str = "testing") -> SnsSqs:
    import json

    topic_arn = sns.create_topic(Name="covid-etl-notifications")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="covid-etl-smoke")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"environment": [environment_filter]}),
        },
    )
    return SnsSqs(topic_arn=topic_arn, queue_url=queue_url)


def receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch
        for m in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


@dataclass
class S3Traffic:
    """S3 requests made through boto3's default session: ``(operation, HTTP status)`` per
    request, bytes sent in request bodies and received in response bodies."""

    requests: list[tuple[str, int]]
    sent: int = 0
    received: int = 0

    def count(self, operation: str, status: int | None = None) -> int:
        return sum(1 for op, st in self.requests if op == operation and status in (None, st))


@contextmanager
def s3_traffic() -> Iterator[S3Traffic]:
    """Count every S3 request of clients created meanwhile from boto3's default session
    (the store creates its client with ``boto3.client("s3")``), through botocore's event
    hooks."""
    import boto3

    traffic = S3Traffic(requests=[])
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    events = boto3.DEFAULT_SESSION.events

    def before_send(request: Any, **_: Any) -> None:
        traffic.sent += int(request.headers.get("Content-Length") or 0)

    def after_call(http_response: Any, model: Any, **_: Any) -> None:
        # Emitted for every answer, error statuses (304, 412) included, before they raise.
        traffic.requests.append((model.name, http_response.status_code))
        traffic.received += int(http_response.headers.get("content-length") or 0)

    events.register("before-send.s3", before_send, unique_id="covid-etl-traffic-send")
    events.register("after-call.s3", after_call, unique_id="covid-etl-traffic-call")
    try:
        yield traffic
    finally:
        events.unregister("before-send.s3", unique_id="covid-etl-traffic-send")
        events.unregister("after-call.s3", unique_id="covid-etl-traffic-call")
