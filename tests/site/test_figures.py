"""The write-up's figures: the committed SVGs are what `make figures` draws from the real data,
and the SVG writer puts values where they belong."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from figures import data
from figures.charts import (
    BLUE,
    LEFT,
    ORANGE,
    RIGHT,
    WIDTH,
    DayScale,
    Note,
    Panel,
    Series,
    compact,
    date_ticks,
    nice_ticks,
    panel_chart,
    value_axis,
)
from figures.make import FIGURES, write_all
from figures.svg import Svg, num

COMMITTED = Path(__file__).parents[2] / "docs" / "figures"
NS = {"svg": "http://www.w3.org/2000/svg"}


def polylines(root: ET.Element, colour: str) -> list[list[tuple[float, float]]]:
    return [
        [(float(x), float(y)) for x, y in (p.split(",") for p in line.attrib["points"].split())]
        for line in root.iter("{http://www.w3.org/2000/svg}polyline")
        if line.attrib["stroke"] == colour
    ]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_committed_figures_are_what_make_figures_draws(tmp_path: Path) -> None:
    write_all(tmp_path)
    for name in FIGURES:
        committed = COMMITTED / name
        assert committed.exists(), f"docs/figures/{name} is missing: run `make figures`"
        assert committed.read_bytes() == (tmp_path / name).read_bytes(), (
            f"docs/figures/{name} differs from what the script draws from the shipped data: "
            "run `make figures` and commit the result"
        )
    extra = sorted(p.name for p in COMMITTED.glob("*.svg") if p.name not in FIGURES)
    assert extra == [], f"figures no script draws: {extra}"


def test_drawing_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_all(first)
    write_all(second)
    for name in FIGURES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_is_well_formed_small_and_described(name: str) -> None:
    raw = (COMMITTED / name).read_bytes()
    assert len(raw) < 40_000
    root = ET.fromstring(raw)
    assert root.attrib["role"] == "img"
    title = root.find("svg:title", NS)
    desc = root.find("svg:desc", NS)
    assert title is not None and desc is not None
    assert (title.text or "").strip() and len(desc.text or "") > 80
    assert root.attrib["aria-labelledby"] == "title desc"


def test_recovered_figure_stops_the_stored_line_on_the_last_reported_day() -> None:
    root = ET.fromstring((COMMITTED / "recovered.svg").read_bytes())
    stored = [r for r in data.national() if r.in_jhu]  # the figure spans JHU's dates
    reported = [r for r in stored if r.recovered is not None]
    x = DayScale(stored[0].date, stored[-1].date, LEFT, WIDTH - RIGHT)

    (line,) = polylines(root, BLUE)  # one unbroken run, then null: no line at all

    assert len(line) == len(reported)
    assert reported[-1].date == dt.date(2020, 12, 13)
    assert line[-1][0] == float(num(x(dt.date(2020, 12, 13))))
    assert "13 Dec 2020: 6,298,082" in texts(root)


def test_states_figure_reports_the_gap_on_the_last_common_day() -> None:
    root = ET.fromstring((COMMITTED / "states-vs-national.svg").read_bytes())
    desc = root.find("svg:desc", NS)
    assert desc is not None and "33,843,194" in (desc.text or "")
    assert "33,769,600" in (desc.text or "")
    assert "8 Jul 2021: +73,594" in texts(root)


def test_states_figure_labels_its_outliers_and_explains_the_gaps() -> None:
    root = ET.fromstring((COMMITTED / "states-vs-national.svg").read_bytes())
    shown, desc = texts(root), root.find("svg:desc", NS)
    assert {"21 May 2021: +7,789", "1 Jul 2021: -49", "8 Jul 2021: +350"} <= set(shown)
    assert "+3 to +4 a day, 15 Mar – 3 May 2021" in shown
    assert desc is not None
    # the national file of the states file's own day adds up: every gap is a later revision
    assert "agrees with their sum on 535 of the 535 days" in (desc.text or "")
    assert "0" in shown and "-20k" not in shown  # the axis ends at the data, no empty band


def test_states_figure_zooms_in_on_the_small_gaps_and_cuts_the_rest() -> None:
    root = ET.fromstring((COMMITTED / "states-vs-national.svg").read_bytes())
    (clip,) = root.iter("{http://www.w3.org/2000/svg}clipPath")
    cut = [line for line in root.iter() if line.get("clip-path") == f"url(#{clip.get('id')})"]
    assert len(cut) == 1 and cut[0].get("stroke") == BLUE  # the zoomed cases line, cut
    assert any(t.startswith("Cases again, zoomed to the 54 days") for t in texts(root))


def test_revisions_figure_has_one_bar_per_revised_day() -> None:
    root = ET.fromstring((COMMITTED / "revisions.svg").read_bytes())
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") == BLUE]
    # the legend's swatch, then the 16 days the 2021-06-16 file revised
    assert len(bars) == 1 + 16
    assert "15 Jun 2021: +91" in texts(root)


def test_revisions_figure_shades_and_labels_the_new_day_inside_the_plot() -> None:
    root = ET.fromstring((COMMITTED / "revisions.svg").read_bytes())
    shaded = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") == ORANGE]
    assert len(shaded) == 2  # the legend's swatch, then the band over the new day
    band = shaded[1]
    x = DayScale(dt.date(2021, 5, 10), dt.date(2021, 6, 17), LEFT, WIDTH - RIGHT)
    assert float(band.attrib["x"]) == pytest.approx(x(dt.date(2021, 6, 16)) - x.slot / 2, abs=0.05)
    assert float(band.attrib["x"]) + float(band.attrib["width"]) < WIDTH - RIGHT - 1  # not the edge
    assert {"16 Jun: new day", "new day (inserted)"} <= set(texts(root))
    assert not list(root.iter("{http://www.w3.org/2000/svg}circle"))[1:]  # one dot: the +91 note


def test_panel_chart_places_values_on_the_axes() -> None:
    start = dt.date(2021, 3, 1)
    points: list[tuple[dt.date, int | None]] = [
        (start + dt.timedelta(days=i), v) for i, v in enumerate([0, 50, None, 80, 100])
    ]
    svg = panel_chart(
        title="T <&>",
        desc="a chart of five days",
        start=start,
        end=start + dt.timedelta(days=4),
        panels=[Panel("heading", [Series("values", points, BLUE)], [Note(start, 0, "first")])],
    )
    root = ET.fromstring(svg)  # well-formed, the title escaped

    title = root.find("svg:title", NS)
    assert title is not None and title.text == "T <&>"
    shown = texts(root)
    assert [t for t in shown if t.isdigit()] == ["0", "20", "40", "60", "80", "100"]
    assert {"heading", "values", "first", "1 Mar", "5 Mar"} <= set(shown)
    first, second = polylines(root, BLUE)  # None breaks the line in two
    slot = (WIDTH - RIGHT - LEFT) / 5
    assert [x for x, _ in first] == pytest.approx([LEFT + 0.5 * slot, LEFT + 1.5 * slot], abs=0.05)
    assert second[0][0] == pytest.approx(LEFT + 3.5 * slot, abs=0.05)
    bottom, top = first[0][1], second[1][1]  # y of 0 and of 100, the ends of the ticks
    assert bottom > top
    assert first[1][1] == pytest.approx((bottom + top) / 2, abs=0.1)  # 50 halfway up
    assert second[0][1] == pytest.approx(bottom - 0.8 * (bottom - top), abs=0.1)


def test_value_axis_ends_at_the_data_when_it_barely_enters_the_last_band() -> None:
    assert value_axis(-224, 73_594) == ([0, 20_000, 40_000, 60_000, 80_000], -224)
    assert value_axis(-49, 350) == ([-100, 0, 100, 200, 300, 400], -100)  # room for the dip
    assert value_axis(0, 100) == ([0, 20, 40, 60, 80, 100], 0)


def test_a_zoomed_panel_cuts_what_lies_beyond_its_limits() -> None:
    start = dt.date(2021, 3, 1)
    points: list[tuple[dt.date, int | None]] = [
        (start + dt.timedelta(days=i), v) for i, v in enumerate([0, 50, 5_000, 100])
    ]
    svg = panel_chart(
        title="zoom",
        desc="a zoomed chart of four days",
        start=start,
        end=start + dt.timedelta(days=3),
        panels=[Panel("heading", [Series("values", points, BLUE)], limits=(0, 100))],
    )
    root = ET.fromstring(svg)
    (line,) = polylines(root, BLUE)
    shown = texts(root)
    assert [t for t in shown if t.isdigit()] == ["0", "20", "40", "60", "80", "100"]
    (clip,) = root.iter("{http://www.w3.org/2000/svg}clipPath")
    (rect,) = clip
    top = float(rect.attrib["y"])
    assert line[2][1] < top  # 5,000 is drawn above the panel, where the clip path cuts it
    assert line[3][1] == pytest.approx(top, abs=0.1)  # 100 is the panel's top


def test_nice_ticks_cover_the_range_in_round_steps() -> None:
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0, 987_211) == [0, 200_000, 400_000, 600_000, 800_000, 1_000_000]
    assert nice_ticks(-49, 350) == [-100, 0, 100, 200, 300, 400]
    assert nice_ticks(0, 0) == [0, 1]


def test_compact_labels() -> None:
    assert [compact(v) for v in (0, 850, 20_000, 2_500_000, 100_000_000, -20_000, 1_234)] == [
        "0", "850", "20k", "2.5M", "100M", "-20k", "1,234",
    ]  # fmt: skip


def test_date_ticks_use_days_for_short_spans_and_months_for_long_ones() -> None:
    short = date_ticks(dt.date(2020, 1, 19), dt.date(2020, 1, 28))
    assert [label for _, label in short][:3] == ["19 Jan", "20 Jan", "21 Jan"]
    long = date_ticks(dt.date(2020, 1, 22), dt.date(2022, 4, 16))
    assert [label for _, label in long][:2] == ["Apr 2020", "Jul 2020"]
    assert all(day.day == 1 for day, _ in long)


def test_svg_numbers_are_fixed_and_never_negative_zero() -> None:
    assert [num(v) for v in (12.0, 12.25, 12.26, -0.04, 3)] == ["12", "12.2", "12.3", "0", "3"]
    doc = Svg(10, 10, title="a", desc="b")
    doc.text(1, 2, "x & y")
    assert '<text x="1" y="2">x &amp; y</text>' in doc.render()
