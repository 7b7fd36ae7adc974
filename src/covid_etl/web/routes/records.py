"""``/api/v1/records`` and ``/api/v1/summary``: the stored series with derived columns."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..cache import Rendered
from ..context import ERRORS, NOT_MODIFIED, cached, current_state, web_context
from ..errors import invalid_parameter
from ..render import render_csv, render_json
from ..schemas import RecordsPage, Summary

MAX_LIMIT = 100_000
MAX_OFFSET = 1_000_000
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# Documented as a date, but parsed by _date_param so that every malformed or impossible date
# gets the same 422 message.
_DATE_QUERY: dict[str, Any] = {
    "max_length": 10,
    "json_schema_extra": {"format": "date", "pattern": _DATE.pattern},
}

router = APIRouter()


@router.get(
    "/api/v1/records",
    summary="Daily records with derived columns",
    response_class=Response,
    responses={
        200: {
            "model": RecordsPage,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "JSON page, or CSV with format=csv or Accept: text/csv",
        },
        **NOT_MODIFIED,
        **ERRORS,
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
    service = web_context(request).service
    state = await current_state(request)

    def build() -> Rendered:
        page = service.records_page(state, first, last, limit, offset)
        if fmt == "csv":
            return render_csv(page["records"])
        return render_json(page)

    return await cached(request, state, ("records", state, first, last, limit, offset, fmt), build)


@router.get(
    "/api/v1/summary",
    summary="Latest record, totals, last run and freshness",
    response_class=Response,
    responses={200: {"model": Summary}, **NOT_MODIFIED, **ERRORS},
)
async def summary(request: Request) -> Response:
    context = web_context(request)
    state = await current_state(request)
    # The data's age changes at midnight even when the store does not.
    key = ("summary", state, context.clock().date())
    return await cached(request, state, key, lambda: render_json(context.service.summary(state)))


def _date_param(name: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    if not _DATE.match(value):
        raise invalid_parameter(name, "expected a date as YYYY-MM-DD", value)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid_parameter(name, f"{value} is not a calendar date", value) from None
