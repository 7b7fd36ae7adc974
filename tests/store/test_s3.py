"""What only the S3 store does, against a moto server on loopback: the object layout, the
conditional requests, the local copy a warm container keeps, the API's revalidation interval and
the published CSV. The store contract and the behaviour suites run on S3 through the
``database_url`` fixture like on every other backend."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("moto")
import boto3
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from covid_etl.aws.events import store_url_for
from covid_etl.models import RunStatus, Stage
from covid_etl.publish.original import CSV_NAME
from covid_etl.run.pipeline import run_etl
from covid_etl.settings import Settings
from covid_etl.store import check_database_url, open_store
from covid_etl.store.s3 import S3Store
from tests.helpers.aws import s3_traffic
from tests.helpers.data import jhu_history, nyt_history, serve_real
from tests.helpers.env import fast_settings
from tests.helpers.servers import SourceServer

pytestmark = pytest.mark.s3


@pytest.fixture
def bucket(s3_url: str) -> str:
    return s3_url[len("s3://") :].split("/", 1)[0]


@pytest.fixture
def s3(s3_url: str) -> Any:
    return boto3.client("s3")


def head(s3: Any, bucket: str, key: str) -> tuple[str, str]:
    response = s3.head_object(Bucket=bucket, Key=key)
    return response["ETag"], response["VersionId"]


def test_moto_honours_the_conditional_requests_we_rely_on(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as exists:
        s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*")
    assert exists.value.response["Error"]["Code"] == "PreconditionFailed"
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfMatch=first)["ETag"]
    with pytest.raises(ClientError) as stale:
        s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch=first)
    assert stale.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError) as current:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=second)
    assert current.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=first)["Body"].read() == b"2"


def test_object_layout_follows_the_prefix_and_the_environment() -> None:
    check_database_url("s3://bucket/prefix")
    store = open_store("s3://bucket/some/prefix/")
    assert isinstance(store, S3Store)
    assert (store.bucket, store.key) == ("bucket", "some/prefix/covid-etl.db")
    assert store.object_key(CSV_NAME) == "some/prefix/acg-covid-data.csv"
    assert S3Store.from_url("s3://bucket").key == "covid-etl.db"
    # The AWS functions get s3://<bucket> and add the run's environment.
    production = S3Store.from_url(store_url_for("s3://bucket", "production"))
    assert (production.key, production.object_key(CSV_NAME)) == (
        "production/covid-etl.db",
        "production/acg-covid-data.csv",
    )


def test_missing_bucket_is_a_clear_open_failure(s3_url: str, source_server: SourceServer) -> None:
    result = run_etl(fast_settings("s3://no-such-bucket/testing", **serve_real(source_server)))
    assert result.run.failed_stage is Stage.OPEN
    assert "no-such-bucket" in (result.run.error or "")


def test_each_run_is_one_conditional_put_and_a_warm_copy_costs_a_304(
    s3_url: str, s3: Any, bucket: str, source_server: SourceServer
) -> None:
    settings = fast_settings(s3_url, **serve_real(source_server))
    with s3_traffic() as first:
        assert run_etl(settings).run.initial_load
    # No object yet: If-None-Match: * on the PUT; then the derived CSV and CHANGE_LOG.csv.
    assert first.count("GetObject", 404) >= 1
    assert (first.count("PutObject"), first.count("GetObject", 200)) == (3, 0)
    etag, _ = head(s3, bucket, "testing/covid-etl.db")

    with s3_traffic() as again:
        run = run_etl(settings).run
    assert run.status is RunStatus.SUCCEEDED and run.unchanged == 1100
    # The copy cached by the first run is revalidated, not downloaded; the run record is the
    # only write, and the CSV is not republished.
    assert again.count("GetObject", 200) == 0 and again.count("GetObject", 304) >= 1
    assert again.count("PutObject") == 1
    assert head(s3, bucket, "testing/covid-etl.db")[0] != etag


def test_a_cold_container_downloads_the_object_once(
    s3_url: str, source_server: SourceServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    settings = fast_settings(s3_url, **serve_real(source_server))
    assert run_etl(settings).succeeded
    cold = tmp_path / "cold"
    cold.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(cold))  # a new container: empty /tmp
    with s3_traffic() as traffic:
        assert run_etl(settings).run.unchanged == 1100
    assert traffic.count("GetObject", 200) == 1 and traffic.count("PutObject") == 1


def test_published_csv_rows_equal_covid_data(
    s3_url: str, s3: Any, bucket: str, source_server: SourceServer
) -> None:
    old = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    assert run_etl(fast_settings(s3_url, **old)).succeeded
    new = fast_settings(s3_url, **serve_real(source_server))
    assert run_etl(new).run.inserted == 1100 - 512
    published = s3.get_object(Bucket=bucket, Key="testing/acg-covid-data.csv")
    assert published["ContentType"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(published["Body"].read().decode())))

    with api_client(s3_url, revalidate=0) as client:
        served = client.get("/covid_data").json()["data"]
    assert len(rows) == len(served) == 816
    assert list(rows[0]) == list(served[0])  # the same 13 columns, in the same order
    assert rows == [{k: "" if v is None else str(v) for k, v in r.items()} for r in served]

    # Derived output only: a run that changed no data does not rewrite it.
    version = head(s3, bucket, "testing/acg-covid-data.csv")
    assert run_etl(new).run.unchanged == 1100
    assert head(s3, bucket, "testing/acg-covid-data.csv") == version


def api_client(s3_url: str, *, revalidate: float) -> TestClient:
    """The API function's app over the environment's object, as template.yaml configures it."""
    from covid_etl.aws.api import build_app

    bucket_url = s3_url.rsplit("/", 1)[0]
    settings = Settings(database_url=bucket_url, environment="testing", s3_revalidate=revalidate)
    return TestClient(build_app(settings))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The S3 store's monotonic clock, moved by the test."""

    offset = [0.0]
    real = time.monotonic
    monkeypatch.setattr("covid_etl.store.s3.time.monotonic", lambda: real() + offset[0])
    yield offset


def test_api_serves_a_new_commit_within_the_revalidation_interval(
    s3_url: str, source_server: SourceServer, clock: list[float]
) -> None:
    old = serve_real(source_server, nyt_history("2021-06-15"), jhu_history("2021-06-15"))
    assert run_etl(fast_settings(s3_url, **old)).succeeded
    with s3_traffic() as traffic, api_client(s3_url, revalidate=60) as client:
        assert client.get("/api/v1/summary").json()["data_through"] == "2021-06-15"
        assert run_etl(fast_settings(s3_url, **serve_real(source_server))).succeeded
        before = len(traffic.requests)
        clock[0] += 30
        # Within the interval the cached copy answers without asking S3.
        assert client.get("/api/v1/summary").json()["data_through"] == "2021-06-15"
        assert len(traffic.requests) == before
        clock[0] += 31
        assert client.get("/api/v1/summary").json()["data_through"] == "2023-01-24"
        assert traffic.requests[before:] == [("GetObject", 200)]


def test_unusable_local_disk_is_a_clear_open_failure(
    s3_url: str, source_server: SourceServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_directory))
    result = run_etl(fast_settings(s3_url, **serve_real(source_server)))
    assert result.run.failed_stage is Stage.OPEN
    assert (result.run.error or "").startswith("cannot keep a local copy of s3://")
