"""Every part of the OpenAPI document a data user reads is described: each operation, each of its
parameters and responses, each schema and each property of every schema, however deep.

Why: the document is the API's data dictionary (the site's HTTP reference is generated from it),
and an undescribed field leaves a user guessing its unit, its date basis or why it is null.
The app is built with one extra partitioned series too, so that the records route and models
that any declared series gets (``covid_etl.web.routes.series``) are checked as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from covid_etl.series.registry import SERIES, STATES
from covid_etl.settings import Settings
from covid_etl.web.app import create_app

# A partitioned series beyond the registry's, for the generic records route: the per-state
# declaration under another name is enough, since the document is built from declarations only.
EXTRA = STATES._replace(name="counties", table="counties")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def undescribed(document: dict[str, Any]) -> list[str]:
    """Where ``document`` lacks a non-empty description, one line per place, in document order."""
    missing: list[str] = []
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            if not (_text(operation.get("summary")) or _text(operation.get("description"))):
                missing.append(f"{where}: no summary or description")
            for parameter in operation.get("parameters", []):
                described = parameter.get("description") or parameter.get("schema", {}).get(
                    "description"
                )
                if not _text(described):
                    missing.append(f"{where}: parameter {parameter['name']}")
            for status, response in operation.get("responses", {}).items():
                if not _text(response.get("description")):
                    missing.append(f"{where}: response {status}")
                for media, content in response.get("content", {}).items():
                    schema = content.get("schema", {})
                    at = f"{where}: response {status} {media}"
                    missing += _undescribed_ref(schema, document, at)
                    missing += list(_properties(schema, at))
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        if not _text(schema.get("description")):
            missing.append(f"schema {name}")
        missing += list(_properties(schema, name))
    return missing


def _properties(schema: dict[str, Any], at: str) -> Iterator[str]:
    """The undescribed properties of ``schema`` and of every object nested in it (array items,
    anyOf/oneOf/allOf branches, additionalProperties); a ``$ref`` is checked where it is
    defined, but the property that refers to it needs a description of its own."""
    for name, spec in schema.get("properties", {}).items():
        if not _text(spec.get("description")):
            yield f"{at}.{name}"
        yield from _properties(spec, f"{at}.{name}")
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            yield from _properties(branch, at)
    if isinstance(schema.get("items"), dict):
        yield from _properties(schema["items"], f"{at}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _properties(schema["additionalProperties"], f"{at}{{}}")


def _undescribed_ref(schema: dict[str, Any], document: dict[str, Any], at: str) -> list[str]:
    """A response's schema named by ``$ref`` must exist (its description is checked with the
    other schemas)."""
    ref = schema.get("$ref")
    if ref is None:
        return []
    name = ref.rsplit("/", 1)[-1]
    return [] if name in document["components"]["schemas"] else [f"{at}: no schema {name}"]


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def test_every_operation_parameter_response_schema_and_field_is_described() -> None:
    app = create_app(Settings(), series=(*SERIES, EXTRA))
    document = app.openapi()
    assert "/api/v1/counties/{fips}/records" in document["paths"]
    missing = undescribed(document)
    assert not missing, f"{len(missing)} without a description:\n" + "\n".join(missing)


def test_undescribed_finds_nested_referring_and_branch_properties() -> None:
    document = {
        "paths": {
            "/p": {
                "get": {
                    "summary": "",
                    "parameters": [
                        {"name": "a", "in": "query", "schema": {"description": "Said."}},
                        {"name": "b", "in": "query", "schema": {}},
                    ],
                    "responses": {
                        "200": {
                            "description": "Fine",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/X"}}
                            },
                        },
                        "404": {"description": " "},
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "X": {
                    "description": "An X.",
                    "properties": {
                        "ok": {"type": "integer", "description": "Said."},
                        "bare": {"type": "integer"},
                        "ref": {"$ref": "#/components/schemas/Y"},
                        "wrapped": {
                            "anyOf": [{"$ref": "#/components/schemas/Y"}, {"type": "null"}],
                            "description": "Said.",
                        },
                        "rows": {
                            "type": "array",
                            "description": "Said.",
                            "items": {"type": "object", "properties": {"inner": {}}},
                        },
                        "either": {
                            "description": "Said.",
                            "anyOf": [
                                {"type": "object", "properties": {"deep": {}}},
                                {"type": "null"},
                            ],
                        },
                    },
                },
                "Y": {"properties": {"z": {"description": "Said."}}},
            }
        },
    }
    assert undescribed(document) == [
        "GET /p: no summary or description",
        "GET /p: parameter b",
        "GET /p: response 404",
        "X.bare",
        "X.ref",
        "X.rows[].inner",
        "X.either.deep",
        "schema Y",
    ]
