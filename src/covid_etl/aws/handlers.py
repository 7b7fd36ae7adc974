"""Lambda entry points named in template.yaml. Thin: parse the event, call the library.

- ``etl_handler``: EventBridge schedule or direct invocation -> the pipeline (see :mod:`.etl`).
- ``notify_handler``: the ETL's OnSuccess/OnFailure destination record -> one SNS message.
- ``api_handler``: API Gateway (HTTP API v2 or REST v1) -> the FastAPI app through Mangum.
"""

from __future__ import annotations

import os
from typing import Any

from covid_etl.aws.etl import run_invocation
from covid_etl.aws.events import notice_from_record, parse_invocation
from covid_etl.errors import ConfigError
from covid_etl.log import configure_logging
from covid_etl.settings import Settings, settings_from_env

_configured = False
_api: Any = None


def _settings() -> Settings:
    global _configured
    settings = settings_from_env(os.environ)
    if not _configured:  # once per container: Lambda keeps the process between invocations
        configure_logging(settings.log_format, settings.log_level, settings.secrets())
        _configured = True
    return settings


def etl_handler(event: Any, context: Any) -> dict[str, Any]:
    """Run the ETL for ``{"environment": ...}``; return the summary, raise on a failed run."""
    _settings()
    invocation = parse_invocation(event, getattr(context, "aws_request_id", None))
    time_left = getattr(context, "get_remaining_time_in_millis", None)
    remaining = time_left() / 1000 if callable(time_left) else None
    return run_invocation(invocation, os.environ, remaining)


def notify_handler(event: Any, context: Any) -> dict[str, Any]:
    """Publish the destination record's outcome to the topic, once."""
    from covid_etl.aws.sns import publish, sns_subject

    settings = _settings()
    if not settings.sns_topic_arn:
        raise ConfigError("COVID_ETL_SNS_TOPIC_ARN is not set")
    notice = notice_from_record(event if isinstance(event, dict) else {})
    if notice is None:
        return {"published": False, "reason": "duplicate delivery; the first was notified"}
    import boto3  # part of the Lambda runtime

    message_id = publish(boto3.client("sns"), settings.sns_topic_arn, notice)
    return {
        "published": True,
        "message_id": message_id,
        "environment": notice.environment,
        "subject": sns_subject(notice.subject),
    }


def api_handler(event: Any, context: Any) -> Any:
    """Serve API Gateway events with the FastAPI app, built once per container."""
    global _api
    if _api is None:
        from covid_etl.aws.api import build_api

        _api = build_api(_settings())
    return _api(event, context)
