"""Every JSON answer sends exactly the fields its response schema in /openapi.json declares.

Why: the routes render their JSON themselves (cached bytes), so nothing ties a response to its
pydantic model but tests. JSON Schema lets an object carry properties it does not declare, so
a schema check alone (the property-based test) misses a field added to a response but not to
its model. Here every key of every object in the body must be a declared property, and every
required property must be there; an object the schema leaves open (``additionalProperties``,
e.g. a change's before and after values) may hold any key.

The requests are those recorded in ``tests/fixtures/answers/read-endpoints.json`` (every read
endpoint, errors included), asked of a SQLite store loaded from the shipped snapshot with the
per-state series; the recorded-answers test shows that the other backends send the same bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from covid_etl.run.pipeline import run_etl
from covid_etl.settings import SCHEDULE_OFF
from covid_etl.web.app import create_app
from tests.helpers.env import ANOMALIES_LOCAL, fast_settings

GOLDEN = Path(__file__).parents[1] / "fixtures" / "answers" / "read-endpoints.json"
SHIPPED_STATES = str(resources.files("covid_etl") / "data" / "nyt-us-states.csv")
RUN_ID = "{run_id}"  # the recorded paths' stand-in for the id of the run that loaded the store
# Requests asked besides the recorded ones: those of endpoints the golden file does not hold yet
# (a request it holds too is asked once).
JSON_TYPE = "application/json"
# JSON Schema type names and the Python values json.loads gives for them.
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def undeclared(body: Any, schema: dict[str, Any], document: dict[str, Any], at: str) -> list[str]:
    """Where ``body`` departs from the properties ``schema`` declares: a key it does not
    declare, a required one that is missing, or a value of none of the types it allows."""
    name = None
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    if "anyOf" in schema or "oneOf" in schema:
        fitting = [
            s for s in schema.get("anyOf", schema.get("oneOf", [])) if _fits(body, s, document)
        ]
        if not fitting:
            return [f"{at}: {type(body).__name__} is none of the types allowed"]
        # The option that fits best: an optional object is checked as the object.
        return min((undeclared(body, s, document, at) for s in fitting), key=len)
    if not _fits(body, schema, document):
        return [f"{at}: {type(body).__name__} where the schema says {schema.get('type')}"]
    if isinstance(body, list):
        items = schema.get("items", {})
        return [
            p
            for i, item in enumerate(body)
            for p in undeclared(item, items, document, f"{at}[{i}]")
        ]
    if not isinstance(body, dict):
        return []
    where = f" ({name})" if name else ""
    properties: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", False)
    problems = [
        f"{at}.{key} is not declared{where}"
        for key in body
        if key not in properties and extra is False
    ]
    problems += [
        f"{at}.{key} is required{where} but missing"
        for key in schema.get("required", [])
        if key not in body
    ]
    for key, value in body.items():
        if key in properties:
            problems += undeclared(value, properties[key], document, f"{at}.{key}")
        elif isinstance(extra, dict):
            problems += undeclared(value, extra, document, f"{at}.{key}")
    return problems


def _fits(body: Any, schema: dict[str, Any], document: dict[str, Any]) -> bool:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema or "oneOf" in schema:
        return any(_fits(body, s, document) for s in schema.get("anyOf", schema.get("oneOf", [])))
    kind = schema.get("type")
    if kind is None:  # no type: any value
        return True
    if isinstance(body, bool) and kind in ("integer", "number"):
        return False
    return isinstance(body, JSON_TYPES[kind])


def response_schema(document: dict[str, Any], method: str, path: str, status: int) -> Any:
    """The operation ``path`` falls under and the JSON schema it documents for ``status``:
    (None, None) when no operation has that path and method, (template, None) when the
    operation documents no JSON answer with that status."""
    parts = path.split("?", 1)[0].split("/")
    for template, item in document["paths"].items():
        pattern = template.split("/")
        if len(pattern) != len(parts) or method.lower() not in item:
            continue
        if all(p == q or (p.startswith("{") and q) for p, q in zip(pattern, parts, strict=True)):
            answer = item[method.lower()]["responses"].get(str(status), {})
            return template, answer.get("content", {}).get(JSON_TYPE, {}).get("schema")
    return None, None


@pytest.fixture(scope="module")
def answered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, int]]:
    """A client over a store loaded once for the module, and the id of the run that loaded it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('declared') / 'covid.db'}"
    result = run_etl(
        fast_settings(url, offline=True, states_url=SHIPPED_STATES, anomalies_url=ANOMALIES_LOCAL)
    )
    assert result.succeeded, result.run.error
    app = create_app(fast_settings(url, schedule=SCHEDULE_OFF))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, result.run.id


def test_json_answers_carry_only_the_fields_their_schema_declares(
    answered: tuple[TestClient, int],
) -> None:
    client, run_id = answered
    document = client.get("/openapi.json").json()
    requests = [entry["request"] for entry in json.loads(GOLDEN.read_text("utf-8"))]
    problems: list[str] = []
    checked: set[str] = set()
    for request in requests:
        if request["method"] != "GET":
            continue  # HEAD has no body; other methods are no operation
        path = request["path"].replace(RUN_ID, str(run_id))
        response = client.get(path, headers=request["headers"])
        if not response.headers.get("content-type", "").startswith(JSON_TYPE):
            continue
        template, schema = response_schema(document, "GET", path, response.status_code)
        if template is None:
            continue  # not an API operation: a 404 of the dashboard's mount
        asked = f"GET {path} ({response.status_code})"
        if schema is None:
            problems.append(f"{asked}: a JSON answer the operation does not document")
            continue
        problems += [f"{asked}: {p}" for p in undeclared(response.json(), schema, document, "$")]
        if response.status_code == 200:
            checked.add(template)
    assert not problems, "\n".join(problems)
    # Each operation that answers JSON was asked at least once with success.
    documented = {
        template
        for template, item in document["paths"].items()
        if JSON_TYPE in item.get("get", {}).get("responses", {}).get("200", {}).get("content", {})
    }
    assert documented <= checked, f"no recorded request answers {sorted(documented - checked)}"


def test_undeclared_field_check_names_an_extra_key_and_a_missing_one() -> None:
    document = {
        "components": {
            "schemas": {
                "Run": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}},
                    "required": ["id"],
                },
                "Page": {
                    "type": "object",
                    "properties": {
                        "runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}},
                        "last": {"anyOf": [{"$ref": "#/components/schemas/Run"}, {"type": "null"}]},
                        "free": {"type": "object", "additionalProperties": True},
                    },
                    "required": ["runs", "last", "free"],
                },
            }
        }
    }
    page = {"$ref": "#/components/schemas/Page"}
    body = {"runs": [{"id": 1}, {"id": 2, "states": {}}], "last": {}, "free": {"any": 1}}
    assert undeclared(body, page, document, "$") == [
        "$.runs[1].states is not declared (Run)",
        "$.last.id is required (Run) but missing",
    ]
    assert undeclared({**body, "runs": [], "last": None}, page, document, "$") == []
