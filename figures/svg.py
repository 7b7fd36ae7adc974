"""A small SVG writer: just enough for the write-up's charts, and byte-for-byte deterministic.

Every number goes through ``num`` (one decimal, no ``-0``), every text through ``esc``, and
elements are written in the order they are added: the same input gives the same bytes on any
machine, with no timestamp, random id or font metrics involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

FONT = "sans-serif"  # generic: the reader's own sans-serif font, nothing embedded
INK = "#222222"
MUTED = "#666666"
GRID = "#e4e4e4"


def num(value: float) -> str:
    """A coordinate with at most one decimal: ``12``, ``12.5``, never ``-0``."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def esc(text: str) -> str:
    return escape(text)


def _attrs(attrs: dict[str, str | float]) -> str:
    parts = []
    for name, value in attrs.items():
        shown = num(value) if isinstance(value, int | float) else value
        parts.append(f" {name.replace('_', '-')}={quoteattr(shown)}")
    return "".join(parts)


class Svg:
    """One SVG document, built element by element."""

    def __init__(self, width: float, height: float, *, title: str, desc: str) -> None:
        self.width = width
        self.height = height
        self.title = title
        self.desc = desc
        self._body: list[str] = []

    def add(self, element: str) -> None:
        self._body.append(element)

    def rect(self, x: float, y: float, w: float, h: float, **attrs: str | float) -> None:
        self.add(f"<rect{_attrs({'x': x, 'y': y, 'width': w, 'height': h, **attrs})}/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, **attrs: str | float) -> None:
        self.add(f"<line{_attrs({'x1': x1, 'y1': y1, 'x2': x2, 'y2': y2, **attrs})}/>")

    def circle(self, x: float, y: float, r: float, **attrs: str | float) -> None:
        self.add(f"<circle{_attrs({'cx': x, 'cy': y, 'r': r, **attrs})}/>")

    def polyline(self, points: Sequence[tuple[float, float]], **attrs: str | float) -> None:
        coords = " ".join(f"{num(x)},{num(y)}" for x, y in points)
        self.add(f"<polyline{_attrs({'points': coords, 'fill': 'none', **attrs})}/>")

    def text(self, x: float, y: float, content: str, **attrs: str | float) -> None:
        self.add(f"<text{_attrs({'x': x, 'y': y, **attrs})}>{esc(content)}</text>")

    def clip(self, name: str, x: float, y: float, w: float, h: float) -> str:
        """A rectangle that elements can be cut to; returns the value for their clip-path.
        ``name`` is the caller's, so the output keeps no counter or random id."""
        rect = _attrs({"x": x, "y": y, "width": w, "height": h})
        self.add(f'<clipPath id="{esc(name)}"><rect{rect}/></clipPath>')
        return f"url(#{name})"

    def render(self) -> str:
        head = (
            '<svg xmlns="http://www.w3.org/2000/svg"'
            f' width="{num(self.width)}" height="{num(self.height)}"'
            f' viewBox="0 0 {num(self.width)} {num(self.height)}"'
            ' role="img" aria-labelledby="title desc"'
            f' font-family="{FONT}" font-size="12" fill="{INK}">'
        )
        lines = [
            head,
            f'<title id="title">{esc(self.title)}</title>',
            f'<desc id="desc">{esc(self.desc)}</desc>',
            f'<rect x="0" y="0" width="{num(self.width)}" height="{num(self.height)}"'
            ' fill="#ffffff"/>',
            *self._body,
            "</svg>",
        ]
        return "\n".join(lines) + "\n"
