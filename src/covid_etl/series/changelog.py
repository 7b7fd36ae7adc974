"""The change log: one entry per row a run inserted, revised or removed, with the values before
and after. Pure: built from the diff the pipeline already computed, read back for display.

An entry's values are the row's figures as a mapping (``cases``, ``deaths``, ``recovered`` for
the national series; ``name``, ``cases``, ``deaths`` for a state), so both series share one table.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from covid_etl.models import NATIONAL_NAME, ChangeEntry
from covid_etl.ranges import describe_keys, format_ranges, shown_dates
from covid_etl.series.diff import Changes
from covid_etl.series.spec import Key, Series

# The change log's series value of the national series (its name).
NATIONAL = NATIONAL_NAME
INSERTED, UPDATED, REMOVED = "inserted", "updated", "removed"
KINDS = (INSERTED, UPDATED, REMOVED)
# The figures compared when a notification names the largest change (name is not a figure).
FIGURES = ("cases", "deaths", "recovered")


def change_entries(series: Series, changes: Changes) -> list[ChangeEntry]:
    """The entries of a series' revised and removed rows; ``changes.previous`` holds their
    stored rows. A new row's entry (``inserted``, no values before, the row's values after)
    is written by the store with the row, since it needs nothing but the row. Not sorted: the
    store writes and returns entries in (series, date, run) order."""
    logged_as = _logged_as(series)
    values, key_of, previous = series.log_values, series.key_of, changes.previous
    entries = []
    for row in changes.updated:
        key = key_of(row)
        entries.append(ChangeEntry(logged_as(key), row.date, UPDATED, values(previous[key]),
                                   values(row)))  # fmt: skip
    entries += [
        ChangeEntry(logged_as(key), key[-1], REMOVED, values(previous[key]), None)
        for key in changes.removed
    ]
    return entries


def _logged_as(series: Series) -> Callable[[Key], str]:
    """A key's change-log ``series`` value."""
    if series.partition is None:
        name = series.name
        return lambda key: name
    return lambda key: series.log_series(*key[:-1])


def difference(entry: ChangeEntry, figure: str) -> int | None:
    """After minus before for one figure; None when either side lacks it."""
    before = (entry.before or {}).get(figure)
    after = (entry.after or {}).get(figure)
    if before is None or after is None:
        return None
    return int(after) - int(before)


def largest_change(entries: Sequence[ChangeEntry]) -> tuple[ChangeEntry, str, int] | None:
    """The revision with the largest absolute difference in one figure (ties: the latest date)."""
    best: tuple[ChangeEntry, str, int] | None = None
    for entry in entries:
        if entry.kind != UPDATED:
            continue
        for figure in FIGURES:
            delta = difference(entry, figure)
            if delta is None or delta == 0:
                continue
            if best is None or (abs(delta), entry.date) > (abs(best[2]), best[0].date):
                best = (entry, figure, delta)
    return best


# -- output shared by the CLI and the API ---------------------------------------------------------

CSV_FIGURES = ("cases", "deaths", "recovered", "name")
CSV_HEADER = (
    "run_id",
    "series",
    "date",
    "kind",
    *(f"{figure}_{side}" for figure in CSV_FIGURES for side in ("before", "after")),
)


def csv_row(entry: ChangeEntry) -> list[Any]:
    """One entry as a CSV row (CSV_HEADER's columns); a missing value is an empty cell."""
    cells: list[Any] = [entry.run_id, entry.series, entry.date.isoformat(), entry.kind]
    for figure in CSV_FIGURES:
        for values in (entry.before, entry.after):
            value = (values or {}).get(figure)
            cells.append("" if value is None else value)
    return cells


def to_csv(entries: Iterable[ChangeEntry]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_row(e) for e in entries)
    return out.getvalue()


def valid_series(value: str) -> bool:
    """``national``, a two-digit FIPS code or an NYT note's (``anomalies:USA-06:cases``)."""
    if value.startswith(NOTES_PREFIX):
        parts = value.split(":")
        return len(parts) == 3 and bool(_GEOID.fullmatch(parts[1])) and parts[2] in _NOTE_TYPES
    return value == NATIONAL or (len(value) == 2 and value.isdigit())


_NOTE_TYPES = ("cases", "deaths", "both")
_GEOID = re.compile(r"USA(-[0-9]{2}([0-9]{3})?)?")


def summary_lines(entries: Sequence[ChangeEntry], limit: int = 10) -> list[str]:
    """Per series and kind: how many rows, and their dates as ranges, at most ``limit`` ranges
    spelled out (``national: 1 inserted (2021-06-16), 8 updated (2021-06-08..2021-06-15)``)."""
    groups: dict[tuple[str, str], list[dt.date]] = {}
    for entry in entries:
        groups.setdefault((entry.series, entry.kind), []).append(entry.date)
    lines = []
    for series in sorted({s for s, _ in groups}, key=_series_order):
        parts = [
            f"{len(dates)} {kind} ({format_ranges(sorted(dates), limit)})"
            for kind in KINDS
            if (dates := groups.get((series, kind)))
        ]
        lines.append(f"{series}: {', '.join(parts)}")
    return lines


def _series_order(series: str) -> tuple[bool, str]:
    return (series != NATIONAL, series)  # the national series first, then states by fips


def value_change(entry: ChangeEntry, figure: str) -> str:
    """``1,000 → 1,234 (+234)``, ``→ 1,234`` (inserted), ``1,000 →`` (removed), ``-`` (null)."""
    before = (entry.before or {}).get(figure)
    after = (entry.after or {}).get(figure)
    if entry.kind == INSERTED:
        return _figure(after)
    if entry.kind == REMOVED:
        return f"{_figure(before)} →"
    if before == after:
        return _figure(after)
    delta = difference(entry, figure)
    shown = f"{_figure(before)} → {_figure(after)}"
    return shown if delta is None else f"{shown} ({delta:+,})"


def _figure(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


def display_rows(entries: Sequence[ChangeEntry]) -> list[tuple[str, str, str, ChangeEntry]]:
    """(series, dates, kind, entry) rows for a table: consecutive inserted (or removed) days of
    one series collapse into one row showing the range and its last day's values; each revised
    day keeps its own row, since its difference is the point."""
    rows: list[tuple[str, str, str, ChangeEntry]] = []
    ordered = sorted(entries, key=lambda e: (_series_order(e.series), e.date))
    start: ChangeEntry | None = None
    for i, entry in enumerate(ordered):
        start = start or entry
        following = ordered[i + 1] if i + 1 < len(ordered) else None
        runs_on = (
            entry.kind != UPDATED
            and following is not None
            and (following.series, following.kind) == (entry.series, entry.kind)
            and following.date - entry.date == dt.timedelta(days=1)
        )
        if runs_on:
            continue
        dates = (
            entry.date.isoformat()
            if start.date == entry.date
            else f"{start.date.isoformat()}..{entry.date.isoformat()}"
        )
        rows.append((entry.series, dates, entry.kind, entry))
        start = None
    return rows


# -- notifications --------------------------------------------------------------------------------


def change_lines(entries: Sequence[ChangeEntry]) -> list[str]:
    """What a run changed, for a notification: per series and kind, the days as ranges (up to
    ten, then how many more) and, for revisions of the national series, the largest change
    (``revised 16 past days (...); largest change: cases on 2021-06-15 +91``)."""
    national = [e for e in entries if e.series == NATIONAL]
    notes = [e for e in entries if e.series.startswith(NOTES_PREFIX)]
    states = [e for e in entries if e.series != NATIONAL and e not in notes]
    lines = []
    if national:
        lines.append(f"National: {national_sentence(national)}")
    if states:
        parts = []
        for kind, verb in ((INSERTED, "added"), (UPDATED, "revised"), (REMOVED, "removed")):
            keys = [(e.date, e.series) for e in states if e.kind == kind]
            if keys:
                parts.append(f"{verb} {len(keys)} row(s) ({describe_keys(keys)})")
        lines.append(f"States and territories: {'; '.join(parts)}")
    if notes:
        lines.append(f"NYT anomaly notes: {notes_sentence(notes)}")
    return lines


# The change log's series values of the NYT's notes: ``anomalies:USA-06:cases``.
NOTES_PREFIX = "anomalies:"
# Notes spelled out per kind in a notification; the rest are counted.
SHOWN_NOTES = 10


def notes_sentence(entries: Sequence[ChangeEntry]) -> str:
    """What a run did to the NYT's notes, with their places: ``added 2 (USA-06 cases on
    2021-03-01, USA deaths on 2021-03-02); changed 1 (USA-36998 deaths on 2020-04-06)``."""
    parts = []
    for kind, verb in ((INSERTED, "added"), (UPDATED, "changed"), (REMOVED, "removed")):
        chosen = [e for e in entries if e.kind == kind]
        if not chosen:
            continue
        shown = [_note_place(e) for e in chosen[:SHOWN_NOTES]]
        more = f", and {len(chosen) - SHOWN_NOTES} more" if len(chosen) > SHOWN_NOTES else ""
        parts.append(f"{verb} {len(chosen)} ({', '.join(shown)}{more})")
    return "; ".join(parts)


def _note_place(entry: ChangeEntry) -> str:
    """``USA-06 cases on 2021-03-01`` (a range: ``on 2021-03-05..2021-03-08``)."""
    _, geoid, measure = entry.series.split(":", 2)
    values = entry.after or entry.before or {}
    last = values.get("end_date")
    day = entry.date.isoformat() + (f"..{_iso(last)}" if last else "")
    return f"{geoid} {measure} on {day}"


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def national_sentence(entries: Sequence[ChangeEntry]) -> str:
    parts = []
    for kind, verb, noun in (
        (INSERTED, "added", "day"),
        (UPDATED, "revised", "past day"),
        (REMOVED, "removed", "day"),
    ):
        dates = sorted(e.date for e in entries if e.kind == kind)
        if dates:
            plural = "s" if len(dates) != 1 else ""
            parts.append(f"{verb} {len(dates)} {noun}{plural} ({shown_dates(dates)})")
    sentence = "; ".join(parts)
    largest = largest_change(entries)
    if largest is not None:
        entry, figure, delta = largest
        sentence += f"; largest change: {figure} on {entry.date.isoformat()} {delta:+,}"
    return sentence
