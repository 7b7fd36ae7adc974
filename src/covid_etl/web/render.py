"""Turn payloads into response bytes: compact JSON (numbers stay numbers, null stays null) and
CSV with the same columns and values (null as an empty field)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from typing import Any

from covid_etl.series.registry import NATIONAL
from covid_etl.web.cache import Rendered

# The national records' columns, the CSV's default header.
RECORD_FIELDS = tuple(column.name for column in NATIONAL.record_columns)

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"


def render_json(payload: Any) -> Rendered:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return Rendered.of(body, JSON_TYPE)


def render_csv(rows: Sequence[dict[str, Any]], fields: Sequence[str] = RECORD_FIELDS) -> Rendered:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_cell(row[f]) for f in fields])
    return Rendered.of(out.getvalue().encode(), CSV_TYPE)


def _cell(value: Any) -> Any:
    """A CSV cell: null is empty, a flag is written as in JSON (``true``, ``false``)."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return value


def window_page(
    rows: list[dict[str, Any]],
    start: dt.date | None,
    end: dt.date | None,
    limit: int | None,
    offset: int,
) -> dict[str, Any]:
    """The rows (date order) between ``start`` and ``end`` (inclusive), one page of them and the
    window's total: ``/api/v1/records`` and one state's records alike."""
    low = start.isoformat() if start else None
    high = end.isoformat() if end else None
    # ISO dates sort as strings, so the window is a plain comparison on the derived rows.
    window = [r for r in rows if (low is None or r["date"] >= low)]
    window = [r for r in window if (high is None or r["date"] <= high)]
    total = len(window)
    return {
        "records": window[offset : offset + limit if limit is not None else None],
        "total": total,
        "limit": limit if limit is not None else total,
        "offset": offset,
    }


def render_page(
    rows: list[dict[str, Any]],
    start: dt.date | None,
    end: dt.date | None,
    limit: int | None,
    offset: int,
    form: str,
    fields: Sequence[str] = RECORD_FIELDS,
    head: dict[str, Any] | None = None,
) -> Rendered:
    """A window of a series' records as CSV (``fields``) or as a JSON page (``head`` first):
    what every records route sends."""
    page = window_page(rows, start, end, limit, offset)
    if form == "csv":
        return render_csv(page["records"], fields)
    return render_json({**(head or {}), **page})
