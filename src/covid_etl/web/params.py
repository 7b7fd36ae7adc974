"""Parameters the data routes share (dates, paging, format, a state's FIPS code), declared once
so that every route documents and checks them alike, and the one parser of their dates."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request

from covid_etl.web.context import ERRORS, NOT_MODIFIED
from covid_etl.web.errors import invalid_parameter

MAX_LIMIT = 100_000
MAX_OFFSET = 1_000_000
DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# Documented as a date, but parsed by date_param so that every malformed or impossible date
# gets the same 422 message.
DATE_QUERY: dict[str, Any] = {
    "max_length": 10,
    "json_schema_extra": {"format": "date", "pattern": DATE.pattern},
}

Start = Annotated[str | None, Query(description="First day, YYYY-MM-DD (inclusive).", **DATE_QUERY)]
End = Annotated[str | None, Query(description="Last day, YYYY-MM-DD (inclusive).", **DATE_QUERY)]
AsOf = Annotated[
    str | None,
    Query(
        description=(
            "The data as it stood on this day, YYYY-MM-DD: after the last succeeded run whose "
            "as-of date is that day or earlier (404 before the oldest history the store holds)."
        ),
        **DATE_QUERY,
    ),
]
Limit = Annotated[
    int | None, Query(ge=1, le=MAX_LIMIT, description="Rows per page (default: all).")
]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]
Format = Annotated[
    Literal["json", "csv"] | None, Query(alias="format", description="json (default) or csv.")
]


FIPS = re.compile(r"^[0-9]{2}$")
# Documented with its pattern, but checked by fips_param so that a bad code gets the API's 422.
Fips = Annotated[
    str,
    Path(
        description="Two-digit FIPS code, e.g. 06 (California).",
        max_length=2,
        json_schema_extra={"pattern": FIPS.pattern},
    ),
]


def json_or_csv(model: type, *, page: bool = True, **extra: Any) -> dict[int | str, Any]:
    """The documented answers of a data route: ``model`` as JSON or the same rows as CSV, 304,
    the error shape, and ``extra`` (e.g. a 404)."""
    what = "JSON page" if page else "JSON"
    return {
        200: {
            "model": model,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": f"{what}, or CSV with format=csv or Accept: text/csv",
        },
        **NOT_MODIFIED,
        **{int(code): answer for code, answer in extra.items()},
        **ERRORS,
    }


def date_param(name: str, value: str | None) -> dt.date | None:
    """A date query parameter, or a 422 naming it."""
    if value is None:
        return None
    if not DATE.match(value):
        raise invalid_parameter(name, "expected a date as YYYY-MM-DD", value)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid_parameter(name, f"{value} is not a calendar date", value) from None


def fips_param(fips: str) -> str:
    """A state's FIPS path parameter, or a 422."""
    if not FIPS.match(fips):
        raise invalid_parameter("fips", "expected a two-digit FIPS code", fips)
    return fips


def date_window(start: str | None, end: str | None) -> tuple[dt.date | None, dt.date | None]:
    """``start`` and ``end`` as dates; a 422 when the window is empty by construction."""
    first, last = date_param("start", start), date_param("end", end)
    if first and last and first > last:
        raise invalid_parameter("start", f"{first} is after end {last}", start)
    return first, last


def response_format(request: Request, fmt: str | None) -> str:
    """``format=`` when given, else CSV when the client accepts it, else JSON."""
    if fmt is not None:
        return fmt
    return "csv" if "text/csv" in request.headers.get("accept", "") else "json"
