"""Turn downloaded bytes into validated rows. Pure: no I/O, no knowledge of URLs or databases.

Columns are found by *name*; extra columns are ignored (JHU dropped ``Lat,Long`` in 2020) and all
missing required columns are reported together. Every problem names the source, the physical line
number (the header is line 1), the column and the offending value.

"Today" is an argument, never read from a clock here: the pipeline passes the current UTC date,
tests pass a fixed one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence
from itertools import chain

from covid_etl.errors import MissingColumns, ParseError
from covid_etl.models import JhuRow, NytRow

NYT_COLUMNS = ("date", "cases", "deaths")
JHU_DATE, JHU_COUNTRY, JHU_PROVINCE, JHU_RECOVERED = (
    "Date",
    "Country/Region",
    "Province/State",
    "Recovered",
)
JHU_COLUMNS = (JHU_DATE, JHU_COUNTRY, JHU_PROVINCE, JHU_RECOVERED)
US = "US"
# JHU writes "None" (a pandas artefact) or leaves the cell blank where recoveries were not reported.
NOT_REPORTED = frozenset({"", "None"})

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A source a few time zones ahead of UTC may already publish tomorrow's row; nothing is later.
FUTURE_GRACE = dt.timedelta(days=1)


# csv_lines hands the csv module slices of about this many characters at a time.
LINE_SLICE = 1 << 20


def csv_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` exactly as ``io.StringIO(text, newline="")`` yields them (ends
    kept; ``\n``, ``\r\n`` and a lone ``\r`` each end a line), read from slices cut after a
    ``\n``. StringIO keeps a copy of its whole value at up to four bytes a character: for a
    county-sized file (94 MB of text) that copy was 270 MB of a run's peak memory. The lines
    pass through C iterators only (chain over each slice's StringIO)."""
    return chain.from_iterable(io.StringIO(piece, newline="") for piece in _slices(text))


def _slices(text: str) -> Iterator[str]:
    start, end = 0, len(text)
    while start < end:
        cut = text.find("\n", start + LINE_SLICE)
        stop = end if cut < 0 else cut + 1
        yield text[start:stop]
        start = stop


def decode_csv(body: bytes, *, source: str, content_type: str | None = None) -> str:
    """Decode a CSV body as UTF-8 (a BOM is allowed) and refuse things that are not CSV.

    An HTML error page served with status 200 is the classic failure of raw-file hosts, so it gets
    its own sentence instead of a confusing "missing columns".
    """
    head = body[:512].lstrip().lower()
    is_html_type = bool(content_type and "html" in content_type.lower())
    if is_html_type or head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        raise ParseError(
            f"the body is an HTML page, not CSV (content type {content_type or 'unknown'})",
            source=source,
            line=1,
            value=body[:60].decode("utf-8", "replace").strip(),
        )
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise ParseError(
            f"the body is not valid UTF-8 at byte {exc.start}",
            source=source,
            line=line,
            value=body[exc.start : exc.start + 8].hex(),
        ) from exc


def parse_nyt(text: str, *, today: dt.date, source: str = "nyt") -> list[NytRow]:
    """Parse NYT ``us.csv`` (``date,cases,deaths``, cumulative) into rows sorted by date.

    ``today`` is the current UTC date: a row dated after it plus one day is an error.
    """
    reader, index = _open(text, source, NYT_COLUMNS)
    i_date, i_cases, i_deaths = (index[c] for c in NYT_COLUMNS)
    width = max(index.values()) + 1
    rows: list[NytRow] = []
    seen: dict[dt.date, int] = {}
    for row in _data_rows(reader, source, width):
        line = reader.line_num
        day = parse_date(row[i_date], source=source, line=line, column="date")
        check_not_future(day, today=today, source=source, line=line, column="date")
        if day in seen:
            raise ParseError(
                f"duplicate date (first seen on line {seen[day]})",
                source=source,
                line=line,
                column="date",
                value=row[i_date],
            )
        seen[day] = line
        rows.append(
            NytRow(
                date=day,
                cases=parse_count(row[i_cases], source=source, line=line, column="cases"),
                deaths=parse_count(row[i_deaths], source=source, line=line, column="deaths"),
            )
        )
    if not rows:
        raise ParseError("no data rows after the header", source=source, line=2)
    rows.sort(key=lambda r: r.date)
    return rows


def parse_jhu(text: str, *, today: dt.date, source: str = "jhu") -> list[JhuRow]:
    """Parse the JHU combined file and keep the US national rows (``Country/Region == "US"``,
    empty ``Province/State``), sorted by date. ``Recovered`` is None where it is blank or "None".
    A US row dated after ``today`` (UTC) plus one day is an error.

    Rows of other countries are skipped without validation: we neither use nor vouch for them.
    """
    header, candidates = _rows_mentioning(text, source, US)
    index = column_index(header, source, JHU_COLUMNS)
    i_date, i_country, i_province, i_recovered = (index[c] for c in JHU_COLUMNS)
    width = max(index.values()) + 1
    rows: list[JhuRow] = []
    seen: dict[dt.date, int] = {}
    for line, row in candidates:
        if len(row) < width:
            raise ParseError(
                f"row has {len(row)} field(s), fewer than the header's required columns",
                source=source,
                line=line,
                value=",".join(row),
            )
        if row[i_country] != US or row[i_province] != "":
            continue
        day = parse_date(row[i_date], source=source, line=line, column=JHU_DATE)
        check_not_future(day, today=today, source=source, line=line, column=JHU_DATE)
        if day in seen:
            raise ParseError(
                f"two US national rows for one date (the other is on line {seen[day]})",
                source=source,
                line=line,
                column=JHU_DATE,
                value=row[i_date],
            )
        seen[day] = line
        raw = row[i_recovered]
        recovered = (
            None
            if raw in NOT_REPORTED
            else parse_count(raw, source=source, line=line, column=JHU_RECOVERED)
        )
        rows.append(JhuRow(date=day, recovered=recovered))
    if not rows:
        raise ParseError(
            f"no US national rows ({JHU_COUNTRY} == {US!r} with empty {JHU_PROVINCE})",
            source=source,
        )
    rows.sort(key=lambda r: r.date)
    return rows


def _rows_mentioning(
    text: str, source: str, needle: str
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header, and (line number, fields) of every data row whose text contains ``needle``.

    The all-countries JHU file has ~115k rows of which ~420 are the US: finding candidate lines
    with ``str.find`` and parsing only those is an order of magnitude faster than running the
    csv module over every row. Rows without the needle cannot be US rows, so nothing is lost.
    The shortcut needs each record on one physical line; a quoted field spanning lines sends us
    back to the plain csv reader.
    """
    if not text.strip():
        raise ParseError("the file is empty", source=source, line=1)
    if _quoted_newlines(text):
        reader = csv.reader(csv_lines(text))
        header = _next_row(reader, source)

        def slow() -> Iterator[tuple[int, list[str]]]:
            for row in _rows(reader, source):
                if any(needle in field for field in row):
                    yield reader.line_num, row

        return header, slow()
    header_end = text.find("\n")
    header = _split_line(text[: header_end if header_end != -1 else len(text)], source, 1)

    def fast() -> Iterator[tuple[int, list[str]]]:
        line, counted_to = 1, 0
        pos = text.find(needle, max(header_end, 0))
        while pos != -1 and header_end != -1:
            start = text.rfind("\n", 0, pos) + 1
            end = text.find("\n", pos)
            end = len(text) if end == -1 else end
            line += text.count("\n", counted_to, start)
            counted_to = start
            yield line, _split_line(text[start:end].rstrip("\r"), source, line)
            pos = text.find(needle, end)

    return header, fast()


def _quoted_newlines(text: str) -> bool:
    """True if some quoted field spans lines (a physical line with an odd number of quotes)."""
    pos = text.find('"')
    while pos != -1:
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        if text.count('"', start, end) % 2:
            return True
        pos = text.find('"', end)
    return False


def check_not_future(
    day: dt.date, *, today: dt.date, source: str, line: int | None, column: str
) -> dt.date:
    """``day`` itself, unless it is after ``today`` (UTC) plus one day: no source reports the
    future, so such a row is a corrupt or hostile file, and storing it would poison every later
    run (a run never deletes a stored date)."""
    latest = today + FUTURE_GRACE
    if day > latest:
        raise ParseError(
            f"date is in the future: after {latest.isoformat()}, today (UTC) plus one day",
            source=source,
            line=line,
            column=column,
            value=day.isoformat(),
        )
    return day


def parse_date(value: str, *, source: str, line: int, column: str) -> dt.date:
    """An ISO ``YYYY-MM-DD`` date, nothing looser (no ``1/22/20``, no times)."""
    if _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ParseError(
        "date is not an ISO YYYY-MM-DD date", source=source, line=line, column=column, value=value
    )


def parse_count(value: str, *, source: str, line: int, column: str) -> int:
    """A cumulative count: a non-negative integer written with digits only."""
    if value.isascii() and value.isdigit():
        return int(value)
    problem = (
        "count is negative"
        if value.startswith("-") and value[1:].isdigit()
        else "count is not a non-negative integer"
    )
    raise ParseError(problem, source=source, line=line, column=column, value=value)


def _open(text: str, source: str, required: Sequence[str]) -> tuple[csv.Reader, dict[str, int]]:  # type: ignore[name-defined]
    if not text.strip():
        raise ParseError("the file is empty", source=source, line=1)
    reader = csv.reader(csv_lines(text))
    header = _next_row(reader, source)
    return reader, column_index(header, source, required)


def _csv_problem(exc: csv.Error, source: str, line: int | None) -> ParseError:
    """The csv module's own complaint, with the source and line it lacks."""
    text = str(exc)
    if "field larger than field limit" in text:
        text = f"a field is longer than the limit of {csv.field_size_limit()} characters"
    return ParseError(text, source=source, line=line)


def _next_row(reader: Iterator[list[str]], source: str) -> list[str]:
    try:
        return next(reader)
    except csv.Error as exc:
        raise _csv_problem(exc, source, getattr(reader, "line_num", None)) from exc


def _rows(reader: Iterator[list[str]], source: str) -> Iterator[list[str]]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _csv_problem(exc, source, getattr(reader, "line_num", None)) from exc
        yield row


def _split_line(line_text: str, source: str, line: int) -> list[str]:
    """Fields of one physical line."""
    try:
        return next(csv.reader([line_text]))
    except csv.Error as exc:
        raise _csv_problem(exc, source, line) from exc


def column_index(header: list[str], source: str, required: Sequence[str]) -> dict[str, int]:
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = set(required) - index.keys()
    if missing:
        raise MissingColumns(source=source, missing=missing, header=header)
    return {name: index[name] for name in required}


def _data_rows(reader: Iterator[list[str]], source: str, width: int) -> Iterator[list[str]]:
    for row in _rows(reader, source):
        if not row:  # blank line, e.g. a trailing newline
            continue
        if len(row) < width:
            line = getattr(reader, "line_num", None)
            raise ParseError(
                f"row has {len(row)} field(s), fewer than the header's required columns",
                source=source,
                line=line,
                value=",".join(row),
            )
        yield row


__all__ = [
    "JHU_COLUMNS",
    "NYT_COLUMNS",
    "check_not_future",
    "decode_csv",
    "parse_count",
    "parse_date",
    "parse_jhu",
    "parse_nyt",
]
