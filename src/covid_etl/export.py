"""Write stored records as CSV or JSON (the ``export`` command and the API share these)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from .models import Record

EXPORT_COLUMNS = ("date", "cases", "deaths", "recovered")


def write_csv(records: Iterable[Record], out: TextIO) -> None:
    """``date,cases,deaths,recovered``; recovered is empty when null."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for r in records:
        writer.writerow(
            (r.date.isoformat(), r.cases, r.deaths, "" if r.recovered is None else r.recovered)
        )


def record_dict(r: Record) -> dict[str, object]:
    return {
        "date": r.date.isoformat(),
        "cases": r.cases,
        "deaths": r.deaths,
        "recovered": r.recovered,
    }


def write_json(records: Iterable[Record], out: TextIO) -> None:
    """A JSON array of objects with typed values (null stays null)."""
    json.dump([record_dict(r) for r in records], out, indent=1)
    out.write("\n")
