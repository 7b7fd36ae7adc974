"""The API function through Mangum: recorded API Gateway events (HTTP API v2, REST v1) get the
same responses as the local server (FastAPI TestClient) on the same S3 store."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("moto")
pytest.importorskip("mangum")
web_app = pytest.importorskip(
    "covid_etl.web.app", reason="the FastAPI app (covid_etl.web.app) is not on this branch yet"
)
import boto3  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from moto import mock_aws  # noqa: E402

from covid_etl.aws import handlers  # noqa: E402
from covid_etl.aws.api import build_app  # noqa: E402
from covid_etl.run.pipeline import run_etl  # noqa: E402
from covid_etl.settings import settings_from_env  # noqa: E402
from tests.helpers.aws import BUCKET, fake_credentials  # noqa: E402
from tests.helpers.data import serve_real  # noqa: E402
from tests.helpers.env import fast_settings  # noqa: E402
from tests.helpers.servers import SourceServer  # noqa: E402

EVENTS = Path(__file__).parents[1] / "events"
REQUESTS = [
    ("/api/v1/records", "start=2022-04-01&limit=5", "identity"),
    ("/api/v1/records", "", "identity"),
    ("/api/v1/records", "", "gzip"),
    ("/api/v1/summary", "", "identity"),
    ("/covid_data", "", "identity"),
    ("/covid_data", "", "gzip"),
    ("/", "", "identity"),
]


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, source_server: SourceServer, tmp_path: Path
) -> Iterator[TestClient]:
    fake_credentials(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the container's /tmp
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        loaded = run_etl(
            fast_settings(
                f"s3://{BUCKET}/production", environment="production", **serve_real(source_server)
            )
        )
        assert loaded.succeeded
        # The API function's environment in template.yaml.
        monkeypatch.setenv("COVID_ETL_DATABASE_URL", f"s3://{BUCKET}")
        monkeypatch.setenv("COVID_ETL_ENVIRONMENT", "production")
        monkeypatch.setenv("COVID_ETL_LOG_FORMAT", "json")
        monkeypatch.setattr(handlers, "_api", None)  # a fresh container
        local = TestClient(build_app(settings_from_env({
            "COVID_ETL_DATABASE_URL": f"s3://{BUCKET}", "COVID_ETL_ENVIRONMENT": "production"
        })))  # fmt: skip
        yield local


def v2_event(path: str, query: str, encoding: str = "identity") -> dict[str, Any]:
    event = json.loads((EVENTS / "apigw-http-v2.json").read_text())
    event["headers"]["accept-encoding"] = encoding
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = query
    params = dict(p.split("=", 1) for p in query.split("&") if p)
    event["queryStringParameters"] = params or None
    event["pathParameters"] = {"proxy": path.lstrip("/")} if path != "/" else None
    event["routeKey"] = event["requestContext"]["routeKey"] = (
        "GET /{proxy+}" if path != "/" else "GET /"
    )
    return event


def v1_event(path: str, query: str, encoding: str = "identity") -> dict[str, Any]:
    event = json.loads((EVENTS / "apigw-rest-v1.json").read_text())
    event["headers"]["Accept-Encoding"] = encoding
    event["multiValueHeaders"]["Accept-Encoding"] = [encoding]
    event["path"] = path
    event["requestContext"]["path"] = "/prod" + path
    params = dict(p.split("=", 1) for p in query.split("&") if p)
    event["queryStringParameters"] = params or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()} or None
    event["pathParameters"] = {"proxy": path.lstrip("/")} if path != "/" else None
    event["resource"] = event["requestContext"]["resourcePath"] = (
        "/{proxy+}" if path != "/" else "/"
    )
    return event


def lambda_response(event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    response = handlers.api_handler(copy.deepcopy(event), SimpleNamespace(aws_request_id="r"))
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ",".join(values)
    if headers.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)  # as the client does (httpx decodes the local response)
    return response["statusCode"], headers, raw


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize(("path", "query", "encoding"), REQUESTS)
def test_lambda_answers_like_the_local_server(
    served: TestClient, version: str, path: str, query: str, encoding: str
) -> None:
    event = (v2_event if version == "v2" else v1_event)(path, query, encoding)
    status, headers, body = lambda_response(event)
    local = served.get(
        path + (f"?{query}" if query else ""),
        headers={"accept": "*/*", "accept-encoding": encoding},
    )
    assert status == local.status_code == 200
    assert headers["content-type"] == local.headers["content-type"]
    assert headers.get("content-encoding") == local.headers.get("content-encoding")
    assert body == local.content
    assert headers.get("etag") == local.headers.get("etag")


def test_the_app_is_built_once_per_container(served: TestClient) -> None:
    lambda_response(v2_event("/api/v1/summary", ""))
    app = handlers._api
    lambda_response(v2_event("/api/v1/records", ""))
    assert handlers._api is app is not None
