"""Post-deploy smoke test: one testing run, end to end, then clean up.

    python -m covid_etl.aws.smoke --stack-name covid-etl
    python -m covid_etl.aws.smoke --endpoint-url http://127.0.0.1:5000 --in-process \\
        --queue-url URL --bucket NAME --topic-arn ARN

1. Find the ETL function, the smoke-test queue and the bucket (stack outputs, or the options).
2. Start a run with ``{"environment": "testing", "correlation_id": <random>}``:
   - on AWS, ``lambda:Invoke`` with ``InvocationType="Event"``, so that the function's
     OnSuccess/OnFailure destination invokes the notify function, as for the scheduled run;
   - with ``--in-process`` (for moto, which runs neither Lambda code nor destinations), the ETL
     handler runs in this process with the function's configuration (read from the endpoint
     when it knows the function, else this process's ``COVID_ETL_*`` variables), and its
     invocation record is handed to the notify handler, which publishes to the topic on the
     endpoint. This covers the handlers, the S3 store, SNS (filter policy, raw delivery) and
     SQS; it does not cover Lambda's asynchronous queue, the destination wiring or IAM.
3. Long-poll the queue until the message with that correlation id arrives (messages of other
   testing runs are discarded), and check it: attribute ``environment = testing``, status
   succeeded, the rendered body with counts that add up to the rows in ``testing/covid-etl.db``.
4. Delete every object version under ``testing/`` (also when a check failed).

Exit code 0 when every check passed, 1 otherwise; a JSON report is printed on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from covid_etl.errors import EtlError, SmokeFailed
from covid_etl.series.registry import NATIONAL

ENVIRONMENT = "testing"
# The national counts in the body's first line: "... 1100 row(s) changed (1100 inserted, 0
# updated, 0 unchanged). ..." (the per-state counts follow on the next line).
_COUNT = re.compile(r"(\d+) (inserted|updated|unchanged)\b")


@dataclass
class Target:
    function_name: str | None
    notify_function_name: str | None
    queue_url: str
    bucket: str | None
    topic_arn: str | None


def _client(name: str, args: argparse.Namespace) -> Any:
    import boto3

    return boto3.client(name, endpoint_url=args.endpoint_url, region_name=args.region)


def resolve_target(args: argparse.Namespace) -> Target:
    values: dict[str, str] = {}
    if args.stack_name:
        stack = _client("cloudformation", args).describe_stacks(StackName=args.stack_name)
        values = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0].get("Outputs", [])}
    target = Target(
        function_name=args.function_name or values.get("EtlFunctionName"),
        notify_function_name=args.notify_function_name or values.get("NotifyFunctionName"),
        queue_url=args.queue_url or values.get("SmokeTestQueueUrl", ""),
        bucket=args.bucket or values.get("DataBucketName"),
        topic_arn=args.topic_arn or values.get("NotificationTopicArn"),
    )
    if not target.queue_url:
        raise SmokeFailed("no queue: give --stack-name or --queue-url")
    if not args.in_process and not target.function_name:
        raise SmokeFailed("no ETL function: give --stack-name or --function-name")
    return target


def start_run(args: argparse.Namespace, target: Target, event: dict[str, Any]) -> None:
    if not args.in_process:
        response = _client("lambda", args).invoke(
            FunctionName=target.function_name,
            InvocationType="Event",
            Payload=json.dumps(event).encode(),
        )
        if response.get("StatusCode") != 202:
            raise SmokeFailed(f"asynchronous invoke answered {response.get('StatusCode')}")
        return
    _run_in_process(args, target, event)


def _function_env(args: argparse.Namespace, name: str | None) -> dict[str, str]:
    if not name:
        return {}
    try:
        config = _client("lambda", args).get_function_configuration(FunctionName=name)
    except Exception:  # the endpoint does not know the function: use our own environment
        return {}
    return dict((config.get("Environment") or {}).get("Variables") or {})


def _run_in_process(args: argparse.Namespace, target: Target, event: dict[str, Any]) -> None:
    from covid_etl.aws import handlers
    from covid_etl.aws.events import destination_record, invoke_locally

    # The deployed function's configuration wins; the options fill in what it lacks.
    overrides: dict[str, str] = {}
    if target.bucket:
        overrides["COVID_ETL_DATABASE_URL"] = f"s3://{target.bucket}"
    if target.topic_arn:
        overrides["COVID_ETL_SNS_TOPIC_ARN"] = target.topic_arn
    overrides.update(_function_env(args, target.notify_function_name))
    overrides.update(_function_env(args, target.function_name))
    if args.endpoint_url:
        overrides["AWS_ENDPOINT_URL"] = args.endpoint_url
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        request_id = str(uuid.uuid4())
        # The function's standard output is its log (the run's metrics line); the smoke test's
        # own standard output is its one-object report.
        with contextlib.redirect_stdout(sys.stderr):
            ok, response = invoke_locally(handlers.etl_handler, event, request_id)
        record = destination_record(
            function_arn=f"arn:aws:lambda:{args.region}:000000000000:function:"
            f"{target.function_name or 'EtlFunction'}",
            request_id=request_id,
            request=event,
            response=response,
            succeeded=ok,
        )
        handlers.notify_handler(record, None)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def wait_for_message(
    args: argparse.Namespace, queue_url: str, correlation_id: str
) -> dict[str, Any]:
    sqs = _client("sqs", args)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        wait = int(max(0, min(20, deadline - time.monotonic())))
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=wait,
        ).get("Messages", [])
        for message in batch:
            # Ours or a leftover of an earlier testing run: either way it is consumed now.
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if _attributes(message).get("correlation_id") == correlation_id:
                return message  # type: ignore[no-any-return]
            print(f"discarded an older testing message {message['MessageId']}", file=sys.stderr)
    raise SmokeFailed(f"no notification with correlation id {correlation_id} in {args.timeout}s")


def _attributes(message: dict[str, Any]) -> dict[str, str]:
    return {k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()}


def check_message(message: dict[str, Any], stored_rows: int | None) -> dict[str, Any]:
    """Check the notification; return what was found."""
    attributes = _attributes(message)
    body = str(message.get("Body", ""))
    if attributes.get("environment") != ENVIRONMENT:
        raise SmokeFailed(f"environment attribute is {attributes.get('environment')!r}")
    first = body.split("\n", 1)[0]
    if attributes.get("status") != "succeeded" or " succeeded " not in first:
        raise SmokeFailed(f"the testing run did not succeed:\n{body}")
    if "Environment: testing" not in body:
        raise SmokeFailed(f"the body does not name the testing environment:\n{body}")
    counts = {name: int(value) for value, name in _COUNT.findall(first)}
    if set(counts) != {"inserted", "updated", "unchanged"}:
        raise SmokeFailed(f"the body lacks the row counts:\n{body}")
    total = sum(counts.values())
    if total == 0:
        raise SmokeFailed("the run reports no rows at all")
    if stored_rows is not None and stored_rows != total:
        raise SmokeFailed(
            f"the counts add up to {total} but testing/covid-etl.db has {stored_rows} rows"
        )
    return {"attributes": attributes, "counts": counts, "stored_rows": stored_rows}


def stored_rows(args: argparse.Namespace, bucket: str | None) -> int | None:
    """Rows in testing/covid-etl.db; None when the store is not this bucket (PostgreSQL)."""
    if not bucket:
        return None
    from covid_etl.store.s3 import S3Store

    store = S3Store(bucket, ENVIRONMENT, client=_client("s3", args))
    try:
        return store.count(NATIONAL) if store.schema_version() else None
    except EtlError:
        return None
    finally:
        store.close()


def clean(args: argparse.Namespace, bucket: str | None) -> int:
    """Delete every version and delete marker under testing/; return how many."""
    if not bucket:
        return 0
    s3 = _client("s3", args)
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, Prefix=f"{ENVIRONMENT}/"
    ):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
            removed += len(doomed)
    return removed


def run(args: argparse.Namespace) -> dict[str, Any]:
    target = resolve_target(args)
    correlation_id = uuid.uuid4().hex
    report: dict[str, Any] = {"correlation_id": correlation_id, "ok": False}
    try:
        start_run(args, target, {"environment": ENVIRONMENT, "correlation_id": correlation_id})
        message = wait_for_message(args, target.queue_url, correlation_id)
        report.update(check_message(message, stored_rows(args, target.bucket)))
        report["ok"] = True
    finally:
        report["removed_objects"] = clean(args, target.bucket)
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m covid_etl.aws.smoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack-name", help="read the names below from this stack's outputs")
    parser.add_argument("--endpoint-url", help="AWS endpoint (e.g. a moto server)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or "us-east-1")
    parser.add_argument("--function-name", help="the ETL function")
    parser.add_argument("--notify-function-name", help="the notify function (--in-process)")
    parser.add_argument("--queue-url", help="the smoke-test queue")
    parser.add_argument("--bucket", help="the data bucket (checked and cleaned under testing/)")
    parser.add_argument("--topic-arn", help="the notification topic (--in-process)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the handlers here instead of invoking the deployed function (moto)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait (900)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except SmokeFailed as exc:
        print(f"smoke test FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
