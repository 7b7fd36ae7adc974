"""Per-capita figures of one jurisdiction's series (the daily values and 7-day averages are
:mod:`covid_etl.series.derive`'s, shared with the national series).

Per-capita values are None when the population is unknown (the territories), never 0.
"""

from __future__ import annotations

PER = 100_000


def per_100k(value: float | None, population: int | None) -> float | None:
    """``value`` per 100,000 inhabitants; None when either is unknown (no population: not 0)."""
    if value is None or not population:
        return None
    return value * PER / population


__all__ = ["per_100k"]
