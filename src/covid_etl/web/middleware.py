"""One plain ASGI middleware for what every response needs: security headers, open CORS for
reads, and the error shape for unexpected exceptions.

Plain ASGI rather than ``BaseHTTPMiddleware``: it only edits the response-start message, which
keeps the per-request cost negligible on the benchmark's hot path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from covid_etl.web.errors import error_body

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# No external origin anywhere: scripts, styles, images, fonts and fetches come from this server.
# Inline styles are allowed because chart and docs libraries set style attributes at run time;
# inline scripts are not.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The data is public: any site may read it, but only with safe methods.
CORS_HEADERS: list[tuple[bytes, bytes]] = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"ETag, Last-Modified, Content-Length"),
]
_PREFLIGHT_HEADERS: list[tuple[bytes, bytes]] = [
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"Accept, Accept-Encoding, If-None-Match, Content-Type"),
    (b"access-control-max-age", b"86400"),
]


class ApiHeadersMiddleware:
    """Adds the headers above to every HTTP response and answers CORS preflights."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and _has_header(scope, b"access-control-request-method"):
            await _send_simple(send, 204, b"", _PREFLIGHT_HEADERS)
            return
        started = False
        head = scope["method"] == "HEAD"
        if head:
            # HEAD is GET without the body: routes declare GET only, so answer it here once
            # for all of them (headers, Content-Length and ETag included).
            scope = {**scope, "method": "GET"}

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS + CORS_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Logged with the trace for the operator; the client gets the error shape only.
            log.exception("unhandled error on %s %s", scope["method"], scope.get("path"))
            if started:
                raise
            body = error_body(500, "internal server error")
            await _send_simple(send, 500, body, [(b"content-type", b"application/json")])


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key.lower() == name for key, _ in scope.get("headers", []))


async def _send_simple(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [*extra, *SECURITY_HEADERS, *CORS_HEADERS]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
