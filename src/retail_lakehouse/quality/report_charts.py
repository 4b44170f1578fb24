"""Inline SVG charts for the HTML quality report, drawn on the server.

The report must be one file that opens offline and makes no requests, so there is no charting
library: a few small functions emit SVG text. Every label passes through ``escape`` because
rule names and run ids come from user files and the command line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from retail_lakehouse.quality.history import ReasonCount, RunScores

PALETTE: tuple[str, ...] = (
    "#0f766e",
    "#7c3aed",
    "#d97706",
    "#2563eb",
    "#db2777",
    "#65a30d",
    "#475569",
)
"""Dimension line colours, in sorted dimension order; overall is always drawn in ink."""
INK = "#0f172a"
MUTED = "#64748b"
GRID = "#e2e8f0"
WEIGHTED = "#0f172a"
"""The line-weighted trend: ink like overall, dashed and thinner (no dimension shares it)."""
WEIGHTED_NAME = "weighted by lines"


def score_colour(score: float) -> str:
    """Green for good, amber for fair, red for poor: the same cut-offs everywhere."""
    if score >= 90:
        return "#15803d"
    if score >= 75:
        return "#b45309"
    return "#b91c1c"


def gauge(score: float, label: str, size: int = 132) -> Markup:
    """A ring filled to ``score`` percent with ``label`` (the grade) in the middle."""
    radius = size / 2 - 9
    circumference = 2 * math.pi * radius
    filled = circumference * max(0.0, min(score, 100.0)) / 100
    centre = size / 2
    return Markup(
        f'<svg class="gauge" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
        f'role="img" aria-label="overall score {score:.1f} of 100">'
        f'<circle cx="{centre}" cy="{centre}" r="{radius:.2f}" fill="none" stroke="{GRID}" '
        f'stroke-width="12"/>'
        f'<circle cx="{centre}" cy="{centre}" r="{radius:.2f}" fill="none" '
        f'stroke="{score_colour(score)}" stroke-width="12" stroke-linecap="round" '
        f'stroke-dasharray="{filled:.2f} {circumference:.2f}" '
        f'transform="rotate(-90 {centre} {centre})"/>'
        f'<text x="{centre}" y="{centre + 13}" text-anchor="middle" font-size="38" '
        f'font-weight="700" fill="{score_colour(score)}">{escape(label)}</text>'
        "</svg>"
    )


def _y_floor(values: Sequence[float]) -> float:
    """Lowest value of the y axis: a round number under the data, so small moves stay visible."""
    low = min(values) if values else 0.0
    return max(0.0, math.floor((low - 5) / 10) * 10)


def history_chart(
    history: Sequence[RunScores],
    selected: str | None = None,
    width: int = 860,
    height: int = 280,
    weighted: Sequence[float] | None = None,
) -> Markup:
    """Overall score per run (bold) with one thin line per dimension, oldest run on the left,
    and (dashed) the trend weighted by lines checked, which a tiny run cannot swing."""
    if not history:
        return Markup("")
    left, right, top, bottom = 44, 150, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    dimensions = sorted({d for run in history for d in run.dimensions})
    every = (
        [run.overall for run in history]
        + [v for run in history for v in run.dimensions.values()]
        + list(weighted or [])
    )
    y_min = _y_floor(every)
    step = plot_w / (len(history) - 1) if len(history) > 1 else 0.0

    def x(i: int) -> float:
        return left + (i * step if len(history) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - y_min) / (100 - y_min))

    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="quality score per run">'
    ]
    span = 100 - y_min
    tick = 5 if span <= 30 else 10 if span <= 60 else 20
    for k in range(int(span // tick) + 1):
        value = y_min + k * tick
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="{GRID}"/><text x="{left - 8}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="{MUTED}">{value:.0f}</text>'
        )
    label_every = max(1, math.ceil(len(history) / 10))
    for i, run in enumerate(history):
        if run.run_id == selected:
            parts.append(
                f'<rect x="{x(i) - 10:.1f}" y="{top}" width="20" height="{plot_h}" '
                f'fill="#f1f5f9" rx="3"/>'
            )
        if i % label_every == 0 or i == len(history) - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
                f'font-size="11" fill="{MUTED}">#{i + 1}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" '
        f'font-size="11" fill="{MUTED}">run (oldest to newest)</text>'
    )
    series: list[tuple[str, str, float, list[float | None]]] = [
        (name, PALETTE[k % len(PALETTE)], 1.5, [run.dimensions.get(name) for run in history])
        for k, name in enumerate(dimensions)
    ]
    series.append(("overall", INK, 3.0, [run.overall for run in history]))
    if weighted:
        series.append((WEIGHTED_NAME, WEIGHTED, 2.0, list(weighted)))
    for name, colour, stroke, values in series:
        points = [(x(i), y(v)) for i, v in enumerate(values) if v is not None]
        dash = ' stroke-dasharray="6 4"' if name == WEIGHTED_NAME else ""
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}"{dash} '
                f'stroke-width="{stroke}" stroke-linejoin="round" stroke-linecap="round"/>'
            )
        for i, v in enumerate(values):
            if v is None:
                continue
            if name == WEIGHTED_NAME:
                continue
            radius = 4.5 if name == "overall" else 2.5
            tip = escape(f"{history[i].run_id} · {name} {v:.1f}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{radius}" fill="{colour}">'
                f"<title>{tip}</title></circle>"
            )
    for k, (name, colour, stroke, _values) in enumerate(reversed(series)):
        ly = top + 8 + k * 18
        lx = left + plot_w + 18
        dashed = ' stroke-dasharray="6 4"' if name == WEIGHTED_NAME else ""
        parts.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{ly}" y2="{ly}" stroke="{colour}"{dashed} '
            f'stroke-width="{stroke}"/><text x="{lx + 24}" y="{ly + 4}" font-size="12" '
            f'fill="{INK}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def reasons_chart(reasons: Sequence[ReasonCount], width: int = 860) -> Markup:
    """Horizontal bars: quarantined lines per reason."""
    if not reasons:
        return Markup("")
    label_w, value_w, row_h = 230, 90, 26
    bar_w = width - label_w - value_w
    most = max(r.lines for r in reasons) or 1
    height = row_h * len(reasons) + 6
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="quarantined lines per reason">'
    ]
    for i, reason in enumerate(reasons):
        top = 3 + i * row_h
        length = max(2.0, bar_w * reason.lines / most)
        parts.append(
            f'<text x="{label_w - 10}" y="{top + 16}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(reason.reason)}</text>'
            f'<rect x="{label_w}" y="{top + 4}" width="{length:.1f}" height="16" rx="3" '
            f'fill="#b91c1c" opacity="0.85"><title>{escape(reason.reason)}: '
            f"{reason.lines:,} lines</title></rect>"
            f'<text x="{label_w + length + 8:.1f}" y="{top + 16}" font-size="12" '
            f'fill="{MUTED}">{reason.lines:,}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
