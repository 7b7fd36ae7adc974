"""The original system's formats, reproduced for its clients, and publishing them.

- ``/covid_data``: the original API's 13 columns, by its rules (no null anywhere: its front-end
  parses every field and sums the diffs per month), and its ``last_modified_date`` text;
- ``acg-covid-data.csv``: those rows as one CSV file;
- ``CHANGE_LOG.csv``: ``date,status_update`` for the dates the latest run that changed the
  national series added or revised.

The corrected, typed series is :func:`covid_etl.series.derive.derived_rows`'s; these are
compatibility views. The formats are pure functions; :func:`original_files` reads them from a
store and :func:`publish_original` writes them where the store has a public place for them, a
step the pipeline takes after the commit.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
from collections.abc import Sequence
from typing import Any

from covid_etl.errors import describe
from covid_etl.models import ChangeEntry, Record
from covid_etl.series import registry
from covid_etl.series.changelog import INSERTED, NATIONAL, UPDATED
from covid_etl.store.base import FilePublisher, Store

log = logging.getLogger(__name__)

CSV_NAME = "acg-covid-data.csv"
CHANGE_LOG_NAME = "CHANGE_LOG.csv"


LEGACY_COLUMNS = (
    "date",
    "cases",
    "deaths",
    "recoveries",
    "date-diff",
    "month",
    "day_of_week",
    "cases-diff",
    "cases-log",
    "deaths-diff",
    "deaths-log",
    "recoveries-diff",
    "recoveries-log",
)


LEGACY_TIME_FORMAT = "%m/%d/%Y, %H:%M:%S"


# English names whatever the process locale (strftime's %B and %A follow the locale).
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def covid_data_rows(records: Sequence[Record]) -> list[dict[str, Any]]:
    """The original design's 13 columns, by the original's rules (docs/api.md): no null
    anywhere, because its front-end parses every field and sums the diffs per month.

    Only the dates JHU has too (``in_jhu``): the original joined the sources with an inner join,
    where our own series keeps every NYT date. Unreported recoveries count as 0, as the
    original took JHU's 0 as data, so
    ``recoveries-diff`` drops by the whole cumulative value on the first unreported day. This
    is a compatibility view; the corrected series is
    :func:`covid_etl.series.derive.derived_rows`'s.
    """
    rows: list[dict[str, Any]] = []
    previous: tuple[dt.date, int, int, int] | None = None
    for r in records:
        if not r.in_jhu:
            continue  # the original's inner join: only the dates of both sources
        recoveries = r.recovered if r.recovered is not None else 0
        before_date, before_cases, before_deaths, before_recoveries = previous or (
            r.date,
            r.cases,
            r.deaths,
            recoveries,
        )
        rows.append(
            {
                "date": r.date.isoformat(),
                "cases": r.cases,
                "deaths": r.deaths,
                "recoveries": recoveries,
                "date-diff": (r.date - before_date).days,
                "month": _MONTH_NAMES[r.date.month - 1],
                "day_of_week": _DAY_NAMES[r.date.weekday()],
                "cases-diff": r.cases - before_cases,
                "cases-log": _log_or_zero(r.cases),
                "deaths-diff": r.deaths - before_deaths,
                "deaths-log": _log_or_zero(r.deaths),
                "recoveries-diff": recoveries - before_recoveries,
                "recoveries-log": _log_or_zero(recoveries),
            }
        )
        previous = (r.date, r.cases, r.deaths, recoveries)
    return rows


def last_modified_text(moment: dt.datetime) -> str:
    """The original's ``last_modified_date`` format, in UTC: ``04/17/2022, 21:05:09``."""
    return moment.astimezone(dt.UTC).strftime(LEGACY_TIME_FORMAT)


def _log_or_zero(value: int) -> float:
    # The original wrote 0 where the logarithm is undefined.
    return math.log(value) if value > 0 else 0.0


def change_log_csv(entries: Sequence[ChangeEntry]) -> bytes:
    """The original system's CHANGE_LOG.csv: a ``date,status_update`` header, a row per date."""
    lines = ["date,status_update", *(f"{day},{status}" for day, status in change_log_rows(entries))]
    return ("\n".join(lines) + "\n").encode()


def change_log_rows(entries: Sequence[ChangeEntry]) -> list[tuple[str, str]]:
    """The original system's CHANGE_LOG.csv rows for the national series: (date, status_update)
    with ``NEW RECORD`` or ``UPDATED_RECORD`` (it had no removals)."""
    labels = {INSERTED: "NEW RECORD", UPDATED: "UPDATED_RECORD"}
    return [
        (e.date.isoformat(), labels[e.kind])
        for e in entries
        if e.series == NATIONAL and e.kind in labels
    ]


def covid_data_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """The ``/covid_data`` rows as CSV: their columns in order, null as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if rows:
        writer.writerow(rows[0].keys())
    for row in rows:
        writer.writerow("" if value is None else value for value in row.values())
    return out.getvalue().encode()


def original_files(store: Store) -> dict[str, bytes]:
    """``acg-covid-data.csv`` and, once a run has changed the national series,
    ``CHANGE_LOG.csv``, as they stand in ``store`` (read, never written)."""
    files = {CSV_NAME: covid_data_csv(covid_data_rows(store.rows(registry.NATIONAL)))}
    run_id = store.last_changed_run_id(NATIONAL)
    if run_id is not None:
        files[CHANGE_LOG_NAME] = change_log_csv(store.changes(run_id=run_id, series=NATIONAL))
    return files


def publish_original(store: Store) -> None:
    """After a commit that changed the national series: the original system's files, where the
    store has a public place for them (S3). Derived output: a failure is logged, and the
    committed run stands."""
    if not isinstance(store, FilePublisher):
        return
    try:
        files = original_files(store)
    except Exception as exc:  # derived output only; the commit stands
        log.warning("could not read the original files to publish: %s", describe(exc))
        return
    store.publish_files(files)
