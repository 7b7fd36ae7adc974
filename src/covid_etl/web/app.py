"""The read-only HTTP API and the dashboard: ``create_app(settings)`` builds the ASGI app.

Routes (in :mod:`covid_etl.web.routes`, one module per concern) only parse parameters, look up
rendered bytes and send them; the data comes from :class:`~covid_etl.web.service.DataService`
(the store interface, any backend) and is cached per store revision by
:class:`~covid_etl.web.cache.ResponseCache`. The app runs no ETL itself: ``covid-etl serve``
passes the scheduler it built, and the AWS API function passes none.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from covid_etl import __version__
from covid_etl.models import utcnow
from covid_etl.run.scheduler import Scheduler
from covid_etl.series.registry import SERIES
from covid_etl.series.spec import Series
from covid_etl.settings import Settings
from covid_etl.store.base import Store
from covid_etl.web.cache import ResponseCache
from covid_etl.web.context import WebContext
from covid_etl.web.errors import install_error_handlers
from covid_etl.web.fastpath import FastPathMiddleware
from covid_etl.web.metrics import install_metrics
from covid_etl.web.middleware import ApiHeadersMiddleware
from covid_etl.web.routes import anomalies, changes, compat, pages, records, revisions, runs, states
from covid_etl.web.routes.series import series_router
from covid_etl.web.service import DataService

# Responses that depend only on the store revision (and the day): served by the fast path.
CACHED_PATHS = (
    "/api/v1/records",
    "/api/v1/summary",
    "/covid_data",
    "/api/v1/states",
    "/api/v1/anomalies",
    "/api/v1/revisions",
)
# Paths under these prefixes too (one state's records).
CACHED_PREFIXES = ("/api/v1/states/",)


def create_app(
    settings: Settings,
    *,
    scheduler: Scheduler | None = None,
    store: Store | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
    series: Sequence[Series] = SERIES,
) -> FastAPI:
    """The API over ``store`` (default: ``settings.database_url``, opened on first use). A
    ``scheduler``, if given, runs in a background thread for the app's lifespan. ``series``:
    the declared series served; the national and per-state ones have routes of their own, any
    other partitioned one gets the generic records route (:mod:`covid_etl.web.routes.series`)."""
    service = DataService(
        settings.database_url, settings.secrets(), clock=clock, store=store, series=series
    )
    context = WebContext(
        service=service,
        cache=ResponseCache(),
        raw=ResponseCache(max_entries=512),
        clock=clock,
        scheduler=scheduler,
        max_run_age=settings.max_run_age_seconds,
    )
    if scheduler is not None and scheduler.on_run is None:

        def forget() -> None:
            # Memory only: the revision in every key has already changed.
            context.cache.clear()
            context.raw.clear()

        scheduler.on_run = forget

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What start-up built (routes, schemas, the app's caches) lives as long as the app:
        # frozen out of the cyclic collector, a full collection stops walking it in the middle
        # of requests (p99 at 50 connections 56-97 ms -> 22-28 ms, docs/benchmarks-api.md).
        gc.collect()
        gc.freeze()
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            service.close()
            gc.unfreeze()  # collectable again once the app is gone (tests start many)

    app = FastAPI(
        title="covid-etl",
        version=__version__,
        description=(
            "US COVID-19 national series (NYT cases and deaths, JHU recoveries) and per-state "
            "series (NYT; per 100k from Census 2019 estimates), and the NYT's notes on "
            "anomalous days, read-only. "
            "Errors share one shape: {error: {status, code, message, details}}."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.context = context
    install_error_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(
        FastPathMiddleware,
        raw=context.raw,
        revision=context.revision,
        today=lambda: clock().date(),
        paths=frozenset(CACHED_PATHS),
        prefixes=CACHED_PREFIXES,
    )
    app.add_middleware(ApiHeadersMiddleware)
    # Outermost, so that the fast path's answers are counted too.
    install_metrics(app, context, frozenset(CACHED_PATHS))
    for routes in (records, runs, changes, anomalies, compat, pages, states, revisions):
        app.include_router(routes.router)
    for each in series:
        if each not in SERIES and each.partition is not None:
            app.include_router(series_router(each))
    pages.mount_dashboard(app)
    return app
