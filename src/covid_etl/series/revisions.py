"""How figures settled: for one place (the national series or a state) and one measure (cases or
deaths), each date's first published value, its final value, how often and how late it was
revised; and the share of dates still revised some days after they were first published. Pure:
computed from the change log's entries of one series value and each run's as-of date, which the
caller reads (the API's and the command line's own reads).

Definitions (docs/api.md, "How figures settled"):

- A date is **first published** by the run whose change-log entry inserted it: that run's as-of
  date (``RunRecord.as_of``: the day whose data it loaded; a replayed version's date) and the
  measure's value it inserted (``first_value``).
- Each later ``updated`` entry whose measure value changed (``before`` and ``after`` differ; a
  revision of another figure, such as the national recoveries or a state's name, is not one) is a
  **revision**, dated by its run's as-of date. A ``removed`` entry is a revision to null (the
  date is still reported, its final value null); the date inserted again later is one more
  revision, to the value inserted.
- The **final** value is the one stored now: the last entry's ``after`` value (null once
  removed).
- **last_revised** is the as-of date of the last revision (null if never revised); the **lag** is
  last_revised minus the first published date, in days (0 if never revised).
- A date is **skipped** (left out, and counted in ``skipped``) when its first publication was by
  a run that recorded no as-of date (runs before schema 8), or is not in the log at all (its
  first entry is not an insertion: rows loaded before the change log existed); also when a
  revision's run has no as-of date, which a real store cannot hold (every run records it since
  schema 8, and the log follows run order).
- **settled_after**: for k in :data:`SETTLE_DAYS`, the share of the (non-skipped) dates whose last
  revision came k or more days after their first publication, i.e. whose lag is at least k: the
  dates not yet settled k days after they were published.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from covid_etl.models import ChangeEntry, RunRecord
from covid_etl.series.changelog import INSERTED, REMOVED, UPDATED

# The k of "still revised k days after first publication".
SETTLE_DAYS = (1, 3, 7, 14, 30, 60, 90)
# The per-date fields: the JSON objects' keys and the CSV's header, in this order.
FIELDS = (
    "date",
    "first_published",
    "first_value",
    "final_value",
    "revisions",
    "last_revised",
    "lag_days",
)
# Shares are rounded: four decimals are a hundredth of a percent.
SHARE_DECIMALS = 4


class DateHistory(NamedTuple):
    """How one date's figure settled (the module docstring defines each field)."""

    date: dt.date
    first_published: dt.date
    first_value: int | None
    final_value: int | None
    revisions: int
    last_revised: dt.date | None
    lag_days: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "first_published": self.first_published.isoformat(),
            "first_value": self.first_value,
            "final_value": self.final_value,
            "revisions": self.revisions,
            "last_revised": self.last_revised.isoformat() if self.last_revised else None,
            "lag_days": self.lag_days,
        }


class Settled(NamedTuple):
    """Every reported date of one series value and measure, and the dates skipped for want of
    an as-of date, each in date order."""

    dates: list[DateHistory]
    skipped: list[dt.date]


class StillRevised(NamedTuple):
    """Of the dates, how many (and what share, None without dates) were last revised ``days``
    or more days after their first publication."""

    days: int
    dates: int
    share: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"days": self.days, "still_revised": self.dates, "share_still_revised": self.share}


def as_of_by_run(runs: Iterable[RunRecord]) -> dict[int, dt.date | None]:
    """Each run's as-of date by run id (None for a run that recorded none)."""
    return {run.id: run.as_of for run in runs}


def settle(
    entries: Iterable[ChangeEntry], as_of: Mapping[int, dt.date | None], measure: str
) -> Settled:
    """How each date of ``entries`` settled in ``measure`` (``cases`` or ``deaths``).

    ``entries`` are the change-log entries of one series value (``national`` or one state's FIPS
    code), in any order; ``as_of`` maps each run id to its as-of date (a run missing from it
    counts as one without). The definitions are the module docstring's."""
    by_date: dict[dt.date, list[ChangeEntry]] = {}
    for entry in entries:
        by_date.setdefault(entry.date, []).append(entry)
    dates: list[DateHistory] = []
    skipped: list[dt.date] = []
    for date in sorted(by_date):
        history = _date_history(date, sorted(by_date[date], key=_run_id), as_of, measure)
        if history is None:
            skipped.append(date)
        else:
            dates.append(history)
    return Settled(dates, skipped)


def _run_id(entry: ChangeEntry) -> int:
    return entry.run_id


def _date_history(
    date: dt.date,
    entries: Sequence[ChangeEntry],
    as_of: Mapping[int, dt.date | None],
    measure: str,
) -> DateHistory | None:
    """One date's history from its entries in run order; None when it is skipped."""
    first = entries[0]
    published = as_of.get(first.run_id)
    if first.kind != INSERTED or published is None:
        return None
    value = _value(first.after, measure)
    first_value, revisions, last_revised = value, 0, None
    for entry in entries[1:]:
        if entry.kind == UPDATED:
            before, value = _value(entry.before, measure), _value(entry.after, measure)
            if before == value:
                continue  # another figure changed
        elif entry.kind == REMOVED:
            value = None
        else:  # inserted again after a removal
            value = _value(entry.after, measure)
        revised = as_of.get(entry.run_id)
        if revised is None:
            return None
        revisions, last_revised = revisions + 1, revised
    lag = (last_revised - published).days if last_revised is not None else 0
    return DateHistory(date, published, first_value, value, revisions, last_revised, lag)


def _value(values: Mapping[str, Any] | None, measure: str) -> int | None:
    value = (values or {}).get(measure)
    return None if value is None else int(value)


def window(settled: Settled, start: dt.date | None = None, end: dt.date | None = None) -> Settled:
    """The dates from ``start`` through ``end`` (inclusive; None: unbounded)."""

    def inside(date: dt.date) -> bool:
        return (start is None or date >= start) and (end is None or date <= end)

    return Settled(
        [d for d in settled.dates if inside(d.date)], [d for d in settled.skipped if inside(d)]
    )


def still_revised(
    dates: Sequence[DateHistory], days: Sequence[int] = SETTLE_DAYS
) -> list[StillRevised]:
    """For each k in ``days``: the dates whose lag is k days or more, and their share of all
    ``dates`` (rounded to :data:`SHARE_DECIMALS` decimals; None without dates)."""
    found = []
    for k in days:
        late = sum(1 for d in dates if d.lag_days >= k)
        share = round(late / len(dates), SHARE_DECIMALS) if dates else None
        found.append(StillRevised(k, late, share))
    return found


# -- output shared by the CLI and the API ---------------------------------------------------------


def report(
    settled: Settled,
    place: str,
    measure: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    """The JSON answer for ``place`` (``national`` or a FIPS code): one page of the window's
    dates, the shares still revised over the whole window, its number of dates (``total``,
    which ``limit`` and ``offset`` page) and of dates skipped."""
    chosen = window(settled, start, end)
    total = len(chosen.dates)
    return {
        "place": place,
        "measure": measure,
        "dates": [d.to_dict() for d in page_of(chosen.dates, limit, offset)],
        "settled_after": [s.to_dict() for s in still_revised(chosen.dates)],
        "total": total,
        "skipped": len(chosen.skipped),
        "limit": limit if limit is not None else total,
        "offset": offset,
    }


def page_of(dates: list[DateHistory], limit: int | None, offset: int) -> list[DateHistory]:
    """``limit`` dates (None: all) after the first ``offset``."""
    return dates[offset : offset + limit if limit is not None else None]


def to_csv(dates: Iterable[DateHistory]) -> str:
    """The per-date rows as CSV, with :data:`FIELDS` as the header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    # The JSON objects' values in FIELDS' order; null is an empty cell.
    writer.writerows(["" if v is None else v for v in d.to_dict().values()] for d in dates)
    return out.getvalue()
