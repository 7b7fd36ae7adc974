"""Publish a notice to SNS: one message, the rendered text, filterable by environment."""

from __future__ import annotations

from typing import Any

from covid_etl.aws.events import Notice

# SNS subjects: at most 100 characters, printable ASCII, no line breaks.
MAX_SUBJECT = 100


def sns_subject(text: str) -> str:
    """The subject SNS accepts: ASCII without control characters, shortened to 100."""
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in " ".join(text.split()))
    clean = clean or "covid-etl notification"
    return clean if len(clean) <= MAX_SUBJECT else clean[: MAX_SUBJECT - 3] + "..."


def message_attributes(notice: Notice) -> dict[str, dict[str, str]]:
    """``environment`` is what subscriptions filter on; the rest helps a reader match messages
    to invocations (the smoke test looks for its correlation id)."""
    values = {
        "environment": notice.environment,
        "status": notice.status,
        "request_id": notice.request_id,
        "correlation_id": notice.correlation_id,
    }
    return {
        key: {"DataType": "String", "StringValue": value} for key, value in values.items() if value
    }


def publish(client: Any, topic_arn: str, notice: Notice) -> str:
    """Publish one message; return its SNS message id."""
    response = client.publish(
        TopicArn=topic_arn,
        Subject=sns_subject(notice.subject),
        Message=notice.body,
        MessageAttributes=message_attributes(notice),
    )
    return str(response["MessageId"])
