"""Property-based run over /openapi.json: every operation, generated parameters (valid and
invalid), no 5xx and no response that breaks its documented schema. Bounded to 50 examples per
operation so it stays a few seconds.

The operations are driven by hand with Hypothesis rather than schemathesis' pytest plugin, whose
fixture loader does not run on the pytest this project uses.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers.data import JHU_CURRENT, NYT_CURRENT, STATES_REAL
from tests.helpers.env import fast_settings
from tests.helpers.loaded import OFFLINE, LoadedStores

OPERATIONS = [
    ("GET", "/api/v1/revisions"),
    ("GET", "/api/v1/states/{fips}/revisions"),
    ("GET", "/api/v1/anomalies"),
    ("GET", "/api/v1/records"),
    ("GET", "/api/v1/summary"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{run_id}/changes"),
    ("GET", "/api/v1/changes"),
    ("GET", "/covid_data"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/states"),
    ("GET", "/api/v1/states/{fips}/records"),
]


@pytest.fixture(scope="module")
def api_schema(
    loaded_stores: LoadedStores,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """The schema of one app for the module (the requests only read), over a store after an
    offline run and then a run with the per-state series too, so the states operations answer
    with data."""
    sources = {
        "nyt_url": str(NYT_CURRENT),
        "jhu_url": str(JHU_CURRENT),
        "states_url": str(STATES_REAL),
    }
    directory = tmp_path_factory.mktemp("openapi")
    url = loaded_stores.sqlite_copy(request, directory, (*OFFLINE, sources))
    app = create_app(fast_settings(url, schedule=SCHEDULE_OFF))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_openapi_documents_exactly_the_public_operations(api_schema: Any) -> None:
    found = sorted((op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations())
    assert found == sorted(OPERATIONS)


CASES = [(method, path, "positive") for method, path in OPERATIONS] + [
    # Invalid values for every parameter (only operations with parameters can have them).
    ("GET", "/api/v1/records", "negative"),
    ("GET", "/api/v1/anomalies", "negative"),
    ("GET", "/api/v1/revisions", "negative"),
    ("GET", "/api/v1/states/{fips}/revisions", "negative"),
    ("GET", "/api/v1/runs", "negative"),
    ("GET", "/api/v1/runs/{run_id}/changes", "negative"),
    ("GET", "/api/v1/changes", "negative"),
    ("GET", "/api/v1/states", "negative"),
    ("GET", "/api/v1/states/{fips}/records", "negative"),
]
# Rules OpenAPI cannot express, so a schema-valid request may rightly be refused: "start after
# end" or an impossible calendar date that matches the pattern (422), and a run id or FIPS code
# that names nothing stored (404). Every other check stays on.
REFUSABLE = (
    "/api/v1/summary",  # as_of before the store's history (404)
    "/api/v1/records",
    "/api/v1/anomalies",
    "/api/v1/revisions",
    "/api/v1/states/{fips}/revisions",
    "/api/v1/changes",
    "/api/v1/runs/{run_id}/changes",
    "/api/v1/states",
    "/api/v1/states/{fips}/records",
)


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_openapi_operation_generated_requests_conform(
    api_schema: Any, method: str, path: str, mode: str
) -> None:
    operation = api_schema[path][method]
    excluded = [positive_data_acceptance] if path in REFUSABLE else []

    @given(case=operation.as_strategy(schemathesis.GenerationMode(mode)))
    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(excluded_checks=excluded)

    check()
