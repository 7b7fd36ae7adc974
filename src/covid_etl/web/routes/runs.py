"""``/api/v1/runs`` and ``/healthz``: the run history and the liveness probe."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from covid_etl.web.context import ERRORS, NOT_MODIFIED, send, web_context
from covid_etl.web.errors import ApiError
from covid_etl.web.render import render_json
from covid_etl.web.schemas import ErrorBody, Health, RunsPage

log = logging.getLogger(__name__)

MAX_RUNS = 1_000

router = APIRouter()


@router.get(
    "/api/v1/runs",
    summary="Run history, most recent first (secrets masked)",
    response_class=Response,
    responses={200: {"model": RunsPage}, **NOT_MODIFIED, **ERRORS},
)
async def runs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS, description="Most recent N runs.")] = 20,
) -> Response:
    # Not cached: notification outcomes are written after a run finishes, without a new
    # revision; twenty rows are cheap to read.
    service = web_context(request).service
    return send(request, render_json(await run_in_threadpool(service.runs, limit)))


@router.get(
    "/healthz",
    summary="Liveness: 200 whenever the store answers, 503 when it cannot be read",
    response_class=Response,
    responses={200: {"model": Health}, 503: {"model": ErrorBody}, **ERRORS},
)
async def healthz(request: Request) -> Response:
    context = web_context(request)
    try:
        health = await run_in_threadpool(context.service.health)
        # Staleness is reported, never a reason for a non-200: a restart cannot fix it.
        verdict = await run_in_threadpool(context.staleness)
    except Exception as exc:  # any reason the store cannot be read; logged with its cause
        log.warning("health check failed: the store cannot be read: %s", exc)
        raise ApiError(503, "store unavailable") from None
    scheduler = context.scheduler
    status = scheduler.status() if scheduler is not None else {"enabled": False}
    body = render_json(
        {
            "status": "ok",
            **health,
            "scheduler": status,
            "stale": verdict.stale,
            "freshness": verdict.to_dict(),
        }
    )
    return Response(body.body, media_type=body.media_type, headers={"Cache-Control": "no-store"})
