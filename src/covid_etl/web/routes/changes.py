"""``/api/v1/runs/{id}/changes`` and ``/api/v1/changes``: the change log, what each run
inserted, revised or removed with the values before and after."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from covid_etl.series.changelog import to_csv, valid_series
from covid_etl.web.cache import Rendered
from covid_etl.web.context import cached, current_revision, web_context
from covid_etl.web.errors import ApiError, invalid_parameter
from covid_etl.web.params import (
    End,
    Format,
    Limit,
    Offset,
    Start,
    date_window,
    json_or_csv,
    response_format,
)
from covid_etl.web.render import CSV_TYPE, render_json
from covid_etl.web.schemas import ChangesPage, ErrorBody
from covid_etl.web.service import DataService

SERIES_PATTERN = "^(national|[0-9]{2}|anomalies:USA(-[0-9]{2}([0-9]{3})?)?:(cases|deaths|both))$"

router = APIRouter()

Series = Annotated[
    str | None,
    Query(
        description=(
            "Only this series: national, a state's two-digit FIPS code, or one NYT note's "
            "(anomalies:GEOID:TYPE, e.g. anomalies:USA-06:cases)."
        ),
        pattern=SERIES_PATTERN,
        examples=["national", "36"],
    ),
]
RESPONSES = json_or_csv(ChangesPage)


@router.get(
    "/api/v1/runs/{run_id}/changes",
    summary="What one run inserted, revised or removed, with values before and after",
    response_class=Response,
    responses={**RESPONSES, 404: {"model": ErrorBody, "description": "No such run"}},
)
async def run_changes(
    request: Request,
    run_id: Annotated[int, Path(ge=1, le=2**62, description="The run's id.")],
    series: Series = None,
    limit: Limit = None,
    offset: Offset = 0,
    fmt: Format = None,
) -> Response:
    which = _series_param(series)
    output = response_format(request, fmt)
    service = web_context(request).service
    revision = await current_revision(request)

    def build() -> Rendered:
        return changes_page(service, run_id, which, None, None, limit, offset, output)

    key = ("run_changes", revision, run_id, which, limit, offset, output)
    return await cached(request, revision, key, build)


@router.get(
    "/api/v1/changes",
    summary="Every recorded revision of a date range, oldest run first per day",
    response_class=Response,
    responses=RESPONSES,
)
async def changes(
    request: Request,
    series: Series = None,
    start: Start = None,
    end: End = None,
    limit: Limit = None,
    offset: Offset = 0,
    fmt: Format = None,
) -> Response:
    which = _series_param(series)
    first, last = date_window(start, end)
    output = response_format(request, fmt)
    service = web_context(request).service
    revision = await current_revision(request)

    def build() -> Rendered:
        return changes_page(service, None, which, first, last, limit, offset, output)

    key = ("changes", revision, which, first, last, limit, offset, output)
    return await cached(request, revision, key, build)


def changes_page(
    service: DataService,
    run_id: int | None,
    series: str | None,
    start: dt.date | None,
    end: dt.date | None,
    limit: int | None,
    offset: int,
    fmt: str,
) -> Rendered:
    """One page of entries, sorted by series, date and run; JSON says the filter's total. A 404
    when ``run_id`` names no run."""
    found = service.changes(run_id, series, start, end, limit, offset)
    if found is None:
        raise ApiError(404, f"no run #{run_id}")
    entries, total = found
    if fmt == "csv":
        return Rendered.of(to_csv(entries).encode(), CSV_TYPE)
    return render_json(
        {
            "changes": [e.to_dict() for e in entries],
            "total": total,
            "limit": limit if limit is not None else total,
            "offset": offset,
        }
    )


def _series_param(value: str | None) -> str | None:
    if value is not None and not valid_series(value):
        raise invalid_parameter(
            "series", "expected national, a two-digit FIPS code or anomalies:GEOID:TYPE", value
        )
    return value
