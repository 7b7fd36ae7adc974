"""Serve repeat requests straight from the cache, before FastAPI routes and validates them.

A request is answered here only if an identical one (same path, query string, CSV preference,
store revision and day) was already validated and rendered by a route, which registered its bytes
under that raw key; anything else falls through to the app. This keeps every validation rule in
the routes while a repeated read costs one store-revision query and a dictionary lookup, which is
what lets one process serve the whole series thousands of times a second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from covid_etl.web.cache import Rendered, ResponseCache
from covid_etl.web.middleware import ASGIApp, Receive, Scope, Send

# Clients may keep a copy but must revalidate each time: the ETag makes that a cheap 304, and a
# new run shows up at once instead of after a max-age.
CACHE_CONTROL = "public, no-cache"
VARY = "Accept, Accept-Encoding"


def raw_key(
    path: str, query: bytes, accept: str, revision: Hashable, day: dt.date
) -> tuple[Hashable, ...]:
    return (path, query, "text/csv" in accept, revision, day)


def negotiate(
    rendered: Rendered, accept_encoding: str, if_none_match: str | None
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body for ``rendered``: 304 when the client's ETag matches, the gzip
    body when the client accepts it."""
    gzip_ok = rendered.gzipped is not None and "gzip" in accept_encoding
    headers = [
        ("etag", rendered.gzip_etag if gzip_ok else rendered.etag),
        ("cache-control", CACHE_CONTROL),
        ("vary", VARY),
    ]
    if if_none_match and rendered.matches(if_none_match):
        return 304, headers, b""
    body = rendered.body
    if gzip_ok:
        assert rendered.gzipped is not None
        body = rendered.gzipped
        headers.append(("content-encoding", "gzip"))
    headers.append(("content-type", rendered.media_type))
    headers.append(("content-length", str(len(body))))
    return 200, headers, body


class FastPathMiddleware:
    """Answers GETs whose raw key is in ``raw``; passes everything else to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        raw: ResponseCache,
        revision: Callable[[], Awaitable[Hashable]],
        today: Callable[[], dt.date],
        paths: frozenset[str],
        prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.raw = raw
        self.revision = revision
        self.today = today
        self.paths = paths
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self._cached(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            # A store read, off the event loop and shared with concurrent requests.
            revision = await self.revision()
        except Exception:  # let the route produce the proper error response
            await self.app(scope, receive, send)
            return
        key = raw_key(
            scope["path"], scope["query_string"], headers.get("accept", ""), revision, self.today()
        )
        rendered = self.raw.get(key)
        if rendered is None:
            await self.app(scope, receive, send)
            return
        status, out, body = negotiate(
            rendered, headers.get("accept-encoding", ""), headers.get("if-none-match")
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in out],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _cached(self, path: str) -> bool:
        return path in self.paths or path.startswith(self.prefixes)


def _headers(scope: Scope) -> dict[str, Any]:
    # Header names arrive lower-cased (ASGI spec); a repeated header keeps its last value,
    # which is fine for the three we read.
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
