"""Parse and validate NYT ``us-states.csv`` (``date,state,fips,cases,deaths``). Pure: no I/O.

The per-state contract (docs/data-contract.md, "States"):

- columns found by name, extra ones ignored, missing ones reported together;
- ``date`` ISO ``YYYY-MM-DD`` and not after tomorrow (UTC): a later date is a broken file;
- ``cases`` and ``deaths`` non-negative integers;
- ``fips`` two digits;
- one row per (date, fips), and a fips keeps one name across the file;
- a cumulative value that falls from one reported day to the next is a warning, one line per
  state that has any, never one per row.

Every failure names the source, the physical line (the header is line 1), the column and the value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from itertools import pairwise

from .errors import ParseError
from .models import StateRecord
from .parse import _column_index, parse_count, parse_date

SOURCE = "states"
STATES_COLUMNS = ("date", "state", "fips", "cases", "deaths")
# Decreases spelled out per state and column in a warning; the rest are counted.
SHOWN_DECREASES = 3


def parse_states(text: str, *, today: dt.date, source: str = SOURCE) -> list[StateRecord]:
    """Validated rows sorted by fips then date. ``today`` is the current UTC date: a date after
    ``today + 1 day`` is refused (the day's file may be published when it is already tomorrow
    somewhere in the US, never later)."""
    if not text.strip():
        raise ParseError("the file is empty", source=source, line=1)
    reader = csv.reader(io.StringIO(text, newline=""))
    index = _column_index(next(reader), source, STATES_COLUMNS)
    i_date, i_name, i_fips, i_cases, i_deaths = (index[c] for c in STATES_COLUMNS)
    width = max(index.values()) + 1
    latest_allowed = today + dt.timedelta(days=1)
    # Memory grows with the file (the NYT county file is 100 times this one): each distinct
    # date and fips is parsed once and shared by its rows, and duplicates are found with one
    # set of dates per fips rather than a map of every (date, fips) to its line.
    dates: dict[str, dt.date] = {}
    fips_codes: dict[str, str] = {}
    names: dict[str, tuple[str, int]] = {}
    seen: dict[str, set[dt.date]] = {}
    rows: list[StateRecord] = []
    for row in reader:
        line = reader.line_num
        if not row:
            continue  # blank line, e.g. a trailing newline
        if len(row) < width:
            raise ParseError(
                f"row has {len(row)} field(s), fewer than the header's required columns",
                source=source,
                line=line,
                value=",".join(row),
            )
        day = dates.get(row[i_date])
        if day is None:
            day = parse_date(row[i_date], source=source, line=line, column="date")
            check_not_future(day, latest_allowed, source=source, line=line, raw=row[i_date])
            dates[row[i_date]] = day
        fips = fips_codes.get(row[i_fips])
        if fips is None:
            fips = fips_codes[row[i_fips]] = parse_fips(row[i_fips], source=source, line=line)
        name = row[i_name].strip()
        if not name:
            raise ParseError("state name is empty", source=source, line=line, column="state",
                             value=row[i_name])  # fmt: skip
        known = names.setdefault(fips, (name, line))
        if known[0] != name:
            raise ParseError(
                f"fips {fips} is named {known[0]!r} on line {known[1]} but {name!r} here",
                source=source,
                line=line,
                column="state",
                value=name,
            )
        days = seen.setdefault(fips, set())
        if day in days:
            first = _first_line_of(text, i_date, i_fips, row[i_date], row[i_fips])
            raise ParseError(
                f"second row for fips {fips} on {day.isoformat()} (the first is on line {first})",
                source=source,
                line=line,
                column="fips",
                value=row[i_fips],
            )
        days.add(day)
        rows.append(
            StateRecord(
                date=day,
                fips=fips,
                name=known[0],
                cases=parse_count(row[i_cases], source=source, line=line, column="cases"),
                deaths=parse_count(row[i_deaths], source=source, line=line, column="deaths"),
            )
        )
    if not rows:
        raise ParseError("no data rows after the header", source=source, line=2)
    rows.sort(key=lambda r: (r.fips, r.date))
    return rows


def _first_line_of(text: str, i_date: int, i_fips: int, day: str, fips: str) -> int | None:
    """The line of the first row with this date and fips (only to explain a duplicate)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        if len(row) > max(i_date, i_fips) and row[i_date] == day and row[i_fips] == fips:
            return reader.line_num
    return None


def check_not_future(
    day: dt.date, latest_allowed: dt.date, *, source: str, line: int, raw: str
) -> None:
    """Refuse a date after ``latest_allowed`` (today UTC + 1 day): no source reports the future."""
    if day > latest_allowed:
        raise ParseError(
            f"date is in the future (after {latest_allowed.isoformat()})",
            source=source,
            line=line,
            column="date",
            value=raw,
        )


def parse_fips(value: str, *, source: str, line: int) -> str:
    """A state FIPS code: exactly two ASCII digits (``06``, not ``6`` or ``006``)."""
    if len(value) == 2 and value.isascii() and value.isdigit():
        return value
    raise ParseError(
        "fips is not a two-digit code", source=source, line=line, column="fips", value=value
    )


def decrease_warnings(rows: Sequence[StateRecord]) -> list[str]:
    """One line per state whose cumulative cases or deaths fall from one reported day to the
    next; ``rows`` sorted by fips then date, as :func:`parse_states` returns them."""
    warnings: list[str] = []
    start = 0
    while start < len(rows):
        end = start
        while end < len(rows) and rows[end].fips == rows[start].fips:
            end += 1
        parts = [
            part
            for column in ("cases", "deaths")
            if (part := _column_decreases(rows[start:end], column))
        ]
        if parts:
            state = rows[start]
            warnings.append(f"states: {state.name} ({state.fips}): cumulative " + "; ".join(parts))
        start = end
    return warnings


def _column_decreases(series: Sequence[StateRecord], column: str) -> str:
    drops = []
    for before, after in pairwise(series):
        old, new = getattr(before, column), getattr(after, column)
        if new < old:
            drops.append(f"{after.date.isoformat()} ({old} -> {new})")
    if not drops:
        return ""
    shown = ", ".join(drops[:SHOWN_DECREASES])
    more = f" and {len(drops) - SHOWN_DECREASES} more" if len(drops) > SHOWN_DECREASES else ""
    return f"{column} decrease on {len(drops)} day(s): {shown}{more}"


__all__ = ["STATES_COLUMNS", "check_not_future", "decrease_warnings", "parse_fips", "parse_states"]
