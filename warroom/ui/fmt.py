"""How states look: a symbol and a word for every level, theme variables for colour, small text charts.

State is never told by colour alone: each level has a symbol and its name,
and the colour comes from a theme variable (`$gate-go` ...) so a theme file
decides how it looks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual.content import Content

from warroom.core.text import clean
from warroom.core.units import format_duration, format_t_relative, format_value

# level or verdict -> (symbol, theme variable)
LOOK: dict[str, tuple[str, str]] = {
    "GO": ("✔", "gate-go"),
    "WARN": ("▲", "gate-warn"),
    "NO-GO": ("✖", "gate-nogo"),
    "ROLLBACK": ("↺", "gate-rollback"),
    "UNKNOWN": ("?", "gate-unknown"),
    "PENDING": ("…", "gate-unknown"),
}
SEVERITY: dict[str, tuple[str, str]] = {
    "critical": ("✖", "gate-nogo"),
    "error": ("✖", "gate-nogo"),
    "page": ("✖", "gate-nogo"),
    "warning": ("▲", "gate-warn"),
    "info": ("i", "gate-unknown"),
}
TRIGGER_MODE: dict[str, str] = {"off": "off", "recommend": "recommend", "auto": "AUTO"}
SPARK = "▁▂▃▄▅▆▇█"


def level_var(level: str) -> str:
    return LOOK.get(level, LOOK["UNKNOWN"])[1]


def level(level: str, *, bold: bool = True) -> Content:
    """'✔ GO' in the level's colour."""
    sym, var = LOOK.get(level, LOOK["UNKNOWN"])
    return Content.styled(f"{sym} {level}", f"{'bold ' if bold else ''}${var}")


def severity(sev: str) -> Content:
    sym, var = SEVERITY.get(sev.lower(), SEVERITY["info"])
    return Content.styled(f"{sym} {clean(sev.upper()[:4])}", f"bold ${var}")  # an alert label: untrusted


def sparkline(values: Sequence[float | None], width: int) -> str:
    """The last `width` values as block characters, scaled to their own range; gaps as '·'."""
    tail = list(values)[-width:]
    nums = [v for v in tail if v is not None and math.isfinite(v)]
    if not nums:
        return "·" * len(tail)
    lo, hi = min(nums), max(nums)
    span = hi / 2 - lo / 2  # halved: 1e308 - -1e308 overflows to inf
    out = []
    for v in tail:
        if v is None or not math.isfinite(v):
            out.append("·")
        elif span <= 0:
            out.append(SPARK[3])
        else:
            out.append(SPARK[min(7, max(0, int((v / 2 - lo / 2) / span * 7.999)))])
    return "".join(out)


def bar(done: int, total: int, width: int = 10) -> str:
    """A text progress bar: '██████░░░░'."""
    if total <= 0:
        return "─" * width
    full = round(width * done / total)
    if done < total:
        full = min(full, width - 1)
    return "█" * full + "░" * (width - full)


def progress(done: int, total: int, width: int = 10) -> Content:
    var = "gate-go" if total and done == total else "gate-unknown"
    return Content.assemble((bar(done, total, width), f"${var}"), f" {done}/{total}")


def age(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(seconds)


def age_coarse(seconds: float | None) -> str:
    """A value's age in 5-second steps ('<5 s', '5 s' ... '115 s'), then whole minutes, then hours ('3.08 h').

    Fine enough to see a source go quiet (staleness itself is judged exactly, by
    the view), coarse enough that a healthy table is not repainted every second:
    each repaint of a row costs ~0.5 KB of terminal output. Never wider than 6.
    """
    if seconds is None:
        return "—"
    if seconds < 5:
        return "<5 s"
    if seconds < 120:
        return f"{int(seconds // 5) * 5} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    return format_value(seconds, "s")


def t_rel(ts: float | None, t0: float) -> str:
    return "—" if ts is None else format_t_relative(ts - t0)
