"""Derived figures of one jurisdiction's series: daily new values, 7-day averages, per 100k.
Pure functions over the stored cumulative series; the API computes them over the full series.

Per-capita values are None when the population is unknown (the territories), never 0.
"""

from __future__ import annotations

from collections.abc import Sequence

PER = 100_000
WINDOW = 7


def daily_new(cumulative: Sequence[int]) -> list[int]:
    """Day-over-day differences; the first day counts from 0. A revision that lowers a
    cumulative value gives a negative day, kept as published rather than hidden."""
    previous = 0
    out = []
    for value in cumulative:
        out.append(value - previous)
        previous = value
    return out


def seven_day_average(daily: Sequence[int]) -> list[float | None]:
    """Mean of each day and the six before it; None until seven days are available."""
    out: list[float | None] = []
    total = 0
    for i, value in enumerate(daily):
        total += value
        if i >= WINDOW:
            total -= daily[i - WINDOW]
        out.append(total / WINDOW if i >= WINDOW - 1 else None)
    return out


def per_100k(value: float | None, population: int | None) -> float | None:
    """``value`` per 100,000 inhabitants; None when either is unknown (no population: not 0)."""
    if value is None or not population:
        return None
    return value * PER / population


__all__ = ["daily_new", "per_100k", "seven_day_average"]
