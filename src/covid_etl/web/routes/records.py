"""``/api/v1/records`` and ``/api/v1/summary``: the stored series with derived columns."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from covid_etl.web.cache import Rendered
from covid_etl.web.context import (
    ERRORS,
    NO_HISTORY,
    NOT_MODIFIED,
    as_of_run,
    cached,
    current_revision,
    web_context,
)
from covid_etl.web.params import (
    AsOf,
    End,
    Format,
    Limit,
    Offset,
    Start,
    date_param,
    date_window,
    json_or_csv,
    response_format,
)
from covid_etl.web.render import render_json, render_page
from covid_etl.web.schemas import RecordsPage, Summary

router = APIRouter()


@router.get(
    "/api/v1/records",
    summary="Daily records with derived columns",
    response_class=Response,
    responses={**json_or_csv(RecordsPage), **NO_HISTORY},
)
async def records(
    request: Request,
    start: Start = None,
    end: End = None,
    limit: Limit = None,
    offset: Offset = 0,
    fmt: Format = None,
    as_of: AsOf = None,
) -> Response:
    first, last = date_window(start, end)
    form = response_format(request, fmt)
    service = web_context(request).service
    revision = await current_revision(request)
    past = await as_of_run(request, date_param("as_of", as_of))

    def build() -> Rendered:
        series = service.series(revision) if past is None else service.series_as_of(past)
        return render_page(series.rows, first, last, limit, offset, form)

    key = ("records", revision, past and past.id, first, last, limit, offset, form)
    return await cached(request, revision, key, build)


@router.get(
    "/api/v1/summary",
    summary="Latest record, totals, last run and freshness",
    response_class=Response,
    responses={200: {"model": Summary}, **NOT_MODIFIED, **ERRORS, **NO_HISTORY},
)
async def summary(request: Request, as_of: AsOf = None) -> Response:
    context = web_context(request)
    revision = await current_revision(request)
    past = await as_of_run(request, date_param("as_of", as_of))
    # The data's age changes at midnight even when the store does not.
    key = ("summary", revision, past and past.id, context.clock().date())
    return await cached(
        request, revision, key, lambda: render_json(context.service.summary(revision, past))
    )
