"""``/api/v1/states`` and ``/api/v1/states/{fips}/records``: the per-state series with derived
and per-100k columns (:mod:`covid_etl.web.states`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from covid_etl.web.cache import Rendered
from covid_etl.web.context import NO_HISTORY, as_of_run, cached, current_revision, web_context
from covid_etl.web.errors import ApiError
from covid_etl.web.params import (
    DATE_QUERY,
    AsOf,
    End,
    Fips,
    Format,
    Limit,
    Offset,
    Start,
    date_param,
    date_window,
    fips_param,
    json_or_csv,
    response_format,
)
from covid_etl.web.render import render_csv, render_json, render_page
from covid_etl.web.schemas import ErrorBody, StateRecordsPage, StatesSnapshot
from covid_etl.web.states import SNAPSHOT_FIELDS, STATE_RECORD_FIELDS, snapshot

PREFIX = "/api/v1/states"
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "model": ErrorBody,
        "description": "No stored series for this FIPS code, or as_of before the oldest history",
    }
}

router = APIRouter()


@router.get(
    PREFIX,
    summary="Every state and territory on one date, with per-100k figures",
    response_class=Response,
    responses={**json_or_csv(StatesSnapshot, page=False), **NO_HISTORY},
)
async def states(
    request: Request,
    date: Annotated[
        str | None,
        Query(description="Snapshot day, YYYY-MM-DD (default: each one's latest).", **DATE_QUERY),
    ] = None,
    fmt: Format = None,
    as_of: AsOf = None,
) -> Response:
    on = date_param("date", date)
    form = response_format(request, fmt)
    service = web_context(request).service
    revision = await current_revision(request)
    past = await as_of_run(request, date_param("as_of", as_of))

    def build() -> Rendered:
        series = service.states(revision) if past is None else service.states_as_of(past)
        page = snapshot(series, on)
        if form == "csv":
            return render_csv(page["states"], SNAPSHOT_FIELDS)
        return render_json(page)

    key = ("states", revision, past and past.id, on, form)
    return await cached(request, revision, key, build)


@router.get(
    PREFIX + "/{fips}/records",
    summary="One state's daily records with derived and per-100k columns",
    response_class=Response,
    responses={**json_or_csv(StateRecordsPage), **_NOT_FOUND},
)
async def state_records(
    request: Request,
    fips: Fips,
    start: Start = None,
    end: End = None,
    limit: Limit = None,
    offset: Offset = 0,
    fmt: Format = None,
    as_of: AsOf = None,
) -> Response:
    fips_param(fips)
    first, last = date_window(start, end)
    form = response_format(request, fmt)
    service = web_context(request).service
    revision = await current_revision(request)
    past = await as_of_run(request, date_param("as_of", as_of))
    # Unknown fips is checked before the cache: a 404 is never registered for the fast path.
    if past is None:
        series = await run_in_threadpool(service.states, revision)
    else:
        series = await run_in_threadpool(service.states_as_of, past)
    jurisdiction = series.by_fips.get(fips)
    if jurisdiction is None:
        raise ApiError(404, f"no stored series for fips {fips}")

    def build() -> Rendered:
        head = {
            "fips": jurisdiction.fips,
            "name": jurisdiction.name,
            "population": jurisdiction.population,
        }
        return render_page(jurisdiction.rows, first, last, limit, offset, form,
                           STATE_RECORD_FIELDS, head)  # fmt: skip

    key = ("state_records", revision, past and past.id, fips, first, last, limit, offset, form)
    return await cached(request, revision, key, build)
