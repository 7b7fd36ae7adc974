"""What a series is: one declaration that the diff, the store, the change log, the run counts and
the exports read, so that a series is described once and the machinery stays the same for all.

A declaration is data plus a few plain functions: no registration, no subclassing. The domain
rules (the NYT⋈JHU join, the recovered rule, per-state grouping and warnings) stay in the
series' own module, behind ``parse`` and ``build``.

Every series' rows are NamedTuples whose first field is ``date``. A series is either one row
per date (``partition=None``) or one row per (partition, date), such as (fips, date); its stored
key is (partition, date), so one partition's rows are a range of the table's B-tree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from covid_etl.catalog import Source
from covid_etl.errors import HistoryShrinks
from covid_etl.models import Anomaly

# A stored row's key, in the table's key order: (date,) or (partition value, date).
Key = tuple[Any, ...]


class Column(NamedTuple):
    """One field of a series' rows: its stored column, its type and what it means."""

    name: str
    type: type
    doc: str
    nullable: bool = False
    export_as: str | None = None  # its header in exports, where it differs from ``name``
    example: str | None = None  # an example value for the API's documentation
    # Kept for the store's own use (the national ``in_jhu``): not exported, not served.
    internal: bool = False


class Built(NamedTuple):
    """A series as the sources give it: validated rows (each partition's in date order) and
    what the run should warn about."""

    rows: list[Any]
    warnings: Sequence[str] = ()


class Series(NamedTuple):
    """One series, declared once. (A NamedTuple, like every value imported on every run: its
    class builds several times faster than a frozen dataclass's, and start-up is most of a
    no-change run.)"""

    name: str  # the run's counts and the change log name it by this
    table: str  # the stored table (its schema is spelled out in the store's migrations)
    row: type  # the rows' NamedTuple; its fields are ``columns``, ``date`` first
    columns: tuple[Column, ...]
    partition: str | None  # the column that splits the series (fips), or None
    sources: tuple[Source, ...]  # the sources it is built from, all of them needed
    # The validate stage: the sources' texts (by source name) -> parsed rows; ``today`` is
    # the current UTC date (a date after tomorrow is refused). Raises ParseError.
    parse: Callable[[Mapping[str, str], dt.date], Any]
    # The transform stage: parsed rows -> the series and its warnings. Raises DataError.
    build: Callable[[Any], Built]
    # The error for stored keys the incoming series lacks (a run never shrinks history unless
    # the operator accepted the removals). None: the source is a curated list whose removals
    # are real (the NYT's notes), applied and recorded like any change.
    shrinks: Callable[[Sequence[Key]], HistoryShrinks] | None
    # The change log's ``series`` value of a partition is this prefix and the partition value;
    # an unpartitioned series is logged under its name.
    log_prefix: str = ""
    # Key columns between the partition and the date, for rows that are unique only with them
    # (a note's ``type``): the key is (partition, *subkey, date).
    subkey: tuple[str, ...] = ()
    # The statements creating its table, by SQL dialect ("sqlite", "postgresql"), for a series
    # whose table is not in the store's numbered migrations; the store runs them when the table
    # is missing. The national and per-state tables are in the migrations.
    tables: Mapping[str, Sequence[str]] = MappingProxyType({})
    # What the API serves of one partition: ``derive(rows, notes)`` turns its full stored
    # series (date order) and the NYT's anomaly notes for its place into one dict per row with
    # the columns of ``api_columns``, derived figures included (computed over the full series,
    # so a window never changes a value). By default: the stored columns but the partition, the
    # date as ISO text.
    derive: Callable[[Sequence[Any], Sequence[Anomaly]], list[dict[str, Any]]] | None = None
    api_columns: tuple[Column, ...] = ()
    # The NYT's geoid of a partition (``USA``, ``USA-06``): whose anomaly notes apply to it.
    place: Callable[[str | None], str] | None = None

    @property
    def key(self) -> tuple[str, ...]:
        """The stored key's columns, in the table's key order."""
        return ("date",) if self.partition is None else (self.partition, *self.subkey, "date")

    @property
    def values(self) -> tuple[str, ...]:
        """The columns outside the key: what a revision changes and the change log records."""
        return tuple(c.name for c in self.columns if c.name not in self.key)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def record_columns(self) -> tuple[Column, ...]:
        """The columns of the API's records (``api_columns``, or the stored ones but the
        partition)."""
        return self.api_columns or tuple(c for c in self.columns if c.name != self.partition)

    def api_rows(self, rows: Sequence[Any], notes: Sequence[Anomaly] = ()) -> list[dict[str, Any]]:
        """The API's records of one partition's rows (date order), with the notes on its place."""
        if self.derive is not None:
            return self.derive(rows, notes)
        names = [c.name for c in self.record_columns]
        return [{name: _plain(getattr(row, name)) for name in names} for row in rows]

    @property
    def export_names(self) -> tuple[str, ...]:
        return tuple(c.export_as or c.name for c in self.columns if not c.internal)

    def exported(self, row: Any) -> tuple[Any, ...]:
        """A row's exported values (its internal columns left out), in ``export_names`` order."""
        if not any(c.internal for c in self.columns):
            return tuple(row)
        return tuple(v for v, c in zip(row, self.columns, strict=True) if not c.internal)

    def key_of(self, row: Any) -> Key:
        if self.partition is None:
            return (row.date,)
        if self.subkey:
            return (getattr(row, self.partition), *(getattr(row, c) for c in self.subkey), row.date)
        return (getattr(row, self.partition), row.date)

    def log_series(self, partition: str | None, *subkey: str) -> str:
        """The change log's ``series`` value of a partition's rows (with the subkey's values:
        ``anomalies:USA-06:cases``)."""
        if partition is None:
            return self.name
        return self.log_prefix + ":".join((partition, *subkey))

    @property
    def logged(self) -> tuple[str, ...]:
        """The values the change log records: all but the internal columns."""
        internal = {c.name for c in self.columns if c.internal}
        return tuple(name for name in self.values if name not in internal)

    def log_values(self, row: Any) -> dict[str, Any]:
        """A row's values as the change log records them."""
        return {name: getattr(row, name) for name in self.logged}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


__all__ = ["Built", "Column", "Key", "Series"]
