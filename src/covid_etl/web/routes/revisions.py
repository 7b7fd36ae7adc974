"""``/api/v1/revisions`` and ``/api/v1/states/{fips}/revisions``: how figures settled, per date
of the national series or one state's, from the change log and each run's as-of date
(:mod:`covid_etl.series.revisions` holds the definitions)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from covid_etl.series.changelog import NATIONAL
from covid_etl.series.revisions import Settled, page_of, report, settle, to_csv
from covid_etl.series.revisions import window as date_range
from covid_etl.store.base import Store
from covid_etl.web.cache import Rendered
from covid_etl.web.context import cached, current_revision, web_context
from covid_etl.web.errors import ApiError
from covid_etl.web.params import (
    End,
    Fips,
    Format,
    Limit,
    Offset,
    Start,
    date_window,
    fips_param,
    json_or_csv,
    response_format,
)
from covid_etl.web.render import CSV_TYPE, render_json
from covid_etl.web.schemas import ErrorBody, RevisionsPage

PATH = "/api/v1/revisions"
STATE_PATH = "/api/v1/states/{fips}/revisions"

router = APIRouter()

Measure = Annotated[
    Literal["cases", "deaths"],
    Query(description="The measure: cases (default) or deaths."),
]
NOTES = (
    " Per date: first published value and as-of date, final value, number of revisions, the "
    "last revision's as-of date and its lag in days; and the share of dates still revised 1, "
    "3, 7, 14, 30, 60 and 90 days after first publication. CSV: the per-date rows."
)


@router.get(
    PATH,
    summary="How the national figures settled: first published, final, revisions, lag",
    description="The national series' revisions, from the change log." + NOTES,
    response_class=Response,
    responses=json_or_csv(RevisionsPage),
)
async def national_revisions(
    request: Request,
    measure: Measure = "cases",
    start: Start = None,
    end: End = None,
    limit: Limit = None,
    offset: Offset = 0,
    fmt: Format = None,
) -> Response:
    first, last = date_window(start, end)
    form = response_format(request, fmt)
    return await _answer(request, NATIONAL, measure, first, last, limit, offset, form)


@router.get(
    STATE_PATH,
    summary="How one state's figures settled: first published, final, revisions, lag",
    description="One state's revisions, from the change log." + NOTES,
    response_class=Response,
    responses={
        **json_or_csv(RevisionsPage),
        404: {"model": ErrorBody, "description": "No stored series for this FIPS code"},
    },
)
async def state_revisions(
    request: Request,
    fips: Fips,
    measure: Measure = "cases",
    start: Start = None,
    end: End = None,
    limit: Limit = None,
    offset: Offset = 0,
    fmt: Format = None,
) -> Response:
    fips_param(fips)
    first, last = date_window(start, end)
    form = response_format(request, fmt)
    # As /api/v1/states/{fips}/records: a code with no stored series is a 404, checked before
    # the cache, so that a 404 is never registered for the fast path.
    service = web_context(request).service
    states = await run_in_threadpool(service.states, await current_revision(request))
    if fips not in states.by_fips:
        raise ApiError(404, f"no stored series for fips {fips}")
    return await _answer(request, fips, measure, first, last, limit, offset, form)


async def _answer(
    request: Request,
    place: str,
    measure: str,
    start: dt.date | None,
    end: dt.date | None,
    limit: int | None,
    offset: int,
    form: str,
) -> Response:
    service = web_context(request).service
    revision = await current_revision(request)

    def build() -> Rendered:
        settled = read_settled(service.store, place, measure, start, end)
        if form == "csv":
            chosen = page_of(date_range(settled, start, end).dates, limit, offset)
            return Rendered.of(to_csv(chosen).encode(), CSV_TYPE)
        return render_json(report(settled, place, measure, start, end, limit, offset))

    key = ("revisions", revision, place, measure, start, end, limit, offset, form)
    return await cached(request, revision, key, build)


def read_settled(
    store: Store, place: str, measure: str, start: dt.date | None, end: dt.date | None
) -> Settled:
    """How ``place``'s dates from ``start`` through ``end`` settled: the change-log entries
    carry their runs' as-of dates, so one read is enough."""
    entries = store.changes(series=place, start=start, end=end)
    return settle(entries, {entry.run_id: entry.as_of for entry in entries}, measure)
