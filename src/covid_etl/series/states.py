"""Compare the incoming per-state series with the stored one. Pure.

Rows are keyed by (date, fips). The NYT revises the past, so every stored key is compared, not
only new dates; only rows whose values differ are written. As for the national series, a run
never deletes on its own: incoming data that lacks stored keys is refused unless the operator
accepted the removals (``covid-etl run --accept-removals``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from covid_etl.errors import HistoryShrinks
from covid_etl.models import StateRecord
from covid_etl.series.national import format_ranges

StateKey = tuple[dt.date, str]
# Jurisdictions spelled out in a shrink message; the rest are counted.
SHOWN_STATES = 5


@dataclass(frozen=True, slots=True)
class StateChanges:
    """How the incoming per-state series differs from the stored one."""

    inserted: list[StateRecord]
    updated: list[StateRecord]
    unchanged: int
    removed: list[StateKey] = field(default_factory=list)
    # The stored rows of updated and removed keys: the change log's values before the run.
    previous: dict[StateKey, StateRecord] = field(default_factory=dict)


def diff_states(
    stored: Mapping[StateKey, StateRecord],
    incoming: Iterable[StateRecord],
    *,
    accept_removals: bool = False,
) -> StateChanges:
    """Inserted (new keys), updated (stored keys whose name or figures changed), unchanged."""
    inserted: list[StateRecord] = []
    updated: list[StateRecord] = []
    unchanged = 0
    previous: dict[StateKey, StateRecord] = {}
    seen: set[StateKey] = set()
    for row in incoming:
        key = (row.date, row.fips)
        seen.add(key)
        old = stored.get(key)
        if old is None:
            inserted.append(row)
        elif old != row:
            updated.append(row)
            previous[key] = old
        else:
            unchanged += 1
    lost = sorted(key for key in stored if key not in seen)
    if lost and not accept_removals:
        raise _shrinks(lost)
    previous.update((key, stored[key]) for key in lost)
    return StateChanges(
        inserted=inserted, updated=updated, unchanged=unchanged, removed=lost, previous=previous
    )


def diff_states_by_fips(
    incoming: Sequence[StateRecord],
    stored_fips: Iterable[str],
    stored_rows: Callable[[str], Iterable[StateRecord]],
    *,
    accept_removals: bool = False,
) -> StateChanges:
    """:func:`diff_states` one jurisdiction at a time: ``stored_rows(fips)`` gives that
    jurisdiction's stored rows, so only one jurisdiction's rows are held besides the incoming
    ones (the stored table of a large file would otherwise double the memory of a run).
    ``incoming`` is in date order within each fips; with nothing stored (the initial load) it is
    returned as the inserted rows in its order, otherwise the rows come one jurisdiction after
    the other, each in date order."""
    from covid_etl.sources.nyt_states import fips_groups

    stored_fips = list(stored_fips)
    if not stored_fips:
        return StateChanges(inserted=list(incoming), updated=[], unchanged=0)
    groups = {group[0].fips: group for group in fips_groups(incoming)}
    inserted: list[StateRecord] = []
    updated: list[StateRecord] = []
    unchanged = 0
    lost: list[StateKey] = []
    previous: dict[StateKey, StateRecord] = {}
    for fips in sorted(groups.keys() | set(stored_fips)):
        stored = {(r.date, r.fips): r for r in stored_rows(fips)}
        group = groups.get(fips, ())
        if not stored:  # a jurisdiction's first load: nothing to compare
            inserted += group
            continue
        part = diff_states(stored, group, accept_removals=True)
        inserted += part.inserted
        updated += part.updated
        unchanged += part.unchanged
        lost += part.removed
        previous.update(part.previous)
    lost.sort()
    if lost and not accept_removals:
        raise _shrinks(lost)
    return StateChanges(
        inserted=inserted, updated=updated, unchanged=unchanged, removed=lost, previous=previous
    )


def _shrinks(lost: Sequence[StateKey]) -> HistoryShrinks:
    return HistoryShrinks(
        f"the new states data lacks {len(lost)} (date, fips) row(s) that are already stored "
        f"({describe_keys(lost)}); refusing to load a truncated or shrunken source; "
        "if the source really dropped these rows, accept the removals with "
        "`covid-etl run --accept-removals`"
    )


def describe_keys(keys: Iterable[StateKey]) -> str:
    """``fips 06: 2021-07-01..2021-07-08; fips 36: 2021-07-08`` for a few jurisdictions."""
    by_fips: dict[str, list[dt.date]] = {}
    for day, fips in keys:
        by_fips.setdefault(fips, []).append(day)
    parts = [
        f"fips {fips}: {format_ranges(sorted(days), limit=2)}"
        for fips, days in sorted(by_fips.items())[:SHOWN_STATES]
    ]
    if len(by_fips) > SHOWN_STATES:
        parts.append(f"and {len(by_fips) - SHOWN_STATES} more jurisdiction(s)")
    return "; ".join(parts)


__all__ = ["StateChanges", "StateKey", "describe_keys", "diff_states", "diff_states_by_fips"]
