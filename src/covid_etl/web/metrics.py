"""``GET /metrics``: Prometheus text format, through the ``prometheus-client`` library.

Two kinds of series:

- the run history, read from the store at scrape time (so runs started by cron or another
  process count too): runs by status, the last success's time, the last run's duration and the
  rows it inserted and updated, notifications pending, staleness;
- HTTP requests of this process, counted by a pure ASGI middleware: by route *template* (never
  the raw path, which would let any caller create series without bound), method and status, with
  a latency histogram.

Every label value comes from a fixed set (route templates, methods, status codes, run statuses),
so no URL, query string or secret can reach a label. Each app has its own registry: two apps in
one process (tests) never share counters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from covid_etl.models import RunRecord, RunStatus
from covid_etl.web.context import ERRORS, WebContext
from covid_etl.web.errors import ApiError
from covid_etl.web.schemas import ErrorBody

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from covid_etl.monitor.staleness import Health
    from covid_etl.store.base import Store

log = logging.getLogger(__name__)

# Latency buckets for an API whose cached answers take well under a millisecond.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED = "unmatched"
# Clients may send any token as a method; only these become label values.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class RunStats:
    """What the store says, read once per scrape."""

    runs_by_status: dict[str, int]
    last_success_at: float | None
    last_run: RunRecord | None
    notifications_pending: int
    health: Health | None


def read_run_stats(store: Store, assess_health: Callable[[], Health | None]) -> RunStats:
    counts = {str(status): 0 for status in RunStatus}
    offset = 0
    while True:
        page = store.list_runs(limit=_PAGE, offset=offset)
        for run in page:
            counts[str(run.status)] = counts.get(str(run.status), 0) + 1
        if len(page) < _PAGE:
            break
        offset += _PAGE
    success = store.last_successful_run()
    finished = success.finished_at if success is not None else None
    return RunStats(
        runs_by_status=counts,
        last_success_at=finished.timestamp() if finished else None,
        last_run=store.last_run(),
        notifications_pending=len(store.pending_notifications()),
        health=assess_health(),
    )


class RunCollector(Collector):
    """Turns :class:`RunStats` into metric families at each scrape."""

    def __init__(self, read: Callable[[], RunStats]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        stats = self.read()
        runs = CounterMetricFamily(
            "covid_etl_runs", "Runs in the store's history, by status.", labels=["status"]
        )
        for status, count in sorted(stats.runs_by_status.items()):
            runs.add_metric([status], count)
        yield runs
        if stats.last_success_at is not None:
            yield GaugeMetricFamily(
                "covid_etl_last_success_timestamp_seconds",
                "When the last successful run finished (Unix time).",
                value=stats.last_success_at,
            )
        yield from _last_run_metrics(stats.last_run)
        yield GaugeMetricFamily(
            "covid_etl_notifications_pending",
            "Run notifications waiting for delivery (retried by the next run).",
            value=stats.notifications_pending,
        )
        if stats.health is not None and stats.health.max_age is not None:
            yield GaugeMetricFamily(
                "covid_etl_stale",
                "1 when no run succeeded within COVID_ETL_MAX_RUN_AGE, else 0.",
                value=1 if stats.health.stale else 0,
            )


def _last_run_metrics(run: RunRecord | None) -> Iterable[Metric]:
    if run is None or run.finished_at is None:
        return  # nothing finished yet, or a run is going: no figures to report
    yield GaugeMetricFamily(
        "covid_etl_last_run_duration_seconds",
        "Duration of the last finished run.",
        value=max(0.0, (run.finished_at - run.started_at).total_seconds()),
    )
    rows = GaugeMetricFamily(
        "covid_etl_last_run_rows", "Rows the last finished run changed, by kind.", labels=["change"]
    )
    rows.add_metric(["inserted"], run.inserted)
    rows.add_metric(["updated"], run.updated)
    yield rows


class HttpMetrics:
    """Request counter and latency histogram of one app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "covid_etl_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "covid_etl_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

        # The labelled children by label values: labels() takes a lock and builds a key on
        # every call, a noticeable share of a cached answer's few tens of microseconds.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        children = self._children.get((route, method, status))
        if children is None:
            known = method if method in METHODS else "other"
            children = (
                self.requests.labels(route, known, str(status)),
                self.latency.labels(route),
            )
            if known == method:  # an invented method must not grow this dict either
                self._children[(route, method, status)] = children
        children[0].inc()
        children[1].observe(seconds)


def route_template(scope: Scope, fixed_paths: frozenset[str]) -> str:
    """The matched route's template (``/api/v1/records``); paths the fast path answers before
    routing are fixed strings already; anything else is one ``unmatched`` series."""
    route = scope.get("route")
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if isinstance(scope.get("endpoint"), StaticFiles):
        # FastAPI names no route for a mount; the dashboard's files are mounted at the root.
        return "/{path}"
    if scope.get("path") in fixed_paths:
        return str(scope["path"])
    return UNMATCHED


class MetricsMiddleware:
    """Counts every HTTP request with its status and latency (outermost, so the fast path's
    answers count too)."""

    def __init__(self, app: ASGIApp, *, http: HttpMetrics, fixed_paths: frozenset[str]) -> None:
        self.app = app
        self.http = http
        self.fixed_paths = fixed_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_template(scope, self.fixed_paths)
            self.http.observe(route, scope["method"], status, time.perf_counter() - started)


def build_registry(read_stats: Callable[[], RunStats]) -> tuple[CollectorRegistry, HttpMetrics]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector(read_stats))
    return registry, HttpMetrics(registry)


def install_metrics(app: FastAPI, context: WebContext, fixed_paths: frozenset[str]) -> None:
    """Count every request (call it after the other middleware, so this one is outermost) and
    serve ``GET /metrics`` from a registry of this app's own."""

    def stats() -> RunStats:
        return read_run_stats(context.service.store, context.staleness)

    registry, http = build_registry(stats)
    app.state.metrics_registry = registry
    app.add_middleware(MetricsMiddleware, http=http, fixed_paths=fixed_paths)
    app.include_router(router)


router = APIRouter()


@router.get(
    "/metrics",
    summary="Prometheus metrics: run history, staleness, HTTP requests",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        503: {"model": ErrorBody},
        **ERRORS,
    },
)
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    try:
        # The run series read the store: a worker thread, never the event loop.
        body = await run_in_threadpool(generate_latest, registry)
    except Exception as exc:  # any reason the store cannot be read; logged with its cause
        log.warning("metrics: the store cannot be read: %s", exc)
        raise ApiError(503, "store unavailable") from None
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
