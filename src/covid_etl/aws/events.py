"""What arrives in a Lambda event, as typed values: the ETL's invocation and the destination
record the notify function receives. Pure functions, no AWS calls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from covid_etl.errors import ConfigError, RunFailed
from covid_etl.models import RunRecord, RunStatus, Trigger, utcnow
from covid_etl.notify.render import render

DEFAULT_ENVIRONMENT = "production"
# The environment becomes an S3 key prefix and an SNS attribute: keep it a plain word.
_ENVIRONMENT = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True, slots=True)
class Invocation:
    """One ETL invocation: which environment, what triggered it, and its identity.

    ``event_id`` identifies the *event*, so a duplicate delivery has the same one: the
    EventBridge event id when the event is EventBridge's own, otherwise the Lambda request id
    (an asynchronous invocation that Lambda retries keeps its request id).
    """

    environment: str
    trigger: Trigger
    event_id: str | None
    correlation_id: str | None = None
    accept_removals: bool = False


def environment_of(event: Any) -> str:
    """The event's environment (``{"environment": "testing"}``); production by default."""
    value = event.get("environment") if isinstance(event, dict) else None
    if value is None and isinstance(event, dict) and isinstance(event.get("detail"), dict):
        value = event["detail"].get("environment")
    if value is None:
        return DEFAULT_ENVIRONMENT
    if not isinstance(value, str) or not _ENVIRONMENT.match(value):
        raise ConfigError(
            f"invalid environment {value!r} in the event: use lower-case letters, digits, "
            "'-' or '_' (e.g. production, testing)"
        )
    return value


def is_eventbridge(event: Any) -> bool:
    return isinstance(event, dict) and (
        event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event"
    )


def parse_invocation(event: Any, request_id: str | None) -> Invocation:
    """Read the ETL event. ``trigger`` is ``schedule`` for an EventBridge event (its own shape,
    or the template's constant input, which says ``"trigger": "schedule"``), ``event`` else."""
    if event is None:
        event = {}
    if not isinstance(event, dict):
        raise ConfigError(f"the ETL event must be a JSON object, got {type(event).__name__}")
    scheduled = is_eventbridge(event) or event.get("trigger") == "schedule"
    event_id = str(event["id"]) if is_eventbridge(event) and event.get("id") else request_id
    correlation = event.get("correlation_id")
    accept_removals = event.get("accept_removals", False)
    if not isinstance(accept_removals, bool):
        raise ConfigError(
            f"invalid accept_removals {accept_removals!r} in the event: use true or false"
        )
    return Invocation(
        environment=environment_of(event),
        trigger=Trigger.SCHEDULE if scheduled else Trigger.EVENT,
        event_id=event_id,
        correlation_id=str(correlation) if correlation is not None else None,
        accept_removals=accept_removals,
    )


def store_url_for(url: str, environment: str) -> str:
    """The store URL of one environment: an S3 URL gets the environment as its last prefix
    segment (``s3://b`` -> ``s3://b/testing``); other stores keep one database and label runs
    with the environment instead."""
    if not url.lower().startswith("s3://"):
        return url
    return url.rstrip("/") + "/" + environment


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification to publish: the rendered text plus what subscribers filter on."""

    environment: str
    subject: str
    body: str
    status: str
    request_id: str | None = None
    correlation_id: str | None = None


RUN_FAILED = RunFailed.__name__


def notice_from_record(record: dict[str, Any]) -> Notice | None:
    """The notice for a Lambda destination record; None for a duplicate delivery (the first
    delivery was notified already).

    The ETL returns its rendered summary on success and raises ``RunFailed`` with the rendered
    failure text, so both arrive here ready to send. Anything else (a timeout, a crash before
    the pipeline ran, an event that expired in the queue) is rendered here by the same
    renderer, with the reason Lambda gave.
    """
    context = record.get("requestContext") or {}
    condition = str(context.get("condition") or "")
    request = record.get("requestPayload")
    response = record.get("responsePayload")
    try:
        environment = environment_of(request)
    except ConfigError:
        environment = DEFAULT_ENVIRONMENT  # a malformed event is the operator's concern
    correlation = request.get("correlation_id") if isinstance(request, dict) else None
    ids = {
        "request_id": context.get("requestId"),
        "correlation_id": str(correlation) if correlation is not None else None,
    }
    if isinstance(response, dict) and condition == "Success" and "subject" in response:
        if response.get("duplicate"):
            return None
        status = str(response.get("status", "succeeded"))
        return Notice(environment, str(response["subject"]), str(response["body"]), status, **ids)
    if isinstance(response, dict) and response.get("errorType") == RUN_FAILED:
        subject, _, body = str(response.get("errorMessage", "")).partition("\n\n")
        return Notice(environment, subject, body, "failed", **ids)
    now = utcnow()
    scheduled = isinstance(request, dict) and (
        is_eventbridge(request) or request.get("trigger") == "schedule"
    )
    trigger = Trigger.SCHEDULE if scheduled else Trigger.EVENT
    run = RunRecord(
        id=0,
        trigger=trigger,
        environment=environment,
        started_at=now,
        finished_at=now,
        status=RunStatus.FAILED,
        error=_lambda_error(condition, response),
    )
    message = render(run, None)
    return Notice(environment, message.subject, message.body, "failed", **ids)


def _lambda_error(condition: str, response: Any) -> str:
    if isinstance(response, dict) and response.get("errorMessage"):
        kind = response.get("errorType")
        text = str(response["errorMessage"]).strip()
        return f"{kind}: {text}" if kind else text
    if condition == "EventAgeExceeded":
        return "the invocation waited in Lambda's queue longer than its maximum age and never ran"
    return f"the ETL function did not finish (Lambda condition {condition or 'unknown'})"


def destination_record(
    *,
    function_arn: str,
    request_id: str,
    request: Any,
    response: Any,
    succeeded: bool,
) -> dict[str, Any]:
    """The invocation record Lambda sends to a destination, in its documented shape. Used
    where Lambda cannot send it: the smoke test against moto and the tests."""
    return {
        "version": "1.0",
        "timestamp": utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn + ":$LATEST",
            "condition": "Success" if succeeded else "RetriesExhausted",
            "approximateInvokeCount": 1,
        },
        "requestPayload": request,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            **({} if succeeded else {"functionError": "Unhandled"}),
        },
        "responsePayload": response,
    }


def invoke_locally(handler: Any, event: Any, request_id: str) -> tuple[bool, Any]:
    """Call a handler the way the Lambda runtime does: (succeeded, response payload), where an
    exception becomes Lambda's error payload (errorMessage, errorType, stackTrace)."""
    import traceback
    from types import SimpleNamespace

    try:
        return True, handler(event, SimpleNamespace(aws_request_id=request_id))
    except Exception as exc:
        return False, {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_tb(exc.__traceback__),
        }
