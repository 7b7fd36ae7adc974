"""The Lambda deployment package, built as ``sam build`` builds it (offline: from the
distributions of this environment, see tests/helpers/lambda_package.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import lambda_package


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mangum")
    pytest.importorskip("fastapi")
    target = tmp_path_factory.mktemp("lambda")
    lambda_package.build_offline(target)
    return target


def test_package_has_no_pandas_numpy_apprise_server_or_boto3(package: Path) -> None:
    report = lambda_package.inspect(package)
    assert report["forbidden"] == []
    assert report["runtime_provided"] == []  # boto3 comes with the Lambda runtime
    assert {"covid_etl", "httpx", "fastapi", "mangum", "psycopg"} <= set(report["top_level"])
    # Far below Lambda's 250 MB unzipped limit; see docs/benchmarks-aws.md for the figures.
    assert report["bytes"] < 60 * 1024 * 1024


def test_handlers_import_from_the_package_alone(package: Path) -> None:
    # python -S: no site-packages, only the stdlib and the package, as in Lambda.
    modules = ["covid_etl.aws.handlers", "covid_etl.aws.api", "mangum"]
    try:
        import covid_etl.web.app  # noqa: F401

        modules.append("covid_etl.web.app")  # what the API function builds on its first request
    except ImportError:
        pass
    for module in modules:
        assert lambda_package.import_time(package, module) < 10
