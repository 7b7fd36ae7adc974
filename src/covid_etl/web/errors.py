"""The API's one error shape, used for every 4xx and 5xx it sends:

    {"error": {"status": 422, "code": "invalid_parameter", "message": "...", "details": [...]}}

Handlers here turn FastAPI's validation errors, Starlette's HTTP errors and our own
:class:`ApiError` into that shape; :mod:`covid_etl.web.middleware` does the same for unexpected
exceptions, so a server fault never shows a stack trace.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import Response

_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    422: "invalid_parameter",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error to answer with: status, machine-readable code, message and optional details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details or []


def invalid_parameter(name: str, message: str, value: object = None) -> ApiError:
    """A 422 about one query parameter."""
    detail: dict[str, Any] = {"parameter": name, "message": message}
    if value is not None:
        detail["value"] = value
    return ApiError(422, f"{name}: {message}", details=[detail])


def error_body(
    status: int, message: str, code: str | None = None, details: list[Any] | None = None
) -> bytes:
    payload = {
        "error": {
            "status": status,
            "code": code or _CODES.get(status, "error"),
            "message": message,
            "details": details or [],
        }
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def error_response(error: ApiError) -> Response:
    from starlette.responses import Response

    return Response(
        error_body(error.status, error.message, error.code, error.details),
        status_code=error.status,
        media_type="application/json",
    )


def install_error_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = [_validation_detail(e) for e in exc.errors()]
        message = "; ".join(f"{d['parameter']}: {d['message']}" for d in details)
        return error_response(ApiError(422, message or "invalid request", details=details))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
        response = error_response(ApiError(status, message))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http_error)


def _validation_detail(error: Any) -> dict[str, Any]:
    location = [str(part) for part in error.get("loc", ())]
    # loc is ("query", "limit"): the parameter's name is what a client can act on.
    name = location[-1] if location else "request"
    detail: dict[str, Any] = {"parameter": name, "message": str(error.get("msg", "invalid"))}
    if "input" in error and isinstance(error["input"], str | int | float):
        detail["value"] = error["input"]
    return detail
