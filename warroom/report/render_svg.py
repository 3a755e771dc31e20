"""One criterion over the launch as a hand-written SVG: no JavaScript, no library, prints anywhere.

Drawn from the report's downsampled buckets: a min-max bar and the mean line
per bucket, shading where the criterion was NO-GO (red) or UNKNOWN (grey),
dashed threshold lines, and vertical marks at T-0 and at every sign-off,
decision and rollback. All text is escaped by the caller's `esc`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from warroom.core.units import format_t_relative, format_value
from warroom.report.build import Chart, Report

W, H = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 150, 14, 46
MARK_COLOURS = {"signoff": "#3366cc", "decision": "#2e8b57", "rollback": "#d2691e", "t0": "#555555"}


def _clip(v: float) -> float:
    """Values past +-1e300 are drawn at that edge: 1e308 - -1e308 would overflow the scale to inf."""
    return max(-1e300, min(1e300, v)) if v == v else 0.0


def chart_svg(rep: Report, chart: Chart, esc: Callable[[object], str]) -> str:
    c = chart.criterion
    buckets = chart.series.buckets()
    x0 = rep.first_ts if rep.first_ts is not None else chart.series.origin
    x1 = rep.last_ts if rep.last_ts is not None else x0 + 1
    if x1 <= x0:
        x1 = x0 + 1
    vals = [_clip(v) for b in buckets for v in (b[2], b[3]) if v is not None]
    vals += [_clip(v) for _label, v in chart.lines]
    vals += [_clip(v) for v in chart.band or ()]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.06
    lo, hi = lo - pad, hi + pad
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    th = c.go_threshold.value if c.go_threshold.relative_to is None else None

    def x(t: float) -> float:
        return LEFT + (min(max(t, x0), x1) - x0) / (x1 - x0) * pw

    def y(v: float) -> float:
        return TOP + (hi - _clip(v)) / (hi - lo) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        f'role="img" aria-labelledby="t-{esc(c.id)}" class="chart">',
        f'<title id="t-{esc(c.id)}">{esc(c.name)} over the launch</title>',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#cccccc"/>',
    ]
    if chart.band is not None:  # the pre-launch baseline's range, across the whole chart
        b_lo, b_hi = chart.band
        top, bottom = y(max(b_lo, b_hi)), y(min(b_lo, b_hi))
        out.append(
            f'<rect x="{LEFT}" y="{top:.1f}" width="{pw}" height="{max(1.5, bottom - top):.1f}" fill="#5b8def" '
            'fill-opacity="0.15" class="baseline-band"><title>pre-launch baseline range</title></rect>'
        )
    for a, b, *_rest, bad, unknown in buckets:
        # shaded where the criterion stood NO-GO (or UNKNOWN): faint for a moment, solid for the whole bucket
        share, colour = (bad, "#e06666") if bad else (unknown, "#b0b0b0")
        if share:
            out.append(
                f'<rect x="{x(a):.1f}" y="{TOP}" width="{max(0.8, x(b) - x(a)):.1f}" height="{ph}" '
                f'fill="{colour}" fill-opacity="{0.2 + 0.6 * share:.2f}"/>'
            )
    for label, v in chart.lines:
        colour = "#c0392b" if label.startswith("trigger") else ("#e67e22" if label.startswith("warn") else "#27ae60")
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="{colour}" '
            f'stroke-dasharray="5 3"/>'
        )
        out.append(f'<text x="{LEFT + pw + 4}" y="{y(v) + 4:.1f}" font-size="10" fill="{colour}">{esc(label)}</text>')
    path: list[tuple[float, float] | None] = []  # None breaks the line where there is no data
    for a, b, vlo, vhi, mean, *_r in buckets:
        if vlo is None or vhi is None or mean is None:
            path.append(None)
            continue
        xm = (x(a) + x(b)) / 2
        if vhi > vlo:
            out.append(f'<line x1="{xm:.1f}" x2="{xm:.1f}" y1="{y(vhi):.1f}" y2="{y(vlo):.1f}" stroke="#9db7e0"/>')
        path.append((xm, y(mean)))
    d, pen = [], False
    for p in path:
        if p is None:
            pen = False
            continue
        d.append(f"{'L' if pen else 'M'}{p[0]:.1f},{p[1]:.1f}")
        pen = True
    if d:
        out.append(f'<path d="{" ".join(d)}" fill="none" stroke="#1f4e9c" stroke-width="1.4"/>')
    marks = [(rep.t0, "t0", "T-0")] + rep.markers
    for ts, kind, label in marks:
        if not x0 <= ts <= x1:
            continue
        colour = MARK_COLOURS.get(kind, "#555555")
        dash = ' stroke-dasharray="2 2"' if kind == "t0" else ""
        out.append(
            f'<line x1="{x(ts):.1f}" x2="{x(ts):.1f}" y1="{TOP}" y2="{TOP + ph}" stroke="{colour}"{dash}>'
            f"<title>{esc(rep.rel(ts))} {esc(label)}</title></line>"
        )
    unit_th = th

    def fv(v: float) -> str:
        return format_value(v, c.unit, unit_th) if math.isfinite(v) else "—"

    for v in (hi - pad, (hi + lo) / 2, lo + pad):
        out.append(f'<text x="{LEFT - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{esc(fv(v))}</text>')
    ticks = [(x0, "start"), (x1, "end")]
    if x0 < rep.t0 < x1 and min(x(rep.t0) - LEFT, LEFT + pw - x(rep.t0)) > 70:  # room for its label
        ticks.append((rep.t0, "t0"))
    for ts, which in ticks:
        anchor = {"start": "start", "end": "end"}.get(which, "middle")
        out.append(
            f'<text x="{x(ts):.1f}" y="{TOP + ph + 14}" font-size="10" text-anchor="{anchor}">'
            f"{esc(format_t_relative(ts - rep.t0))}</text>"
        )
    out.append(
        f'<text x="{LEFT}" y="{H - 16}" font-size="10" fill="#555555">'
        f"{esc(c.name)} ({esc(c.unit or 'count')}): min-max bars and mean per "
        f"{esc(_width(chart.series.width))}; shaded red while NO-GO, grey while UNKNOWN</text>"
    )
    out.append(
        f'<text x="{LEFT}" y="{H - 4}" font-size="10" fill="#555555">vertical lines: blue sign-off, '
        "green decision, orange rollback, dotted T-0 (hover for details)</text>"
    )
    out.append("</svg>")
    return "\n".join(out)


def _width(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
