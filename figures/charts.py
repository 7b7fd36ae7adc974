"""Charts over dates: stacked panels of lines or bars sharing one date axis, and a timeline.

Layout is computed from the data alone (no font measurement), so the output is deterministic.
Colours are the Okabe-Ito palette, which stays distinguishable with the common colour-vision
deficiencies; series also differ by dash pattern where they share a panel.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .svg import GRID, INK, MUTED, Svg, num

BLUE = "#0072B2"
VERMILLION = "#D55E00"
GREEN = "#009E73"
ORANGE = "#E69F00"
PURPLE = "#CC79A7"
GREY = "#999999"

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

WIDTH = 720
LEFT = 64
RIGHT = 24
TITLE_Y = 24
LEGEND_Y = 48
PANEL_GAP = 34  # room above each panel for its heading
AXIS_ROOM = 30  # below the last panel, for the date labels
BAND_OPACITY = 0.3  # a light shade: the bars and lines drawn over a band stay readable


@dataclass(frozen=True)
class Series:
    """One series of a panel: a value per day, None where there is none (a gap)."""

    label: str
    points: Sequence[tuple[dt.date, int | None]]
    colour: str
    dashed: bool = False
    kind: Literal["line", "bars"] = "line"
    width: float = 2


@dataclass(frozen=True)
class Note:
    """A labelled point: a dot on (day, value) and a text beside it (none if empty)."""

    day: dt.date
    value: int
    text: str
    anchor: Literal["start", "end"] = "start"
    dy: float = -8


@dataclass(frozen=True)
class Band:
    """One day shaded over the whole height of a panel, labelled inside the shade."""

    day: dt.date
    label: str
    legend: str
    colour: str


@dataclass(frozen=True)
class Panel:
    """A plot of series over the chart's days. ``limits``, when given, is the range of values the
    axis covers (a zoom): what lies outside it is cut at the panel's edge."""

    heading: str
    series: Sequence[Series]
    notes: Sequence[Note] = ()
    height: float = 200
    bands: Sequence[Band] = ()
    limits: tuple[int, int] | None = None


@dataclass(frozen=True)
class Bar:
    """One row of a timeline: a span of days."""

    label: str
    start: dt.date
    end: dt.date
    colour: str
    text: str = ""


@dataclass(frozen=True)
class Lane:
    """One panel of a timeline: rows of bars over its own range of days."""

    heading: str
    start: dt.date
    end: dt.date
    bars: Sequence[Bar]


def value_axis(low: int, high: int) -> tuple[list[int], int]:
    """The ticks of an axis covering [low, high], and the value its bottom edge stands for.

    The bottom is the lowest tick, unless the values only just dip below the tick above it
    (by less than a quarter of a step): then the axis ends at the lowest value, so that a
    difference of a few hundred on a scale of tens of thousands leaves no empty band.
    """
    ticks = nice_ticks(low, high)
    if len(ticks) > 2 and low < ticks[1] and ticks[1] - low < (ticks[1] - ticks[0]) / 4:
        return ticks[1:], low
    return ticks, ticks[0]


def nice_ticks(low: int, high: int, count: int = 5) -> list[int]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** max(0, math.floor(math.log10(raw)))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step)
    last = math.ceil(high / step)
    return [k * step for k in range(first, last + 1)]


def compact(value: int) -> str:
    """A tick label: ``0``, ``850``, ``20k``, ``2.5M``, ``100M``."""
    size = abs(value)
    if size >= 1_000_000 and size % 100_000 == 0:
        return f"{value / 1_000_000:g}M"
    if size >= 1_000 and size % 100 == 0:
        return f"{value / 1_000:g}k"
    return f"{value:,}"


def date_ticks(start: dt.date, end: dt.date, most: int = 10) -> list[tuple[dt.date, str]]:
    """Tick days and labels: whole months or years for long spans, days or weeks for short."""
    days = (end - start).days
    for step in (1, 2, 7, 14):
        if days // step + 1 <= most:
            ticks = [
                start + dt.timedelta(days=k)
                for k in range(days + 1)
                if (step < 7 and k % step == 0)
                or (step >= 7 and (start + dt.timedelta(days=k)).toordinal() % step == 1)
            ]
            return [(day, f"{day.day} {MONTHS[day.month - 1]}") for day in ticks]
    for months in (1, 2, 3, 6, 12):
        ticks = [
            dt.date(year, month, 1)
            for year in range(start.year, end.year + 1)
            for month in range(1, 13)
            if (month - 1) % months == 0 and start <= dt.date(year, month, 1) <= end
        ]
        if len(ticks) <= most:
            if months == 12:
                return [(day, str(day.year)) for day in ticks]
            return [(day, f"{MONTHS[day.month - 1]} {day.year}") for day in ticks]
    return [(start, start.isoformat()), (end, end.isoformat())]


class DayScale:
    """Days to x: each day owns an equal slot; a point sits in the middle of its slot."""

    def __init__(self, start: dt.date, end: dt.date, left: float, right: float) -> None:
        self.start = start
        self.slots = (end - start).days + 1
        self.left = left
        self.slot = (right - left) / self.slots

    def __call__(self, day: dt.date) -> float:
        return self.left + ((day - self.start).days + 0.5) * self.slot


class ValueScale:
    """Values to y, upwards, over the ticks' range (from ``low`` when the axis starts below
    or above its first tick)."""

    def __init__(
        self, ticks: Sequence[int], top: float, bottom: float, low: int | None = None
    ) -> None:
        self.low = ticks[0] if low is None else low
        self.high = ticks[-1]
        self.top = top
        self.bottom = bottom

    def __call__(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return self.bottom - share * (self.bottom - self.top)


def _heading(svg: Svg, title: str) -> None:
    svg.text(LEFT, TITLE_Y, title, font_size=15, font_weight="bold")


def _legend(svg: Svg, series: Sequence[Series], bands: Sequence[Band] = ()) -> None:
    x = float(LEFT)
    seen: list[str] = []
    for item in series:
        if item.label in seen:
            continue
        seen.append(item.label)
        if item.kind == "bars":
            svg.rect(x, LEGEND_Y - 9, 18, 10, fill=item.colour)
        else:
            dash = {"stroke_dasharray": "6 4"} if item.dashed else {}
            svg.line(
                x,
                LEGEND_Y - 4,
                x + 18,
                LEGEND_Y - 4,
                stroke=item.colour,
                stroke_width=item.width,
                **dash,
            )
        svg.text(x + 24, LEGEND_Y, item.label)
        x += 24 + 7 * len(item.label) + 24
    for band in bands:
        svg.rect(x, LEGEND_Y - 11, 18, 14, fill=band.colour, fill_opacity=BAND_OPACITY)
        svg.text(x + 24, LEGEND_Y, band.legend)
        x += 24 + 7 * len(band.legend) + 24


def _segments(
    points: Sequence[tuple[dt.date, int | None]],
) -> list[list[tuple[dt.date, int]]]:
    """Runs of consecutive points with a value; a None breaks the line."""
    runs: list[list[tuple[dt.date, int]]] = [[]]
    for day, value in points:
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((day, value))
    return [run for run in runs if run]


def _panel(
    svg: Svg,
    panel: Panel,
    x: DayScale,
    top: float,
    ticks_x: list[tuple[dt.date, str]],
    last: bool,
    right: float,
    name: str,
) -> float:
    """Draw one panel with its top edge at ``top``; return its bottom edge. ``name`` names
    what belongs to the panel alone in the document (its clip path)."""
    bottom = top + panel.height
    if panel.limits is None:
        values = [v for s in panel.series for _, v in s.points if v is not None]
        values += [note.value for note in panel.notes]
        low, high = min(0, *values), max(values)
    else:
        low, high = panel.limits
    ticks_y, floor = value_axis(low, high)
    y = ValueScale(ticks_y, top, bottom, floor)
    # Only a zoom has values beyond its edges; cutting the others would change nothing.
    cut = (
        {}
        if panel.limits is None
        else {"clip_path": svg.clip(name, LEFT, top, right - LEFT, bottom - top)}
    )
    svg.text(LEFT, top - 10, panel.heading, font_weight="bold", fill=MUTED)
    for band in panel.bands:
        svg.rect(
            x(band.day) - x.slot / 2,
            top,
            x.slot,
            bottom - top,
            fill=band.colour,
            fill_opacity=BAND_OPACITY,
        )
    for value in ticks_y:
        svg.line(LEFT, y(value), right, y(value), stroke=GRID)
        svg.text(LEFT - 6, y(value) + 4, compact(value), text_anchor="end", fill=MUTED)
    for day, label in ticks_x:
        svg.line(x(day), top, x(day), bottom, stroke=GRID)
        if last:
            svg.line(x(day), bottom, x(day), bottom + 4, stroke=INK)
            svg.text(x(day), bottom + 18, label, text_anchor="middle", fill=MUTED)
    svg.line(LEFT, y(0), right, y(0), stroke=INK)
    svg.line(LEFT, top, LEFT, bottom, stroke=INK)
    for band in panel.bands:  # read upwards, from the foot of the shade
        foot = bottom - 8
        svg.text(
            x(band.day) + 4,
            foot,
            band.label,
            transform=f"rotate(-90 {num(x(band.day) + 4)} {num(foot)})",
        )
    for series in panel.series:
        if series.kind == "bars":
            width = max(1.0, x.slot * 0.7)
            for day, count in series.points:
                if count is None:
                    continue
                upper, lower = sorted((y(count), y(0)))
                svg.rect(x(day) - width / 2, upper, width, lower - upper, fill=series.colour, **cut)
            continue
        dash = {"stroke_dasharray": "6 4"} if series.dashed else {}
        for run in _segments(series.points):
            svg.polyline(
                [(x(d), y(v)) for d, v in run],
                stroke=series.colour,
                stroke_width=series.width,
                stroke_linejoin="round",
                **dash,
                **cut,
            )
    for note in panel.notes:
        svg.circle(x(note.day), y(note.value), 3.5, fill=INK)
        if not note.text:
            continue
        shift = 6 if note.anchor == "start" else -6
        svg.text(x(note.day) + shift, y(note.value) + note.dy, note.text, text_anchor=note.anchor)
    return bottom


def panel_chart(
    *, title: str, desc: str, start: dt.date, end: dt.date, panels: Sequence[Panel]
) -> str:
    """Panels stacked over one date axis, a legend of every series under the title."""
    height = LEGEND_Y + sum(PANEL_GAP + p.height for p in panels) + AXIS_ROOM
    svg = Svg(WIDTH, height, title=title, desc=desc)
    _heading(svg, title)
    _legend(svg, [s for p in panels for s in p.series], [b for p in panels for b in p.bands])
    right = WIDTH - RIGHT
    x = DayScale(start, end, LEFT, right)
    ticks_x = date_ticks(start, end)
    top = float(LEGEND_Y)
    for index, panel in enumerate(panels):
        last = index == len(panels) - 1
        top = _panel(svg, panel, x, top + PANEL_GAP, ticks_x, last, right, f"panel-{index + 1}")
    return svg.render()


def timeline(*, title: str, desc: str, lanes: Sequence[Lane], label_width: float = 150) -> str:
    """Lanes of horizontal bars, each lane over its own range of days."""
    row = 30
    height = TITLE_Y + sum(PANEL_GAP + row * len(lane.bars) + AXIS_ROOM for lane in lanes) + 8
    svg = Svg(WIDTH, height, title=title, desc=desc)
    _heading(svg, title)
    left = LEFT + label_width
    right = WIDTH - RIGHT
    top = float(TITLE_Y)
    for lane in lanes:
        top += PANEL_GAP
        bottom = top + row * len(lane.bars)
        x = DayScale(lane.start, lane.end, left, right)
        svg.text(LEFT, top - 10, lane.heading, font_weight="bold", fill=MUTED)
        for day, label in date_ticks(lane.start, lane.end):
            svg.line(x(day), top, x(day), bottom, stroke=GRID)
            svg.line(x(day), bottom, x(day), bottom + 4, stroke=INK)
            svg.text(x(day), bottom + 18, label, text_anchor="middle", fill=MUTED)
        svg.line(left, bottom, right, bottom, stroke=INK)
        for index, bar in enumerate(lane.bars):
            middle = top + row * index + row / 2
            begin = max(x(bar.start) - x.slot / 2, left)
            finish = min(x(bar.end) + x.slot / 2, right)
            svg.text(left - 8, middle + 4, bar.label, text_anchor="end")
            svg.rect(begin, middle - 8, finish - begin, 16, fill=bar.colour)
            if bar.text:
                svg.text(begin + 6, middle + 4, bar.text, fill="#ffffff", font_weight="bold")
        top = bottom + AXIS_ROOM
    return svg.render()
