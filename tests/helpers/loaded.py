"""Stores loaded once and copied for each test that needs them loaded.

Loading the real data takes a run of the ETL; a test that only needs the result gets a private
copy of a store that was loaded once per session (per xdist worker) with the same runs: a file
copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL, a copy of the objects into the
test's own bucket on S3. A copy is the store as those runs left it, byte for byte (same run ids,
same rows, same change log), and no test ever sees another test's writes.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from covid_etl.run.pipeline import run_etl
from tests.helpers import postgres as pg
from tests.helpers.env import ANOMALIES_LOCAL, fast_settings

# The runs that load a store: the settings overrides of each, in order.
Runs = tuple[Mapping[str, object], ...]

# One offline run of the shipped snapshot, the NYT's notes included (as a user's would).
OFFLINE: Runs = ({"offline": True, "anomalies_url": ANOMALIES_LOCAL},)


def backend_of(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme == "s3":
        return "s3"
    return "postgres"


def sqlite_path(url: str) -> Path:
    assert url.startswith("sqlite:///"), url
    return Path(url.removeprefix("sqlite:///"))


def load(url: str, runs: Runs) -> None:
    """Run the ETL on ``url`` once per entry of ``runs``; every run must succeed."""
    for overrides in runs:
        result = run_etl(fast_settings(url, **overrides))
        assert result.succeeded, result.run.error


class LoadedStores:
    """Templates loaded on first use, one per backend and list of runs, kept for the session."""

    def __init__(self, base: Path) -> None:
        self._base = base
        self._templates: dict[tuple[str, str], str] = {}
        self._cleanup = ExitStack()

    def close(self) -> None:
        self._cleanup.close()

    def copy_into(self, request: pytest.FixtureRequest, url: str, runs: Runs = OFFLINE) -> str:
        """Make the fresh, empty store at ``url`` a copy of the store ``runs`` leave; ``url``.
        ``request`` is the asking fixture's, for the servers a template needs."""
        backend = backend_of(url)
        template = self._template(request, backend, runs)
        if backend == "sqlite":
            target = sqlite_path(url)
            assert not target.exists(), f"{target} is not a fresh store"
            shutil.copyfile(sqlite_path(template), target)
        elif backend == "postgres":
            _recreate_from_template(request.getfixturevalue("postgres_server"), url, template)
        else:
            _copy_objects(template, url)
        return url

    def sqlite_copy(
        self, request: pytest.FixtureRequest, directory: Path, runs: Runs = OFFLINE
    ) -> str:
        """A new SQLite store in ``directory``, copied from the template of ``runs``."""
        url = f"sqlite:///{directory / f'loaded-{uuid.uuid4().hex[:8]}.db'}"
        return self.copy_into(request, url, runs)

    def _template(self, request: pytest.FixtureRequest, backend: str, runs: Runs) -> str:
        key = (backend, repr(runs))
        if key in self._templates:
            return self._templates[key]
        if backend == "sqlite":
            url = f"sqlite:///{self._base / f'template-{len(self._templates)}.db'}"
            load(url, runs)
        elif backend == "postgres":
            server = request.getfixturevalue("postgres_server")
            url = self._cleanup.enter_context(pg.throwaway_database(server))
            load(url, runs)
        else:
            with pytest.MonkeyPatch.context() as mp:
                _s3_environment(mp, request.getfixturevalue("moto_endpoint"), self._base)
                url = _versioned_bucket()
                load(url, runs)
        self._templates[key] = url
        return url


def session_templates(base: Path) -> Iterator[LoadedStores]:
    stores = LoadedStores(base)
    try:
        yield stores
    finally:
        stores.close()


def _recreate_from_template(server: str, url: str, template: str) -> None:
    """Replace the empty database of ``url`` by a copy of ``template`` (no session may be open
    on either: the run that loaded the template closed its connections)."""
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    source = urlsplit(template).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(source)
            )
        )


def _s3_environment(mp: pytest.MonkeyPatch, endpoint: str, tmp: Path) -> None:
    """What the ``s3_url`` fixture sets for a test, for loading a template."""
    from tests.helpers.aws import fake_credentials

    fake_credentials(mp)
    mp.setenv("AWS_ENDPOINT_URL", endpoint)
    mp.setenv("TMPDIR", str(tmp))
    mp.setattr(tempfile, "tempdir", str(tmp))


def _versioned_bucket() -> str:
    import boto3

    bucket = f"covid-etl-template-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return f"s3://{bucket}/testing"


def _copy_objects(template: str, url: str) -> None:
    """Copy every object under the template's prefix to the same keys under ``url``'s prefix,
    in ``url``'s bucket (the test's environment already points boto3 at the moto server)."""
    import boto3

    source_bucket, _, source_prefix = template.removeprefix("s3://").partition("/")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=source_bucket, Prefix=f"{source_prefix}/")
    assert not listed["IsTruncated"]
    for item in listed["Contents"]:
        key = prefix + item["Key"].removeprefix(source_prefix)
        s3.copy_object(
            Bucket=bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": item["Key"]}
        )
