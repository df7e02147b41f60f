"""Small inline SVG charts for the HTML report: a time axis (UTC), a value axis
from zero, no script. Lines break between sessions and where a value is missing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

W, H = 860, 170                 # viewBox size
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 26, 22
Point = tuple[float, float | None, int]     # (time, value, session)


def nice_step(value: float) -> float:
    """The smallest 1, 2 or 5 times 10^k at or above ``value``: a tick step."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


class _Frame:
    """Time runs left to right over ``span``; values from zero up to four ticks."""

    def __init__(self, span: tuple[float, float], top: float) -> None:
        self.t0, self.t1 = span[0], max(span[1], span[0] + 1)
        self.step = nice_step(top / 4)
        self.top = 4 * self.step

    def x(self, t: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * (t - self.t0) / (self.t1 - self.t0)

    def y(self, v: float) -> float:
        return H - BOTTOM - (H - TOP - BOTTOM) * min(v, self.top) / self.top

    def axes(self, title: str, unit: str, marks: Sequence[tuple[float, str]]) -> str:
        out = [f"<text x='{LEFT}' y='14' style='font-weight:600;fill:#1c2430'>"
               f"{escape(title)}</text><text x='{W - RIGHT}' y='14' text-anchor='end'>"
               f"{escape(unit)}</text>"]
        for i in range(5):
            v = self.step * i
            y = self.y(v)
            out.append(f"<line x1='{LEFT}' x2='{W - RIGHT}' y1='{y:.1f}' y2='{y:.1f}' "
                       f"stroke='#e6e9ee'/><text x='{LEFT - 6}' y='{y + 4:.1f}' "
                       f"text-anchor='end'>{v:,.10g}</text>")
        for i in range(5):
            t = self.t0 + (self.t1 - self.t0) * i / 4
            anchor = ("start", "middle", "middle", "middle", "end")[i]
            out.append(f"<text x='{self.x(t):.1f}' y='{H - 6}' text-anchor='{anchor}'>"
                       f"{datetime.fromtimestamp(t, UTC):%H:%M:%S}</text>")
        for t, label in marks:
            x = self.x(t)
            out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{TOP - 4}' y2='{H - BOTTOM}' "
                       "stroke='#90a4ae' stroke-dasharray='3 3'/>"
                       f"<text x='{x + 4:.1f}' y='{TOP + 6}'>{escape(label)}</text>")
        return "".join(out)


def chart(title: str, unit: str, span: tuple[float, float], *,
          lines: Sequence[tuple[str, str, Sequence[Point]]] = (),
          bars: tuple[str, Sequence[tuple[float, float, float]]] | None = None,
          marks: Sequence[tuple[float, str]] = ()) -> str:
    """``lines``: ``(name, colour, points)`` each, broken between sessions and where a
    value is missing; ``bars``: ``(colour, [(start, end, value)])``."""
    values = [v for _, _, pts in lines for _, v, _ in pts if v is not None]
    values += [v for _, _, v in (bars[1] if bars else ())]
    frame = _Frame(span, max(values, default=0.0) * 1.05)
    body = [frame.axes(title, unit, marks)]
    if bars is not None:
        colour = bars[0]
        for start, end, height in bars[1]:
            if height > 0:
                x0, y = frame.x(start), frame.y(height)
                body.append(f"<rect x='{x0:.1f}' y='{y:.1f}' "
                            f"width='{max(1.0, frame.x(end) - x0 - 0.5):.1f}' "
                            f"height='{H - BOTTOM - y:.1f}' fill='{colour}'>"
                            f"<title>{height:.1f}</title></rect>")
    for n, (name, colour, pts) in enumerate(lines):
        path, last_session = [], None
        for t, v, session in pts:
            if v is None:
                last_session = None
                continue
            move = "M" if session != last_session else "L"
            path.append(f"{move}{frame.x(t):.1f},{frame.y(v):.1f}")
            last_session = session
        if path:
            body.append(f"<path d='{' '.join(path)}' fill='none' stroke='{colour}' "
                        "stroke-width='1.8' stroke-linejoin='round'/>")
        lx = LEFT + 150 + 110 * n
        body.append(f"<rect x='{lx}' y='6' width='10' height='10' fill='{colour}'/>"
                    f"<text x='{lx + 14}' y='15'>{escape(name)}</text>")
    return (f"<svg viewBox='0 0 {W} {H}' role=img aria-label='{escape(title)}'>"
            + "".join(body) + "</svg>")
