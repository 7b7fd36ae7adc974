"""A small five-field cron expression (minute hour day-of-month month day-of-week), in UTC.

Supports ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, lists ``a,b``, month and day
names (``jan``, ``mon``) and Sunday as 0 or 7. As in Vixie cron, when both day fields are
restricted a day matches if *either* does. Enough for a daily ETL, with no dependency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from covid_etl.errors import ConfigError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, low, high, names) per field, in expression order.
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
# Far enough to find any satisfiable date (29 February needs up to 8 years); beyond it, never.
_SEARCH_DAYS = 366 * 9


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed expression; :meth:`next_after` gives fire times."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def _day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        by_dom = day.day in self.days
        by_dow = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_dom or by_dow
        return by_dom and by_dow

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first fire time strictly after ``moment`` (aware; the result is in UTC)."""
        moment = moment.astimezone(dt.UTC).replace(second=0, microsecond=0)
        moment += dt.timedelta(minutes=1)
        day = moment.date()
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                first = moment if day == moment.date() else None
                fire = self._first_time_on(day, first)
                if fire is not None:
                    return fire
            day += dt.timedelta(days=1)
        raise ConfigError(f"cron expression {self.expression!r} never fires")

    def _first_time_on(self, day: dt.date, not_before: dt.datetime | None) -> dt.datetime | None:
        for hour in sorted(self.hours):
            for minute in sorted(self.minutes):
                fire = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
                if not_before is None or fire >= not_before:
                    return fire
        return None


def parse_cron(expression: str) -> Cron:
    """Parse a five-field expression; raise ConfigError with the offending field otherwise."""
    parts = expression.split()
    if len(parts) != 5:
        raise ConfigError(
            f"cron expression {expression!r} must have 5 fields "
            "(minute hour day-of-month month day-of-week)"
        )
    sets = []
    for text, (name, low, high, names) in zip(parts, _FIELDS, strict=True):
        try:
            sets.append(_parse_field(text.lower(), low, high, names))
        except ValueError as exc:
            raise ConfigError(f"cron expression {expression!r}: {name} {text!r}: {exc}") from None
    weekdays = frozenset(d % 7 for d in sets[4])
    cron = Cron(
        expression=expression,
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        days_restricted=parts[2] != "*",
        weekdays_restricted=parts[4] != "*",
    )
    cron.next_after(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))  # reject "30 2 31 2 *" up front
    return cron


def _parse_field(text: str, low: int, high: int, names: tuple[str, ...]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = _number(step_text, ()) if step_text else 1
        if step < 1:
            raise ValueError("step must be 1 or more")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _number(a, names), _number(b, names)
        else:
            first = _number(base, names)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise ValueError(f"out of range {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, names: tuple[str, ...]) -> int:
    if text in names:
        # Months count from 1, weekdays from 0 (Sunday).
        return names.index(text) + (1 if len(names) == 12 else 0)
    if not text.isdigit():
        raise ValueError("not a number" + (f" or one of {', '.join(names)}" if names else ""))
    return int(text)
