"""The read-only HTTP API and the dashboard: ``create_app(settings)`` builds the ASGI app.

Routes only parse parameters, look up rendered bytes and send them; the data comes from
:class:`~covid_etl.web.service.DataService` (the store interface, any backend) and is cached per
store state by :class:`~covid_etl.web.cache.ResponseCache`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..models import utcnow
from ..scheduler import Scheduler, cron_scheduler
from ..settings import SCHEDULE_OFF, Settings
from ..store.base import Store
from .cache import Rendered, ResponseCache
from .docs import DOCS_HTML, DOCS_INIT_JS
from .errors import ApiError, install_error_handlers, invalid_parameter
from .fastpath import FastPathMiddleware, negotiate, raw_key
from .middleware import ApiHeadersMiddleware
from .render import render_csv, render_json
from .schemas import ErrorBody, Health, LegacyData, RecordsPage, RunsPage, Summary

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
MAX_LIMIT = 100_000
MAX_OFFSET = 1_000_000
MAX_RUNS = 1_000
# Responses that depend only on the store state (and the day): served by the fast path.
CACHED_PATHS = ("/api/v1/records", "/api/v1/summary", "/covid_data")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# Documented as a date, but parsed by _date_param so that every malformed or impossible date
# gets the same 422 message.
_DATE_QUERY: dict[str, Any] = {
    "max_length": 10,
    "json_schema_extra": {"format": "date", "pattern": _DATE.pattern},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "Invalid parameter"},
    500: {"model": ErrorBody, "description": "Server fault"},
}
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified (ETag)"}}


def create_app(
    settings: Settings,
    *,
    scheduler: Scheduler | None = None,
    store: Store | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> FastAPI:
    """The API for ``settings.database_url``. A scheduler (given, or built from
    ``settings.schedule`` unless it is ``off``) runs in a background thread for the app's
    lifespan."""
    from .service import DataService

    service = DataService(settings.database_url, settings.secrets(), clock=clock, store=store)
    cache = ResponseCache()
    raw = ResponseCache(max_entries=512)  # the same bytes, by raw request, for the fast path
    if scheduler is None and settings.schedule != SCHEDULE_OFF:
        scheduler = cron_scheduler(settings, settings.schedule)
    if scheduler is not None and scheduler.on_run is None:

        def forget() -> None:
            # Memory only: the state in every key has already changed.
            cache.clear()
            raw.clear()

        scheduler.on_run = forget

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            service.close()

    app = FastAPI(
        title="covid-etl",
        version=__version__,
        description=(
            "US COVID-19 national series (NYT cases and deaths, JHU recoveries), read-only. "
            "Errors share one shape: {error: {status, code, message, details}}."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.cache = cache
    app.state.scheduler = scheduler
    install_error_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(
        FastPathMiddleware,
        raw=raw,
        state=service.state,
        today=lambda: clock().date(),
        paths=frozenset(CACHED_PATHS),
    )
    app.add_middleware(ApiHeadersMiddleware)
    registry = _install_metrics(app, settings, service, clock)

    def cached(
        request: Request, state: Hashable, key: tuple[Any, ...], build: Callable[[], Rendered]
    ) -> Response:
        rendered = cache.get_or_render(key, build)
        accept = request.headers.get("accept", "")
        day = clock().date()
        scope = request.scope
        raw.put(raw_key(scope["path"], scope["query_string"], accept, state, day), rendered)
        return send(request, rendered)

    @app.get(
        "/api/v1/records",
        summary="Daily records with derived columns",
        response_class=Response,
        responses={
            200: {
                "model": RecordsPage,
                "content": {"text/csv": {"schema": {"type": "string"}}},
                "description": "JSON page, or CSV with format=csv or Accept: text/csv",
            },
            **_NOT_MODIFIED,
            **_ERRORS,
        },
    )
    async def records(
        request: Request,
        start: Annotated[
            str | None, Query(description="First day, YYYY-MM-DD (inclusive).", **_DATE_QUERY)
        ] = None,
        end: Annotated[
            str | None, Query(description="Last day, YYYY-MM-DD (inclusive).", **_DATE_QUERY)
        ] = None,
        limit: Annotated[
            int | None, Query(ge=1, le=MAX_LIMIT, description="Rows per page (default: all).")
        ] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0,
        fmt: Annotated[
            Literal["json", "csv"] | None,
            Query(alias="format", description="json (default) or csv."),
        ] = None,
    ) -> Response:
        first, last = _date_param("start", start), _date_param("end", end)
        if first and last and first > last:
            raise invalid_parameter("start", f"{first} is after end {last}", start)
        if fmt is None:
            fmt = "csv" if "text/csv" in request.headers.get("accept", "") else "json"
        state = service.state()

        def build() -> Rendered:
            page = service.records_page(state, first, last, limit, offset)
            if fmt == "csv":
                return render_csv(page["records"])
            return render_json(page)

        return cached(request, state, ("records", state, first, last, limit, offset, fmt), build)

    @app.get(
        "/api/v1/summary",
        summary="Latest record, totals, last run and freshness",
        response_class=Response,
        responses={200: {"model": Summary}, **_NOT_MODIFIED, **_ERRORS},
    )
    async def summary(request: Request) -> Response:
        state = service.state()
        # The data's age changes at midnight even when the store does not.
        key = ("summary", state, clock().date())
        return cached(request, state, key, lambda: render_json(service.summary(state)))

    @app.get(
        "/api/v1/runs",
        summary="Run history, most recent first (secrets masked)",
        response_class=Response,
        responses={200: {"model": RunsPage}, **_NOT_MODIFIED, **_ERRORS},
    )
    async def runs(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_RUNS, description="Most recent N runs.")] = 20,
    ) -> Response:
        # Not cached: notification outcomes are written after a run finishes, without a new
        # state; twenty rows are cheap to read.
        return send(request, render_json(service.runs(limit)))

    @app.get(
        "/covid_data",
        summary="The original design's 13-column table (compatibility)",
        response_class=Response,
        responses={200: {"model": LegacyData}, **_NOT_MODIFIED, **_ERRORS},
    )
    async def covid_data(request: Request) -> Response:
        state = service.state()
        build = lambda: render_json(service.legacy(state))  # noqa: E731
        return cached(request, state, ("legacy", state), build)

    @app.get(
        "/healthz",
        summary="Liveness and store reachability",
        response_class=Response,
        responses={200: {"model": Health}, 503: {"model": ErrorBody}, **_ERRORS},
    )
    async def healthz() -> Response:
        try:
            state = service.state()
            through = service.series(state).rows[-1]["date"] if state[0] else None
            # Staleness is reported, never a reason for a non-200: a restart cannot fix it.
            health = _health(service.store, settings, clock)
        except Exception as exc:
            log.warning("health check failed: %s", exc)
            raise ApiError(503, "store unavailable") from None
        status = scheduler.status() if scheduler is not None else {"enabled": False}
        body = render_json(
            {
                "status": "ok",
                "data_through": through,
                "scheduler": status,
                "stale": health.stale,
                "freshness": health.to_dict(),
            }
        )
        return Response(
            body.body, media_type=body.media_type, headers={"Cache-Control": "no-store"}
        )

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **_ERRORS},
    )
    async def metrics() -> Response:
        from .metrics import exposition

        try:
            body, content_type = exposition(registry)
        except Exception as exc:
            log.warning("metrics could not read the store: %s", exc)
            raise ApiError(503, "store unavailable") from None
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return Response(DOCS_HTML, media_type="text/html; charset=utf-8")

    @app.get("/docs/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(DOCS_INIT_JS, media_type="text/javascript; charset=utf-8")

    if STATIC_DIR.is_dir():
        # Last, so API routes win; html=True serves index.html at "/".
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="dashboard")
    return app


def _health(store: Store, settings: Settings, clock: Callable[[], dt.datetime]) -> Any:
    from ..staleness import assess, read_facts

    return assess(read_facts(store), clock(), settings.max_run_age_seconds)


def _install_metrics(
    app: FastAPI, settings: Settings, service: Any, clock: Callable[[], dt.datetime]
) -> Any:
    """Count every request (outermost middleware) and read the run history at each scrape."""
    from .metrics import MetricsMiddleware, build_registry, read_run_stats

    def stats() -> Any:
        return read_run_stats(service.store, lambda store: _health(store, settings, clock))

    registry, http = build_registry(stats)
    app.add_middleware(MetricsMiddleware, http=http, fixed_paths=frozenset(CACHED_PATHS))
    return registry


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


def _date_param(name: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    if not _DATE.match(value):
        raise invalid_parameter(name, "expected a date as YYYY-MM-DD", value)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid_parameter(name, f"{value} is not a calendar date", value) from None
