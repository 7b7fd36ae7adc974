"""``/api/v1/anomalies``: the NYT's notes on anomalous days (rolling-averages/anomalies.csv), as
stored by the last run: by place and date range, as JSON or as the NYT's own CSV."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from covid_etl.models import Anomaly
from covid_etl.sources.anomalies import YES
from covid_etl.web.cache import Rendered
from covid_etl.web.context import cached, current_revision, web_context
from covid_etl.web.errors import invalid_parameter
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
from covid_etl.web.render import render_csv, render_json, window_page
from covid_etl.web.schemas import AnomaliesPage

PATH = "/api/v1/anomalies"
# The NYT's columns in its file's order: the JSON objects' keys and the CSV's header.
NOTE_FIELDS = (
    "date",
    "end_date",
    "county",
    "state",
    "geoid",
    "type",
    "omit_from_rolling_average",
    "omit_from_rolling_average_on_subgeographies",
    "description",
)
# The two flags: "yes" or None as stored and in the CSV, booleans in JSON.
FLAGS = ("omit_from_rolling_average", "omit_from_rolling_average_on_subgeographies")
# The nation, a state (two digits) or a county (five digits), as the NYT spells them.
_GEOID = re.compile(r"^USA(-[0-9]{2}([0-9]{3})?)?$")

router = APIRouter()

Geoid = Annotated[
    str | None,
    Query(
        description="Only this place's notes, exactly as the NYT writes it: USA (the nation), "
        "USA-SS (a state by its two-digit FIPS code) or USA-SSCCC (a county by its five-digit "
        "code, the NYT's own such as USA-36998 for New York City included).",
        max_length=9,
        json_schema_extra={"pattern": _GEOID.pattern},
        examples=["USA", "USA-06", "USA-36998"],
    ),
]


@router.get(
    PATH,
    summary="The NYT's notes on anomalous days, by place and date range",
    description=(
        "Every stored note of the NYT's rolling-averages/anomalies.csv: why a day's figure looks "
        "wrong, and whether the NYT's 7-day averages (and this API's) leave the day out. A note "
        "covers the days from date to end_date (date alone when end_date is null) and is listed "
        "when any of them falls between start and end, so a window that starts inside a range "
        "finds the range's note. Sorted by date, then geoid and type; paged like "
        "/api/v1/records. CSV is the NYT's own format: its nine columns in its order, the flags "
        "as yes or empty."
    ),
    response_class=Response,
    responses=json_or_csv(AnomaliesPage),
)
async def anomalies(
    request: Request,
    geoid: Geoid = None,
    start: Start = None,
    end: End = None,
    limit: Limit = None,
    offset: Offset = 0,
    fmt: Format = None,
) -> Response:
    if geoid is not None and not _GEOID.match(geoid):
        raise invalid_parameter(
            "geoid", "expected USA, USA-SS (a state) or USA-SSCCC (a county)", geoid
        )
    first, last = date_window(start, end)
    form = response_format(request, fmt)
    service = web_context(request).service
    revision = await current_revision(request)

    def build() -> Rendered:
        rows = [_row(note) for note in service.anomalies(revision, geoid, first, last)]
        page = window_page(rows, None, None, limit, offset)
        if form == "csv":
            return render_csv(page["records"], NOTE_FIELDS)
        notes = [{**row, **{flag: row[flag] == YES for flag in FLAGS}} for row in page["records"]]
        return render_json(
            {
                "anomalies": notes,
                "total": page["total"],
                "limit": page["limit"],
                "offset": page["offset"],
            }
        )

    key = ("anomalies", revision, geoid, first, last, limit, offset, form)
    return await cached(request, revision, key, build)


def _row(note: Anomaly) -> dict[str, Any]:
    """A note as the NYT writes it, dates as ISO text: the CSV's row (None written empty), and
    the JSON's object once the flags are booleans."""
    return {
        "date": note.date.isoformat(),
        "end_date": note.end_date.isoformat() if note.end_date is not None else None,
        "county": note.county,
        "state": note.state,
        "geoid": note.geoid,
        "type": note.type,
        "omit_from_rolling_average": note.omit_from_rolling_average,
        "omit_from_rolling_average_on_subgeographies": (
            note.omit_from_rolling_average_on_subgeographies
        ),
        "description": note.description,
    }
