"""Write a stored series as CSV or JSON (``covid-etl export``): any declared series, its columns
by their export names (the per-state ``name`` is exported as ``state``), rows by date then
partition."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, TextIO

from covid_etl.series.spec import Series


def by_date(series: Series, rows: Iterable[Any]) -> list[Any]:
    """Rows by date, then partition: the export's order (the store returns partition first)."""
    if series.partition is None:
        return list(rows)
    column = series.names.index(series.partition)
    return sorted(rows, key=lambda r: (r.date, r[column]))


def write_csv(series: Series, rows: Iterable[Any], out: TextIO) -> None:
    """A header of the export names, then one line per row; null is an empty cell."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(series.export_names)
    writer.writerows(tuple(_cell(value) for value in series.exported(row)) for row in rows)


def row_dict(series: Series, row: Any) -> dict[str, object]:
    return {
        name: _json(value)
        for name, value in zip(series.export_names, series.exported(row), strict=True)
    }


def write_json(series: Series, rows: Iterable[Any], out: TextIO) -> None:
    """A JSON array of objects with the CSV's columns and typed values (null stays null)."""
    json.dump([row_dict(series, r) for r in rows], out, indent=1)
    out.write("\n")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date) else value


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


__all__ = ["by_date", "row_dict", "write_csv", "write_json"]
