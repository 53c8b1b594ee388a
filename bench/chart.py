"""The chart of Job end → log in the thread against runs in flight, p50 and p99 per design, as plain SVG.

Written with the standard library only, next to results.json. Axes turn logarithmic when the values
span more than :data:`LOG_SPAN` (the baseline's seconds against the bot's milliseconds).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bench.report import DESIGN_LABELS
from bench.scenarios import DESIGNS

FIGURE = "completion_to_thread_log_s"
TITLE = "Job end in Nautobot → log in the Slack thread"
LOG_SPAN = 20.0
WIDTH, PLOT_BOTTOM = 780, 370
"""The plot's lower edge; below it the x labels, then one line per point that could not be drawn."""
LEFT, RIGHT, TOP = 80, 200, 60
NOTE_LINE = 14
COLORS = {"ours": "#1b7837", "ours-polling": "#2166ac", "baseline": "#b2182b"}
STATS = (("p50", "none", "circle"), ("p99", "6 4", "square"))


class Axis:
    """Maps values to pixels between ``low`` and ``high``, linear or logarithmic."""

    def __init__(self, values: list[float], start: float, end: float, *, log: bool) -> None:
        self.log = log
        self.start, self.end = start, end
        if log:
            self.low, self.high = min(values) / 1.5, max(values) * 1.5
        else:  # from zero, so heights compare
            self.low = 0.0
            self.high = max(values) * 1.1 if max(values) > 0 else 1.0

    def __call__(self, value: float) -> float:
        if self.log:
            share = (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        else:
            share = (value - self.low) / (self.high - self.low)
        return self.start + share * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            found = []
            for power in range(math.floor(math.log10(self.low)), math.ceil(math.log10(self.high)) + 1):
                found += [m * 10**power for m in (1, 2, 5) if self.low <= m * 10**power <= self.high]
            return found
        step = _nice_step((self.high - self.low) / 5)
        first = math.ceil(self.low / step) * step
        return [first + i * step for i in range(int((self.high - first) / step) + 1)]


def _nice_step(rough: float) -> float:
    power = 10 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def _spans(values: list[float]) -> bool:
    return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_SPAN


def series(waves: dict[str, dict]) -> dict[tuple[str, str], list[tuple[int, float | None]]]:
    """(design, statistic) → [(N, milliseconds or None when it never happened)]."""
    found: dict[tuple[str, str], list[tuple[int, float | None]]] = {}
    for n in sorted(waves, key=int):
        for design in DESIGNS:
            summary = waves[n][FIGURE][design]
            for stat, _, _ in STATS:
                value = summary[stat]
                found.setdefault((design, stat), []).append((int(n), None if value is None else value * 1000))
    return found


def _label(milliseconds: float) -> str:
    return f"{milliseconds:g} ms" if milliseconds < 1000 else f"{milliseconds / 1000:g} s"


def _marker(shape: str, x: float, y: float, color: str) -> str:
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"/>'
    return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="white" stroke="{color}"/>'


def render(results: dict[str, Any]) -> str:
    data = series(results["waves"])
    ns = sorted({n for points in data.values() for n, _ in points})
    values = [v for points in data.values() for _, v in points if v is not None] or [1.0]
    # N grows tenfold from wave to wave: a log axis spaces the waves evenly. One wave: a point in the middle.
    x = Axis([ns[0] / 3, ns[0] * 3] if len(ns) == 1 else [float(n) for n in ns], LEFT, WIDTH - RIGHT, log=True)
    y = Axis(values, PLOT_BOTTOM, TOP, log=_spans(values))
    notes = _never_notes(data)
    height = PLOT_BOTTOM + 60 + NOTE_LINE * len(notes)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{escape(TITLE)}</text>',
        f'<text x="{LEFT}" y="42" fill="#555">{escape(_subtitle(results, y.log))}</text>',
    ]
    for tick in y.ticks():
        py = y(tick)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
    for n in ns:
        px = x(n)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" y2="{PLOT_BOTTOM}" stroke="#f0f0f0"/>')
        out.append(f'<text x="{px:.1f}" y="{PLOT_BOTTOM + 16}" text-anchor="middle">{n}</text>')
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - RIGHT - LEFT}" height="{PLOT_BOTTOM - TOP}" '
        'fill="none" stroke="#999"/>'
    )
    out.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{PLOT_BOTTOM + 36}" text-anchor="middle">runs in flight</text>'
    )
    for (design, stat), points in data.items():
        dash, shape = next((d, s) for name, d, s in STATS if name == stat)
        color = COLORS[design]
        drawn = [(x(n), y(v)) for n, v in points if v is not None]
        if len(drawn) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in drawn)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>'
            )
        out += [_marker(shape, px, py, color) for px, py in drawn]
    out += _legend()
    top = PLOT_BOTTOM + 60
    out += [
        f'<text x="{LEFT}" y="{top + NOTE_LINE * i}" fill="#555">{escape(note)}</text>' for i, note in enumerate(notes)
    ]
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _subtitle(results: dict[str, Any], log: bool) -> str:
    comparable = results.get("comparability", {}).get("comparable")
    busy = "" if comparable in (True, None) else "; machine busy: not comparable"
    scale = "log scale" if log else "linear scale"
    return f"plan {results.get('plan')}, {results.get('machine', {}).get('when', '')}; {scale}{busy}"


def _legend() -> list[str]:
    out, top = [], TOP + 6
    for design in DESIGNS:
        for stat, dash, shape in STATS:
            lx = WIDTH - RIGHT + 16
            out.append(
                f'<line x1="{lx}" x2="{lx + 28}" y1="{top}" y2="{top}" stroke="{COLORS[design]}" '
                f'stroke-width="2" stroke-dasharray="{dash}"/>'
            )
            out.append(_marker(shape, lx + 14, top, COLORS[design]))
            out.append(f'<text x="{lx + 36}" y="{top + 4}">{escape(DESIGN_LABELS[design])} {stat}</text>')
            top += 20
        top += 6
    return out


def _never_notes(data: dict[tuple[str, str], list[tuple[int, float | None]]]) -> list[str]:
    """Points that could not be drawn: that percentile fell among runs whose log never came."""
    notes = []
    for (design, stat), points in data.items():
        never = [str(n) for n, v in points if v is None]
        if never:
            notes.append(f"{DESIGN_LABELS[design]} {stat}: never (runs not reported) at N = {', '.join(never)}")
    return notes


def write(results: dict[str, Any], path: Path) -> Path:
    path.write_text(render(results))
    return path
