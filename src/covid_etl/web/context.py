"""What every route needs, built once per app by :func:`covid_etl.web.app.create_app` and
reached from a request: the data service, the response caches and the clock; plus the helpers
that send cached bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from covid_etl.web.cache import Rendered, ResponseCache, Revision
from covid_etl.web.fastpath import negotiate, raw_key
from covid_etl.web.schemas import ErrorBody
from covid_etl.web.shared_read import SharedRead

if TYPE_CHECKING:
    from covid_etl.models import RunRecord
    from covid_etl.monitor.staleness import Health
    from covid_etl.run.scheduler import Scheduler
    from covid_etl.web.service import DataService

ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "Invalid parameter"},
    500: {"model": ErrorBody, "description": "Server fault"},
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified (ETag)"}}
NO_HISTORY: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "as_of before the oldest history the store holds"}
}


@dataclass(frozen=True, slots=True)
class WebContext:
    """The app's shared objects; ``raw`` holds the same bytes as ``cache``, keyed by the raw
    request, for the fast path."""

    service: DataService
    cache: ResponseCache
    raw: ResponseCache
    clock: Callable[[], dt.datetime]
    scheduler: Scheduler | None
    # COVID_ETL_MAX_RUN_AGE in seconds (None: off), for /healthz and /metrics.
    max_run_age: float | None = None
    # The store revision as requests read it: off the event loop, shared by concurrent requests.
    revision: SharedRead[Revision] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "revision", SharedRead(self.service.revision))  # frozen dataclass

    def staleness(self) -> Health:
        """The staleness verdict now (reads the store: call it from a worker thread)."""
        from covid_etl.monitor.staleness import assess, read_facts

        return assess(read_facts(self.service.store), self.clock(), self.max_run_age)


def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.context
    return context


async def current_revision(request: Request) -> Revision:
    """The store revision, read in a worker thread (a network round trip on PostgreSQL)."""
    return await web_context(request).revision()


async def as_of_run(request: Request, day: dt.date | None) -> RunRecord | None:
    """The run whose data answers ``as_of=day`` (None without it): 404 in the error shape
    before the oldest history the store holds."""
    from covid_etl.store.asof import NoHistory
    from covid_etl.web.errors import ApiError

    if day is None:
        return None
    try:
        return await run_in_threadpool(web_context(request).service.as_of_run, day)
    except NoHistory as exc:
        raise ApiError(404, exc.message, code="no_history") from None


async def cached(
    request: Request, revision: Hashable, key: tuple[Any, ...], build: Callable[[], Rendered]
) -> Response:
    """Send the rendered response for ``key``, building it on a miss, and register its bytes
    for the fast path under the raw request."""
    context = web_context(request)
    rendered = context.cache.get(key)
    if rendered is None:
        # Building reads the store and renders: a worker thread, never the event loop.
        rendered = await run_in_threadpool(build)
        context.cache.put(key, rendered)
    scope = request.scope
    accept = request.headers.get("accept", "")
    day = context.clock().date()
    context.raw.put(raw_key(scope["path"], scope["query_string"], accept, revision, day), rendered)
    return send(request, rendered)


def send(request: Request, rendered: Rendered) -> Response:
    """Answer with ``rendered``: 304 when the client's ETag matches, gzip when accepted."""
    status, headers, body = negotiate(
        rendered,
        request.headers.get("accept-encoding", ""),
        request.headers.get("if-none-match"),
    )
    response = Response(body, status_code=status)
    response.raw_headers = [(k.encode(), v.encode()) for k, v in headers]
    return response
