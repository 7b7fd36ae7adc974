"""Write stored records as CSV or JSON (the ``export`` command and the API share these)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from covid_etl.models import Record, StateRecord

EXPORT_COLUMNS = ("date", "cases", "deaths", "recovered")
STATES_EXPORT_COLUMNS = ("date", "fips", "state", "cases", "deaths")


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


def sorted_by_date(rows: Iterable[StateRecord]) -> list[StateRecord]:
    """Per-state rows by date then fips, the export's order (the store returns fips first)."""
    return sorted(rows, key=lambda r: (r.date, r.fips))


def write_states_csv(rows: Iterable[StateRecord], out: TextIO) -> None:
    """``date,fips,state,cases,deaths`` in the order given."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATES_EXPORT_COLUMNS)
    writer.writerows((r.date.isoformat(), r.fips, r.name, r.cases, r.deaths) for r in rows)


def state_dict(r: StateRecord) -> dict[str, object]:
    return {
        "date": r.date.isoformat(),
        "fips": r.fips,
        "state": r.name,
        "cases": r.cases,
        "deaths": r.deaths,
    }


def write_states_json(rows: Iterable[StateRecord], out: TextIO) -> None:
    """A JSON array of objects with the CSV's columns."""
    json.dump([state_dict(r) for r in rows], out, indent=1)
    out.write("\n")
