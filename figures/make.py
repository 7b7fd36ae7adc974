"""Draw the write-up's figures from the real data in the repository; write docs/figures/*.svg.

    python -m figures.make [--out DIR]      (or: make figures)

Every number in a figure is computed here from the shipped files, through covid-etl's own parse,
join and diff functions: what the figures show is what the contract produces. The one exception,
how the states' figures settled, reads the archive of the NYT's daily versions directly (tarfile
and csv, ``data.state_settling``), with the definitions of ``covid-etl revisions``.
tests/site/test_figures.py regenerates them and fails when the committed files differ.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from itertools import takewhile
from pathlib import Path

from . import data
from .charts import (
    AXIS_ROOM,
    BLUE,
    GREEN,
    GREY,
    LEFT,
    LEGEND_Y,
    MONTHS,
    ORANGE,
    PANEL_GAP,
    RIGHT,
    TITLE_Y,
    VERMILLION,
    WIDTH,
    Band,
    Bar,
    Lane,
    Note,
    Panel,
    Series,
    ValueScale,
    nice_ticks,
    panel_chart,
    timeline,
)
from .svg import GRID, INK, MUTED, Svg

OUT = data.ROOT / "docs" / "figures"


def day_label(day: dt.date, year: bool = True) -> str:
    """``16 Apr 2022``: month names from a fixed list, whatever the machine's locale."""
    text = f"{day.day} {MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if year else text


def national_cumulative() -> str:
    records = data.national()
    first, last = records[0], records[-1]
    return panel_chart(
        title="US cumulative cases and deaths, as covid-etl stores them",
        desc=(
            f"Two line charts over {len(records)} days, {first.date} to {last.date}: the national "
            f"series after the join of the shipped NYT and JHU files. Cumulative cases reach "
            f"{last.cases:,} and deaths {last.deaths:,} on {last.date}."
        ),
        start=first.date,
        end=last.date,
        panels=[
            Panel(
                "Cumulative cases (NYT)",
                [Series("cases", [(r.date, r.cases) for r in records], BLUE)],
                [Note(last.date, last.cases, f"{day_label(last.date)}: {last.cases:,}", "end")],
            ),
            Panel(
                "Cumulative deaths (NYT)",
                [Series("deaths", [(r.date, r.deaths) for r in records], VERMILLION)],
                [Note(last.date, last.deaths, f"{day_label(last.date)}: {last.deaths:,}", "end")],
            ),
        ],
    )


def join_window() -> str:
    nyt, jhu, stored = data.nyt_rows(), data.jhu_rows(), data.national()
    both = [r for r in stored if r.in_jhu]
    spans = [
        ("NYT us.csv", nyt[0].date, nyt[-1].date, BLUE, f"{len(nyt):,} days"),
        ("JHU, US rows", jhu[0].date, jhu[-1].date, VERMILLION, f"{len(jhu):,} days"),
        ("stored series", stored[0].date, stored[-1].date, GREEN, f"{len(stored):,} rows"),
        ("/covid_data (join)", both[0].date, both[-1].date, GREY, f"{len(both):,} rows"),
    ]
    dropped = len(nyt) - len(both)
    zoom_start = nyt[0].date - dt.timedelta(days=2)
    zoom_end = nyt[0].date + dt.timedelta(days=7)
    return timeline(
        title="Which dates each source covers, which the series keeps, which the original kept",
        desc=(
            f"NYT us.csv covers {nyt[0].date} to {nyt[-1].date}, the JHU US rows {jhu[0].date} to "
            f"{jhu[-1].date}. The stored series keeps every NYT date ({len(stored)} rows), with "
            f"recovered null where JHU has no row. The original system's outputs keep its inner "
            f"join, the {len(both)} dates in both, {both[0].date} to {both[-1].date}: "
            f"{dropped} NYT-only dates are not in them, the first day, {nyt[0].date}, one day "
            f"before JHU starts, and every day after {jhu[-1].date}."
        ),
        lanes=[
            Lane(
                f"Whole files: the series keeps all; the original's join drops {dropped}",
                nyt[0].date,
                nyt[-1].date,
                [Bar(label, start, end, colour, text) for label, start, end, colour, text in spans],
            ),
            Lane(
                f"The first days: NYT starts on {nyt[0].date}, one day before JHU",
                zoom_start,
                zoom_end,
                [
                    Bar(label, start, end, colour, f"from {day_label(start, year=False)}")
                    for label, start, end, colour, _ in spans
                ],
            ),
        ],
    )


def recovered() -> str:
    published = data.jhu_rows()
    stored = [r for r in data.national() if r.in_jhu]  # the dates JHU has
    last_reported = max(r.date for r in stored if r.recovered is not None)
    value = next(r.recovered for r in stored if r.date == last_reported)
    assert value is not None
    first_null = last_reported + dt.timedelta(days=1)
    nulls = sum(1 for r in stored if r.recovered is None)
    return panel_chart(
        title="JHU's US recoveries: published as 0 from 2020-12-14, stored as null",
        desc=(
            f"Line chart of cumulative US recoveries. The JHU file rises to {value:,} on "
            f"{last_reported}, then publishes 0 from {first_null} to {published[-1].date}. "
            f"covid-etl stores those zeros as null ({nulls} of the {len(stored)} dates JHU has), "
            "so its line "
            f"ends on {last_reported} instead of falling to 0."
        ),
        start=published[0].date,
        end=published[-1].date,
        panels=[
            Panel(
                "Cumulative recoveries, US",
                [
                    Series(
                        "stored recovered (null after 13 Dec 2020)",
                        [(r.date, r.recovered) for r in stored],
                        BLUE,
                        width=4,
                    ),
                    Series(
                        "JHU Recovered as published",
                        [(r.date, r.recovered) for r in published],
                        VERMILLION,
                        dashed=True,
                    ),
                ],
                [
                    Note(last_reported, value, f"{day_label(last_reported)}: {value:,}", "end"),
                    Note(
                        first_null,
                        0,
                        f"{day_label(first_null)}: 0 published, null stored",
                        "start",
                        dy=-10,
                    ),
                ],
                height=240,
            )
        ],
    )


def revisions() -> str:
    old, new = "2021-06-15", "2021-06-16"
    result = data.revision(old, new)
    changes, delta = result.changes, result.cases_delta
    inserted = changes.inserted[0].date
    start = min(delta) - dt.timedelta(days=4)
    end = inserted + dt.timedelta(days=1)  # a day of margin: the new day is not the axis' edge
    biggest = max(delta, key=lambda day: delta[day])
    return panel_chart(
        title=f"What the {new} NYT file changed in the past",
        desc=(
            f"Bar chart: the {len(changes.updated)} earlier days whose cases the {new} version "
            f"of us.csv revised, by how many cases ({min(delta.values())} to "
            f"{max(delta.values())}); loading it over the {old} version inserts "
            f"{len(changes.inserted)} row and updates {len(changes.updated)}, "
            f"{changes.unchanged} unchanged. The shaded day, {inserted}, is the one it added."
        ),
        start=start,
        end=end,
        panels=[
            Panel(
                f"Cases the {new} file added to past days: {len(changes.updated)} days updated, "
                f"{len(changes.inserted)} new day inserted",
                [Series("revised day (updated)", sorted(delta.items()), BLUE, kind="bars")],
                [
                    Note(
                        biggest,
                        delta[biggest],
                        f"{day_label(biggest)}: +{delta[biggest]}",
                        "end",
                        dy=-6,
                    ),
                ],
                bands=[
                    Band(
                        inserted,
                        f"{day_label(inserted, year=False)}: new day",
                        "new day (inserted)",
                        ORANGE,
                    )
                ],
            )
        ],
    )


def _longest_run(points: list[tuple[dt.date, int]]) -> list[tuple[dt.date, int]]:
    """The longest run of consecutive days whose value is not 0."""
    runs: list[list[tuple[dt.date, int]]] = [[]]
    for day, value in points:
        if value == 0:
            runs.append([])
        else:
            runs[-1].append((day, value))
    return max(runs, key=len)


def _signed_range(values: list[int]) -> str:
    low, high = min(values), max(values)
    return f"{low:+,}" if low == high else f"{low:+,} to {high:+,}"


# The gaps of the states figure that its second panel zooms in on: those smaller than this.
SMALL_GAP = 1_000


def states_vs_national() -> str:
    summed = data.states_summed()
    national = {r.date: r for r in data.nyt_rows()}
    same_day = {r.date: r for r in data.nyt_rows(data.SAME_DAY_NATIONAL)}
    days = list(summed)
    last = days[-1]
    cases = [(d, national[d].cases - summed[d].cases) for d in days]
    deaths = [(d, national[d].deaths - summed[d].deaths) for d in days]
    equal = sum(1 for d in days if national[d][1:] == tuple(summed[d]))
    equal_same_day = sum(1 for d in days if same_day[d][1:] == tuple(summed[d]))
    gap = dict(cases)[last]
    small = [v for _, v in cases if 0 < abs(v) < SMALL_GAP]
    final_days = list(takewhile(lambda p: abs(p[1]) >= SMALL_GAP, reversed(cases)))
    spike = max(
        (p for p in cases if abs(p[1]) >= SMALL_GAP and p not in final_days), key=lambda p: p[1]
    )
    dip = min(deaths, key=lambda p: p[1])
    run = _longest_run(deaths[: days.index(dip[0])])
    run_range = _signed_range([v for _, v in run])
    last_deaths = dict(deaths)[last]
    return panel_chart(
        title=f"National file minus the sum of the states file of {day_label(last)}",
        desc=(
            f"Three line charts, {days[0]} to {last}: the shipped NYT us.csv, a version with "
            f"data to {max(national)}, minus the sum of NYT us-states.csv, the version of "
            f"{last}, over every jurisdiction. They agree on {equal} of {len(days)} days; on "
            f"{last} the national file has {national[last].cases:,} cases, the states add up "
            f"to {summed[last].cases:,} ({gap:,} fewer). The national file of the same day as "
            f"the states file agrees with their sum on {equal_same_day} of the {len(days)} "
            f"days: every gap is a revision the NYT made to the national file later. The "
            f"cases differ by {_signed_range([v for _, v in final_days])} on the last "
            f"{len(final_days)} days, and by {spike[1]:+,} on {spike[0]}; the second "
            f"chart zooms in on the {len(small)} days whose cases differ by less than "
            f"{SMALL_GAP:,} ({_signed_range(small)}). Deaths differ by {run_range} a day on the "
            f"{len(run)} days {run[0][0]} to {run[-1][0]}, by {dip[1]:+,} on {dip[0]} and by "
            f"{last_deaths:+,} on {last}."
        ),
        start=days[0],
        end=last,
        panels=[
            Panel(
                "Cases: national minus states",
                [Series("cases", cases, BLUE)],
                [
                    Note(spike[0], spike[1], f"{day_label(spike[0])}: {spike[1]:+,}", "end"),
                    Note(last, gap, f"{day_label(last)}: {gap:+,}", "end"),
                ],
                height=150,
            ),
            Panel(
                f"Cases again, zoomed to the {len(small)} days that differ by less than "
                f"{SMALL_GAP:,} (larger gaps are cut)",
                [Series("cases", cases, BLUE)],
                height=150,
                limits=(min(small), max(small)),
            ),
            Panel(
                "Deaths: national minus states",
                [Series("deaths", deaths, VERMILLION)],
                [
                    Note(
                        run[0][0],
                        run[0][1],
                        f"{run_range} a day, {day_label(run[0][0], year=False)} – "
                        f"{day_label(run[-1][0])}",
                        "end",
                    ),
                    Note(dip[0], dip[1], f"{day_label(dip[0])}: {dip[1]:+,}", "end", dy=4),
                    Note(last, last_deaths, f"{day_label(last)}: {last_deaths:+,}", "end"),
                ],
                height=150,
            ),
        ],
    )


def _at_least(lags: list[int], end: int) -> list[int]:
    """For k = 0 .. ``end``: how many of ``lags`` are k or more."""
    counts = [0] * (end + 2)
    for lag in lags:
        counts[min(lag, end + 1)] += 1
    found: list[int] = []
    total = 0
    for count in reversed(counts):
        total += count
        found.append(total)
    return found[::-1][: end + 1]


# The k marked on the settling chart: a week, a month, a quarter.
SETTLE_MARKS = (7, 30, 90)


def settling() -> str:
    """The share of the states' (date, state) values still revised k or more days after their
    first publication, k on the x axis: a chart of days, not dates, so drawn here."""
    found = data.state_settling()
    rows = len(found.lags["cases"])
    longest = max(max(lags) for lags in found.lags.values())
    end = 30 * (longest // 30 + 1)  # the x axis in whole months of days
    still = {measure: _at_least(lags, end) for measure, lags in found.lags.items()}
    lines = (("cases", BLUE, False), ("deaths", VERMILLION, True))

    def percent(count: int) -> str:
        return f"{100 * count / rows:.2f}%"

    def marks(measure: str) -> str:
        return ", ".join(f"{percent(still[measure][k])} after {k}" for k in SETTLE_MARKS)

    plot_height = 240
    top = LEGEND_Y + PANEL_GAP
    bottom = top + plot_height
    height = bottom + AXIS_ROOM + 22  # room for the axis title
    title = "How long the states' figures kept changing"
    svg = Svg(
        WIDTH,
        height,
        title=title,
        desc=(
            f"Two lines over k = 1 to {end} days: of the {rows:,} (date, state) values first "
            f"published in the {found.versions} daily versions of the NYT's us-states.csv "
            f"({found.first} to {found.last}), the share whose cases, and whose deaths, were "
            f"still revised k days or more after their first publication. Cases: "
            f"{percent(still['cases'][1])} revised at least once, {marks('cases')} days; the "
            f"last revision came {max(found.lags['cases'])} days after. Deaths: "
            f"{percent(still['deaths'][1])} revised at least once, {marks('deaths')} days; "
            f"the last {max(found.lags['deaths'])} days after."
        ),
    )
    svg.text(LEFT, TITLE_Y, title, font_size=15, font_weight="bold")
    x_left, x_right = float(LEFT), float(WIDTH - RIGHT)

    def x(k: int) -> float:
        return x_left + k / end * (x_right - x_left)

    # Values in hundredths of a percent: whole numbers for the ticks.
    scaled = {m: [round(10_000 * count / rows) for count in counts] for m, counts in still.items()}
    ticks = nice_ticks(0, max(scaled["cases"][1], scaled["deaths"][1]))
    y = ValueScale(ticks, top, bottom)
    legend = x_left
    for measure, colour, dashed in lines:
        dash = {"stroke_dasharray": "6 4"} if dashed else {}
        svg.line(
            legend, LEGEND_Y - 4, legend + 18, LEGEND_Y - 4, stroke=colour, stroke_width=2, **dash
        )
        label = f"{measure}: {percent(still[measure][1])} revised at least once"
        svg.text(legend + 24, LEGEND_Y, label)
        legend += 24 + 7 * len(label) + 24
    svg.text(
        LEFT,
        top - 10,
        f"Share of the {rows:,} (date, state) values still revised k days or more after first "
        "published",
        font_weight="bold",
        fill=MUTED,
    )
    for value in ticks:
        svg.line(x_left, y(value), x_right, y(value), stroke=GRID)
        svg.text(LEFT - 6, y(value) + 4, f"{value / 100:g}%", text_anchor="end", fill=MUTED)
    for k in range(0, end + 1, 30):
        svg.line(x(k), top, x(k), bottom, stroke=GRID)
        svg.line(x(k), bottom, x(k), bottom + 4, stroke=INK)
        svg.text(x(k), bottom + 18, str(k), text_anchor="middle", fill=MUTED)
    svg.text(
        (x_left + x_right) / 2,
        bottom + 40,
        "k: days after the value was first published",
        text_anchor="middle",
        fill=MUTED,
    )
    svg.line(x_left, y(0), x_right, y(0), stroke=INK)
    svg.line(x_left, top, x_left, bottom, stroke=INK)
    for measure, colour, dashed in lines:
        dash = {"stroke_dasharray": "6 4"} if dashed else {}
        svg.polyline(
            [(x(k), y(scaled[measure][k])) for k in range(1, end + 1)],
            stroke=colour,
            stroke_width=2,
            stroke_linejoin="round",
            **dash,
        )
    for measure, _, _ in lines:
        for k in SETTLE_MARKS:
            svg.circle(x(k), y(scaled[measure][k]), 3.5, fill=INK)
            svg.text(
                x(k) + 6,
                y(scaled[measure][k]) - 8,
                f"{k} days: {percent(still[measure][k])}",
            )
    return svg.render()


FIGURES: dict[str, Callable[[], str]] = {
    "national-cumulative.svg": national_cumulative,
    "join-window.svg": join_window,
    "recovered.svg": recovered,
    "revisions.svg": revisions,
    "states-vs-national.svg": states_vs_national,
    "settling.svg": settling,
}


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES.items():
        path = out / name
        path.write_bytes(draw().encode("utf-8"))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="directory (default docs/figures)")
    args = parser.parse_args(argv)
    for path in write_all(args.out):
        print(f"{path.stat().st_size:>7,} bytes  {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
