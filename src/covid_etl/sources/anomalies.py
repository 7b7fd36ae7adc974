"""Parse and validate the NYT's anomaly notes (``rolling-averages/anomalies.csv``). Pure: no I/O.

The contract (docs/data-contract.md, "Anomaly notes"):

- the NYT's nine columns, found by name, extra ones ignored, missing ones reported together;
- ``date`` ISO ``YYYY-MM-DD`` and not after tomorrow (UTC); ``end_date`` empty or an ISO date
  on or after ``date``;
- ``geoid`` ``USA`` (the nation), ``USA-SS`` (a state, two digits) or ``USA-SSCCC`` (a county,
  five digits; the NYT's own codes such as ``USA-36998`` for New York City included);
- ``type`` ``cases``, ``deaths`` or ``both``;
- the two ``omit_…`` flags ``yes`` or empty;
- one note per (geoid, type, date); ``county``, ``state`` and ``description`` may be empty;
- at least one note (a file with a header only is a broken download: the notes are a curated
  list, and an empty one would remove every stored note).

Every failure names the source, the physical line (the header is line 1), the column and the value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from covid_etl.catalog import NYT_ANOMALIES
from covid_etl.errors import ParseError
from covid_etl.models import Anomaly
from covid_etl.sources.csv import (
    _data_rows,
    _open,
    check_not_future,
    parse_date,
)

SOURCE = NYT_ANOMALIES.name
ANOMALY_COLUMNS = Anomaly._fields  # the NYT's nine columns, named as it names them
TYPES = ("cases", "deaths", "both")
YES = "yes"
# The nation, a state (two digits) or a county (five digits, the state's two first).
_GEOID = re.compile(r"USA(-[0-9]{2}([0-9]{3})?)?")


def parse_anomalies(text: str, *, today: dt.date, source: str = SOURCE) -> list[Anomaly]:
    """Validated notes sorted by (geoid, type, date), the stored table's key order."""
    reader, index = _open(text, source, ANOMALY_COLUMNS)
    width = max(index.values()) + 1
    positions = [index[name] for name in ANOMALY_COLUMNS]
    notes: list[Anomaly] = []
    seen: dict[tuple[str, str, dt.date], int] = {}
    for row in _data_rows(reader, source, width):
        line = reader.line_num
        # Kept as published (a description may end with a space): codes are checked exactly.
        cells = dict(zip(ANOMALY_COLUMNS, (row[i] for i in positions), strict=True))
        note = _note(cells, source, line, today)
        key = (note.geoid, note.type, note.date)
        if key in seen:
            raise ParseError(
                f"a second note for {note.geoid}, {note.type} on {note.date.isoformat()} "
                f"(first on line {seen[key]})",
                source=source,
                line=line,
                column="date",
                value=cells["date"],
            )
        seen[key] = line
        notes.append(note)
    if not notes:
        raise ParseError("no notes after the header", source=source, line=2)
    notes.sort(key=lambda n: (n.geoid, n.type, n.date))
    return notes


def _note(cells: dict[str, str], source: str, line: int, today: dt.date) -> Anomaly:
    def problem(message: str, column: str) -> ParseError:
        return ParseError(message, source=source, line=line, column=column, value=cells[column])

    day = parse_date(cells["date"], source=source, line=line, column="date")
    check_not_future(day, today=today, source=source, line=line, column="date")
    end: dt.date | None = None
    if cells["end_date"]:
        end = parse_date(cells["end_date"], source=source, line=line, column="end_date")
        if end < day:
            raise problem(f"end_date is before date ({cells['date']})", "end_date")
    if not _GEOID.fullmatch(cells["geoid"]):
        raise problem("geoid is not USA, USA-SS (a state) or USA-SSCCC (a county)", "geoid")
    if cells["type"] not in TYPES:
        raise problem("type is not cases, deaths or both", "type")
    omit, omit_below = (
        _flag(cells, column, problem)
        for column in ("omit_from_rolling_average", "omit_from_rolling_average_on_subgeographies")
    )
    return Anomaly(
        day,
        cells["geoid"],
        cells["type"],
        end,
        cells["county"] or None,
        cells["state"] or None,
        omit,
        omit_below,
        cells["description"] or None,
    )


def _flag(
    cells: dict[str, str], column: str, problem: Callable[[str, str], ParseError]
) -> str | None:
    """``yes``, or None for an empty cell; anything else is refused."""
    if cells[column] not in ("", YES):
        raise problem("flag is not yes or empty", column)
    return cells[column] or None


__all__ = ["ANOMALY_COLUMNS", "TYPES", "parse_anomalies"]
