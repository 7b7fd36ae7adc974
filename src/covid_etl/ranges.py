"""Dates and keys as short text: ``2020-01-21, 2022-04-17..2023-01-24``, ``fips 06: ...``.

Used by error messages, notifications, the change log and the console. Pure and at the bottom
of the package: it imports nothing of covid_etl.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

# A (date, fips) key of the per-state series, as :data:`covid_etl.models.StateKey`; spelled
# out here so that this module imports nothing of the package.
StateKey = tuple[dt.date, str]


def date_ranges(dates: Sequence[dt.date]) -> list[str]:
    """Sorted dates as ``2020-01-21`` or ``2022-04-17..2023-01-24``, consecutive days collapsed."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in dates:
        if ranges and day - ranges[-1][1] == dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return [a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}" for a, b in ranges]


def format_ranges(dates: Sequence[dt.date], limit: int = 4) -> str:
    """``2020-01-21, 2022-04-17..2023-01-24`` — consecutive days collapsed into ranges."""
    return join_ranges(date_ranges(dates), limit)


def join_ranges(parts: Sequence[str], limit: int = 4) -> str:
    """Ranges from :func:`date_ranges` as one line, at most ``limit`` of them spelled out."""
    if len(parts) > limit:
        parts = [*parts[:limit], f"and {len(parts) - limit} more range(s)"]
    return ", ".join(parts)


# Jurisdictions spelled out in a shrink message; the rest are counted.
SHOWN_STATES = 5


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


SHOWN_RANGES = 10


def shown_dates(dates: Sequence[dt.date], limit: int = SHOWN_RANGES) -> str:
    """Sorted dates as ranges, at most ``limit`` of them, then ``and N more`` days."""
    ranges = date_ranges(dates)
    if len(ranges) <= limit:
        return ", ".join(ranges)
    shown = ranges[:limit]
    covered = sum(_days_in(r) for r in shown)
    return f"{', '.join(shown)} and {len(dates) - covered} more"


def _days_in(text: str) -> int:
    first, _, last = text.partition("..")
    if not last:
        return 1
    return (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1
