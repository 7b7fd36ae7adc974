"""Compare an incoming series with the stored one, one partition at a time. Pure.

The sources revise the past, so every stored key is compared, not only new dates; only rows
whose values differ are written. A run never deletes on its own: incoming data that lacks
stored keys is refused (the series' ``shrinks`` error) unless the operator accepted the removals
(``covid-etl run --accept-removals``), or the series is a curated list whose removals are real
(the NYT's notes: no ``shrinks``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple

from covid_etl.series.spec import Key, Series


class Changes(NamedTuple):
    """How the incoming series differs from the stored one."""

    inserted: list[Any]
    updated: list[Any]
    unchanged: int
    removed: Sequence[Key] = ()
    # The stored rows of updated and removed keys: the change log's values before the run.
    previous: Mapping[Key, Any] = MappingProxyType({})


def partition_groups(series: Series, rows: Sequence[Any]) -> dict[str | None, list[Any]]:
    """The rows of each partition, in partition order, each in the order of ``rows``."""
    if series.partition is None:
        return {None: list(rows)} if rows else {}
    # A stable sort by partition keeps each partition's rows in their order, and costs one pass
    # over rows that are already in partition order (the parser's and the store's).
    by_partition = itemgetter(series.names.index(series.partition))
    return {
        value: list(group)
        for value, group in groupby(sorted(rows, key=by_partition), key=by_partition)
    }


def diff_series(
    series: Series,
    incoming: Sequence[Any],
    stored_partitions: Iterable[str | None],
    stored_rows: Callable[[str | None], Iterable[Any]],
    *,
    accept_removals: bool = False,
) -> Changes:
    """Inserted (new keys), updated (stored keys whose values changed) and unchanged rows.

    ``stored_rows(partition)`` gives one partition's stored rows, so only one partition's rows
    are held besides the incoming ones (the stored table of a large file would otherwise double
    a run's memory). ``incoming`` is in date order within each partition; with nothing stored
    (the initial load) it is returned as the inserted rows in its order, otherwise the rows come
    one partition after the other, each in date order."""
    stored_partitions = list(stored_partitions)
    if not stored_partitions:
        return Changes(inserted=list(incoming), updated=[], unchanged=0)
    groups = partition_groups(series, incoming)
    key_of = series.key_of
    inserted: list[Any] = []
    updated: list[Any] = []
    unchanged = 0
    lost: list[Key] = []
    previous: dict[Key, Any] = {}
    for partition in sorted(groups.keys() | set(stored_partitions), key=_none_first):
        stored = {key_of(row): row for row in stored_rows(partition)}
        group = groups.get(partition, ())
        if not stored:  # a partition's first load: nothing to compare
            inserted += group
            continue
        seen: set[Key] = set()
        for row in group:
            key = key_of(row)
            seen.add(key)
            old = stored.get(key)
            if old is None:
                inserted.append(row)
            elif old != row:
                updated.append(row)
                previous[key] = old
            else:
                unchanged += 1
        for key in stored.keys() - seen:
            lost.append(key)
            previous[key] = stored[key]
    lost.sort()
    if lost and not accept_removals and series.shrinks is not None:
        raise series.shrinks(lost)
    return Changes(inserted, updated, unchanged, removed=lost, previous=previous)


def _none_first(partition: str | None) -> str:
    return partition or ""


__all__ = ["Changes", "diff_series", "partition_groups"]
