"""Turn payloads into response bytes: compact JSON (numbers stay numbers, null stays null) and
CSV with the same columns and values (null as an empty field)."""

from __future__ import annotations

import csv
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
        writer.writerow(["" if row[f] is None else row[f] for f in fields])
    return Rendered.of(out.getvalue().encode(), CSV_TYPE)
