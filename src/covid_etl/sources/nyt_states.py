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
import gc
from itertools import pairwise
from operator import itemgetter

from covid_etl.catalog import NYT_STATES
from covid_etl.errors import ParseError
from covid_etl.models import StateRecord
from covid_etl.sources.csv import (
    check_not_future,
    column_index,
    csv_lines,
    parse_count,
    parse_date,
)

SOURCE = NYT_STATES.name
STATES_COLUMNS = ("date", "state", "fips", "cases", "deaths")


def parse_states(text: str, *, today: dt.date, source: str = SOURCE) -> list[StateRecord]:
    """Validated rows sorted by fips then date (the stored table's key order). ``today`` is the
    current UTC date: a date after ``today + 1 day`` is refused (the day's file may be published
    when it is already tomorrow somewhere in the US, never later)."""
    # Hundreds of thousands of new tuples, none in a reference cycle: the cyclic collector
    # would only walk them again and again (a third of the parse time on a large file).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, today, source)
    finally:
        if paused:
            gc.enable()


def _parse(text: str, today: dt.date, source: str) -> list[StateRecord]:
    if not text.strip():
        raise ParseError("the file is empty", source=source, line=1)
    reader = csv.reader(csv_lines(text))
    index = column_index(next(reader), source, STATES_COLUMNS)
    i_date, i_name, i_fips, i_cases, i_deaths = (index[c] for c in STATES_COLUMNS)
    pick = itemgetter(i_date, i_name, i_fips, i_cases, i_deaths)
    new_row = tuple.__new__  # StateRecord(...) without its Python-level __new__
    width = max(index.values()) + 1
    # Memory grows with the file (the NYT county file is 100 times this one): each distinct
    # date and fips is parsed once and shared by its rows, and duplicates are found after
    # sorting, where they are neighbours, rather than with a set of every (date, fips).
    # isdigit() accepts other scripts' digits: a value must also be ASCII, which one scan of
    # the whole text settles for every value of a plain file.
    all_ascii = text.isascii()
    dates: dict[str, dt.date] = {}
    fips_codes: dict[str, str] = {}
    names: dict[str, tuple[str, int]] = {}
    rows: list[StateRecord] = []
    append = rows.append
    # The loop is the cost of a run on a large file: the common case (a date, fips and name seen
    # before, digits-only counts) takes the fewest steps; anything else goes to the full checks.
    for row in reader:
        if len(row) < width:
            if not row:
                continue  # blank line, e.g. a trailing newline
            raise ParseError(
                f"row has {len(row)} field(s), fewer than the header's required columns",
                source=source,
                line=reader.line_num,
                value=",".join(row),
            )
        raw_date, raw_name, raw_fips, raw_cases, raw_deaths = pick(row)
        day = dates.get(raw_date)
        if day is None:
            line = reader.line_num
            day = parse_date(raw_date, source=source, line=line, column="date")
            check_not_future(day, today=today, source=source, line=line, column="date")
            dates[raw_date] = day
        fips = fips_codes.get(raw_fips)
        if fips is None:
            fips = fips_codes[raw_fips] = parse_fips(raw_fips, source=source, line=reader.line_num)
        known = names.get(fips)
        if known is None or known[0] != raw_name:
            known = _check_name(names, fips, raw_name, source, reader.line_num)
        cases = (
            int(raw_cases)
            if raw_cases.isdigit() and (all_ascii or raw_cases.isascii())
            else parse_count(raw_cases, source=source, line=reader.line_num, column="cases")
        )
        deaths = (
            int(raw_deaths)
            if raw_deaths.isdigit() and (all_ascii or raw_deaths.isascii())
            else parse_count(raw_deaths, source=source, line=reader.line_num, column="deaths")
        )
        append(new_row(StateRecord, (day, fips, known[0], cases, deaths)))
    if not rows:
        raise ParseError("no data rows after the header", source=source, line=2)
    # By fips then date: the table's key order, so a load writes each row next to the previous
    # one. Two stable sorts on one field each are cheaper than one on a (fips, date) pair.
    rows.sort(key=itemgetter(0))
    rows.sort(key=itemgetter(1))
    for before, after in pairwise(rows):
        if before[0] == after[0] and before[1] == after[1]:
            raise _duplicate(text, i_date, i_fips, after, source)
    return rows


def _duplicate(text: str, i_date: int, i_fips: int, row: StateRecord, source: str) -> ParseError:
    """The error for a second row of one (date, fips), with the lines of both: the rows were
    sorted, so they are found again in the text (only on this failure path)."""
    day = row.date.isoformat()  # the raw value: dates are validated as ISO
    reader = csv.reader(csv_lines(text))
    lines = [
        reader.line_num
        for fields in reader
        if len(fields) > max(i_date, i_fips) and fields[i_date] == day
        and fields[i_fips] == row.fips
    ][:2]  # fmt: skip
    return ParseError(
        f"second row for fips {row.fips} on {day} (the first is on line {lines[0]})",
        source=source,
        line=lines[1],
        column="fips",
        value=row.fips,
    )


def _check_name(
    names: dict[str, tuple[str, int]], fips: str, raw: str, source: str, line: int
) -> tuple[str, int]:
    """The name of ``fips`` (first seen, or the same as before once stripped)."""
    name = raw.strip()
    if not name:
        raise ParseError("state name is empty", source=source, line=line, column="state",
                         value=raw)  # fmt: skip
    known = names.setdefault(fips, (name, line))
    if known[0] != name:
        raise ParseError(
            f"fips {fips} is named {known[0]!r} on line {known[1]} but {name!r} here",
            source=source,
            line=line,
            column="state",
            value=name,
        )
    return known


def parse_fips(value: str, *, source: str, line: int) -> str:
    """A state FIPS code: exactly two ASCII digits (``06``, not ``6`` or ``006``)."""
    if len(value) == 2 and value.isascii() and value.isdigit():
        return value
    raise ParseError(
        "fips is not a two-digit code", source=source, line=line, column="fips", value=value
    )


__all__ = [
    "STATES_COLUMNS",
    "parse_fips",
    "parse_states",
]
