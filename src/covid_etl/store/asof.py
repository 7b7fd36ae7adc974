"""The data as it stood on a day, read back from any store: its rows after the last succeeded
run whose as-of date is that day or earlier (DESIGN.md, "History: as of a day").

Every run logs each row it inserted, revised or removed with its values before and after, in the
same transaction as the rows. So the rows as of run R are today's rows with every later run
undone: for each key some later run touched, the values before the first such run (none: the row
did not exist yet). A read costs today's rows plus the later entries of the series asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from covid_etl.errors import EtlError
from covid_etl.models import ChangeEntry, RunRecord
from covid_etl.series.spec import Key, Series
from covid_etl.store.base import Store


class NoHistory(EtlError):
    """The day asked for is before the oldest history the store holds."""


def run_as_of(store: Store, day: dt.date) -> RunRecord:
    """The run whose data was the data as of ``day``; NoHistory when the store holds none."""
    run = store.run_as_of(day)
    if run is None:
        since = store.history_from()
        if since is None:
            raise NoHistory("the store holds no history yet: no run has recorded an as-of date")
        raise NoHistory(
            f"no data as of {day.isoformat()}: history is kept from {since.isoformat()}"
        )
    return run


def rows_as_of(
    store: Store, series: Series, run: RunRecord, partition: str | None = None
) -> list[Any]:
    """``series``' rows (of one ``partition``, if given) as they stood after ``run``, in the
    store's order (key order)."""
    current = store.rows(series, partition)
    logged = (
        None if partition is None and series.partition is not None else series.log_series(partition)
    )
    later = store.changes_after(run.id, logged)
    return undo(series, current, later)


def undo(series: Series, current: Iterable[Any], later: Sequence[ChangeEntry]) -> list[Any]:
    """``current`` rows with the runs of ``later`` (entries by series, date and run) undone."""
    rows: dict[Key, Any] = {series.key_of(row): row for row in current}
    first: dict[Key, ChangeEntry] = {}
    for entry in later:
        key = _key(series, entry)
        if key is not None and key not in first:
            first[key] = entry  # the earliest later run that touched the key
    for key, entry in first.items():
        if entry.before is None:
            rows.pop(key, None)  # inserted after the run: it did not exist then
        else:
            rows[key] = _row(series, key, entry.before)
    return sorted(rows.values(), key=series.key_of)


def _key(series: Series, entry: ChangeEntry) -> Key | None:
    """The stored key an entry is about, or None for another series' entry."""
    if series.partition is None:
        return (entry.date,) if entry.series == series.name else None
    if not entry.series.startswith(series.log_prefix):
        return None
    parts = entry.series[len(series.log_prefix) :].split(":")
    if len(parts) != 1 + len(series.subkey):
        return None
    if not series.log_prefix and not (len(parts[0]) == 2 and parts[0].isdigit()):
        return None  # the per-state series is logged under bare FIPS codes
    return (*parts, entry.date)


def _row(series: Series, key: Key, values: dict[str, Any]) -> Any:
    fields = dict(zip(series.key, key, strict=True))
    fields.update(values)
    for column in series.columns:
        if column.type is dt.date and isinstance(fields.get(column.name), str):
            fields[column.name] = dt.date.fromisoformat(fields[column.name])
    names: tuple[str, ...] = getattr(series.row, "_fields")  # noqa: B009 (a NamedTuple)
    return series.row(**{name: fields[name] for name in names if name in fields})


__all__ = ["NoHistory", "rows_as_of", "run_as_of", "undo"]
