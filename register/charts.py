"""Charts as inline SVG, drawn on the server (no script, no CDN: the network is closed)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = {
    "atendidas": "#2e7d32",
    "abandonadas": "#c62828",
    "otras": "#9e9e9e",
    "titular": "#1565c0",
    "alterno": "#6a1b9a",
    "plataforma": "#ef6c00",
    "sin_atender": "#c62828",
    "agentes": "#00695c",
    "encuesta": "#f9a825",
}

Series = tuple[str, Sequence[float], str]  # (legend label, values, colour)


def _nice_max(value: float) -> float:
    if value <= 4:
        return 4.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return float(step * 4) if value > step * 2 else float(step * 2)
    return float(value)


def _open(title: str, width: int, height: int, chart_id: str) -> list[str]:
    """The chart's <svg> element opened, with its title."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" class="chart" '
        f'id="{escape(chart_id)}">',
        f"<title>{escape(title)}</title>",
    ]


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for label, _values, colour in series:
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:.1f}" y="{y:.1f}" font-size="12">{escape(label)}</text>'
        )
        x += 24 + 7.2 * len(label)
    return parts


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 760,
    height: int = 260,
    label_every: int = 1,
    chart_id: str = "",
    overlay: Series | None = None,
) -> str:
    """Vertical stacked bars, one per label; ``overlay``: a line over them (e.g. a need)."""
    left, right, top, bottom = 44, 12, 34, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[1][i] for s in series) for i in range(len(labels))]
    highest = max([*totals, *(overlay[1] if overlay else ())], default=0)
    top_value = _nice_max(highest)
    n = max(len(labels), 1)
    slot = plot_w / n
    bar_w = max(2.0, slot * 0.7)
    out = [
        *_open(title, width, height, chart_id),
        *_legend([*series, *([overlay] if overlay else [])], left, 18),
    ]
    for k in range(5):
        value = top_value * k / 4
        y = top + plot_h - plot_h * k / 4
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="#e0e0e0"/><text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
            f'text-anchor="end">{value:g}</text>'
        )
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        for name, values, colour in series:
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            y -= h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(label)}: {value:g} {escape(name)}</title></rect>'
            )
        if i % label_every == 0:
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" font-size="11" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    if overlay is not None and labels:
        name, values, colour = overlay
        points = [
            (left + slot * i + slot / 2, top + plot_h - plot_h * v / top_value)
            for i, v in enumerate(values)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (x, y), label, value in zip(points, labels, values, strict=True):
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(label)}: {value:g} {escape(name)}</title></circle>"
            )
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#616161"/></svg>'
    )
    return "".join(out)


def hbar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 760,
    row_height: int = 26,
    chart_id: str = "",
) -> str:
    """Horizontal stacked bars, one row per label, with each row's total at its end."""
    left, right, top = 110, 50, 34
    height = top + row_height * max(len(labels), 1) + 12
    plot_w = width - left - right
    totals = [sum(s[1][i] for s in series) for i in range(len(labels))]
    top_value = max(totals, default=0) or 1
    out = [*_open(title, width, height, chart_id), *_legend(series, left, 18)]
    for i, label in enumerate(labels):
        y = top + row_height * i + 4
        x = float(left)
        out.append(
            f'<text x="{left - 8}" y="{y + row_height / 2 + 2:.1f}" font-size="12" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        for name, values, colour in series:
            value = values[i]
            if value <= 0:
                continue
            w = plot_w * value / top_value
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{row_height - 8}" '
                f'fill="{colour}"><title>{escape(label)}: {value:g} {escape(name)}</title></rect>'
            )
            x += w
        out.append(
            f'<text x="{x + 6:.1f}" y="{y + row_height / 2 + 2:.1f}" font-size="12" '
            f'class="total">{totals[i]:g}</text>'
        )
    out.append("</svg>")
    return "".join(out)
