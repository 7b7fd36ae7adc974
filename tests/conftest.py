"""Shared fixtures: real data files, loopback servers and a store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from covid_etl.redact import mask_url
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers import postgres as pg
from tests.helpers.env import fast_settings
from tests.helpers.loaded import LoadedStores, session_templates
from tests.helpers.servers import SmtpSink, SourceServer, WebhookSink, running


@pytest.fixture(autouse=True)
def _states_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-state source defaults to the NYT's URL: tests that do not test the states keep
    it off, so no test reaches the internet and the national-only behaviour stays covered."""
    monkeypatch.setenv("COVID_ETL_STATES_URL", "off")


@pytest.fixture
def source_server() -> Iterator[SourceServer]:
    with running(SourceServer()) as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    with running(WebhookSink()) as sink:
        yield sink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with running(SmtpSink()) as sink:
        yield sink


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'covid.db'}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of the PostgreSQL server for tests; skips (or, when required, errors) without one."""
    url = pg.server_url()
    reason = pg.unreachable_reason(url)
    if reason is not None:
        message = (
            f"no PostgreSQL server at {mask_url(url)} ({reason}); "
            "set COVID_ETL_TEST_POSTGRES_URL to one"
        )
        if pg.required():
            pytest.fail(f"{message} (required: COVID_ETL_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database of its own for this test."""
    with pg.throwaway_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback for the whole session; each test gets its own bucket."""
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    from tests.helpers.aws import atomic_conditional_puts

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with atomic_conditional_puts():
            yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_url(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh, versioned bucket on the moto server; this process and the CLI processes a test
    starts reach it through AWS_ENDPOINT_URL and keep their local copies under ``tmp_path``."""
    import tempfile
    import uuid

    import boto3

    from tests.helpers.aws import fake_credentials

    fake_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    bucket = f"covid-etl-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return f"s3://{bucket}/testing"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("s3", marks=pytest.mark.s3),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """The store URL behaviour tests run against: every such test runs on each backend."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(scope="session")
def loaded_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedStores]:
    """Stores loaded once per session (per xdist worker), copied for the tests that ask."""
    yield from session_templates(tmp_path_factory.mktemp("loaded"))


@pytest.fixture
def loaded_url(
    database_url: str, loaded_stores: LoadedStores, request: pytest.FixtureRequest
) -> str:
    """``database_url`` after one offline run of the real snapshot: a copy of a store that run
    loaded once for the session, so each test still has its own."""
    return loaded_stores.copy_into(request, database_url)


@pytest.fixture
def client(loaded_url: str) -> Iterator[TestClient]:
    app = create_app(fast_settings(loaded_url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
