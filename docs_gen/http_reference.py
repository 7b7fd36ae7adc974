"""docs/reference/http-api.md: every path, method, parameter, response and schema of the
OpenAPI document the web app serves at /openapi.json."""

from __future__ import annotations

import re
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def anchor(*words: str) -> str:
    """A heading id made of lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", " ".join(words).lower()).strip("-")


def schema_anchor(name: str) -> str:
    return anchor("schema", name)


def ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def describe_type(schema: dict[str, Any]) -> str:
    """A schema in a few words: ``integer (1 to 100000)``, ``array of RecordOut``, ``one of
    `json`, `csv` or null``. Schema names link to their section."""
    if "$ref" in schema:
        name = ref_name(schema["$ref"])
        return f"[{name}](#{schema_anchor(name)})"
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf", schema.get("oneOf", []))
        if "format" in schema:  # pydantic puts an optional value's format beside the anyOf
            options = [
                {"format": schema["format"], **option} if option.get("type") == "string" else option
                for option in options
            ]
        return " or ".join(dict.fromkeys(describe_type(option) for option in options))
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return "array of " + describe_type(schema.get("items", {}))
    if kind == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        return (
            f"object of {describe_type(extra)}" if extra and isinstance(extra, dict) else "object"
        )
    details = _details(schema)
    return f"{kind} ({', '.join(details)})" if details else str(kind)


def _details(schema: dict[str, Any]) -> list[str]:
    """Format and bounds of a plain value."""
    details = [schema["format"]] if "format" in schema else []
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        details.append(f"{low} to {high}")
    elif low is not None:
        details.append(f"at least {low}")
    elif high is not None:
        details.append(f"at most {high}")
    if "maxLength" in schema:
        details.append(f"at most {schema['maxLength']} characters")
    return details


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation, sorted by path then method."""
    found = []
    for path in sorted(document.get("paths", {})):
        for method, operation in document["paths"][path].items():
            if method in METHODS:
                found.append((method.upper(), path, operation))
    return found


def _parameters(operation: dict[str, Any]) -> list[str]:
    from .markdown import code, table

    parameters = operation.get("parameters", [])
    if not parameters:
        return ["No parameters.", ""]
    rows = []
    for p in parameters:
        schema = p.get("schema", {})
        default = code(repr(schema["default"])) if "default" in schema else ""
        description = p.get("description") or schema.get("description", "")
        rows.append(
            (
                code(p["name"]), p["in"], "yes" if p.get("required") else "no",
                describe_type(schema), default, description,
            )
        )  # fmt: skip
    header = ("Parameter", "In", "Required", "Type", "Default", "Description")
    return ["**Parameters**", "", *table(header, rows), ""]


def _request_body(operation: dict[str, Any]) -> list[str]:
    body = operation.get("requestBody")
    if body is None:
        return []
    content = body.get("content", {})
    kinds = "; ".join(
        f"`{media}`: {describe_type(v.get('schema', {}))}" for media, v in content.items()
    )
    return [f"**Request body** ({'required' if body.get('required') else 'optional'}): {kinds}", ""]


def _responses(operation: dict[str, Any]) -> list[str]:
    from .markdown import table

    rows = []
    for status in sorted(operation.get("responses", {})):
        response = operation["responses"][status]
        content = response.get("content", {})
        bodies = "; ".join(
            f"`{media}`: {describe_type(v.get('schema', {}))}" for media, v in content.items()
        )
        rows.append((f"`{status}`", response.get("description", ""), bodies or "(no body)"))
    return ["**Responses**", "", *table(("Status", "Description", "Body"), rows), ""]


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    from .markdown import code, table

    lines = [f"### {name} {{#{schema_anchor(name)}}}", ""]
    if schema.get("description"):
        lines += [schema["description"], ""]
    properties = schema.get("properties", {})
    if not properties:
        return [*lines, describe_type(schema), ""]
    required = set(schema.get("required", []))
    rows = [
        (
            code(field), describe_type(spec), "yes" if field in required else "no",
            spec.get("description", ""),
        )
        for field, spec in properties.items()
    ]  # fmt: skip
    return [*lines, *table(("Field", "Type", "Always present", "Description"), rows), ""]


def http_page(document: dict[str, Any]) -> str:
    from .markdown import generated_note

    info = document.get("info", {})
    lines = [
        "# HTTP API",
        "",
        generated_note("the OpenAPI document of the web app (`covid_etl.web.app.create_app`)"),
        "",
        f"{info.get('title', '')} {info.get('version', '')}, OpenAPI "
        f"{document.get('openapi', '')}. {info.get('description', '')}",
        "",
        "A running `covid-etl serve` serves this document at `/openapi.json` and an interactive "
        "version at `/docs`. The [API guide](../api.md) explains caching, errors, paging and the "
        "dashboard.",
        "",
        "## Endpoints",
        "",
    ]
    for method, path, operation in operations(document):
        summary = operation.get("summary", "")
        lines.append(f"- [`{method} {path}`](#{anchor(method, path)}): {summary}")
    lines.append("")
    for method, path, operation in operations(document):
        lines += [f"## `{method} {path}` {{#{anchor(method, path)}}}", ""]
        if operation.get("summary"):
            lines += [f"**{operation['summary']}**", ""]
        if operation.get("description"):
            lines += [operation["description"].strip(), ""]
        lines += _parameters(operation) + _request_body(operation) + _responses(operation)
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Schemas", ""]
        for name in sorted(schemas):
            lines += _schema(name, schemas[name])
    return "\n".join(lines)


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document; building the app opens no database."""
    from covid_etl.settings import Settings
    from covid_etl.web.app import create_app

    return create_app(Settings()).openapi()


def page() -> str:
    return http_page(openapi_document())
