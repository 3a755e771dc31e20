"""Durations, units and threshold expressions, parsed once at config load.

Kept free of any other warroom module so that both the config loader and the
pure rules can use it without an import cycle.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_RE = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*$")
_COMPOUND_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|min|m|h|d|w)")

DURATION_FORMS = "a number of seconds or e.g. '500ms', '30s', '5m', '2h', '7d', '-24h'"


def parse_duration(text: str | int | float) -> float:
    """Seconds from '30s', '5m', '-24h', '1h30m' or a bare number of seconds."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration, got {text!r}; use {DURATION_FORMS}")
    if isinstance(text, int | float):
        if not math.isfinite(text):
            raise ValueError(f"duration must be finite; use {DURATION_FORMS}")
        return float(text)
    if not isinstance(text, str):
        raise ValueError(f"expected a duration, got {type(text).__name__}; use {DURATION_FORMS}")
    s = text.strip()
    m = _DURATION_RE.match(s)
    if m:
        sign = -1.0 if m.group(1) == "-" else 1.0
        return sign * float(m.group(2)) * _DURATION_UNITS[m.group(3)]
    body = s.lstrip("+-")
    parts = _COMPOUND_RE.findall(body)
    if body and parts and "".join(n + u for n, u in parts) == body:
        sign = -1.0 if s.startswith("-") else 1.0
        return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    raise ValueError(f"cannot read duration {text!r}; use {DURATION_FORMS}")


def format_duration(seconds: float) -> str:
    """Compact human form: 45s, 12m, 3h05m, 2d04h."""
    s = abs(int(seconds))
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s" if s % 60 and s < 600 else f"{sign}{s // 60}m"
    if s < 86400:
        return f"{sign}{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{sign}{s // 86400}d{(s % 86400) // 3600:02d}h"


def format_t_relative(seconds: float) -> str:
    """T-minus / T-plus label for an offset from T-0: T-01:05:00, T+00:37:12, T+2d03:00:00."""
    sign = "-" if seconds < 0 else "+"
    s = int(abs(seconds))
    days, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    core = f"{h:02d}:{m:02d}:{sec:02d}"
    return f"T{sign}{days}d{core}" if days else f"T{sign}{core}"


# Units a criterion can be measured in; each belongs to a family within which
# thresholds convert.  Factor is relative to the family's base unit.
UNITS: dict[str, tuple[str, float]] = {
    "%": ("percent", 1.0),
    "ratio": ("percent", 100.0),
    "ms": ("time", 0.001),
    "s": ("time", 1.0),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "d": ("time", 86400.0),
    "B": ("bytes", 1.0),
    "KB": ("bytes", 1e3),
    "MB": ("bytes", 1e6),
    "GB": ("bytes", 1e9),
    "rpm": ("rate", 1.0),
    "rps": ("rate", 60.0),
    "count": ("count", 1.0),
    "score": ("count", 1.0),
    "": ("count", 1.0),
}
UNIT_FORMS = ", ".join(repr(u) for u in UNITS if u)

_THRESHOLD_UNIT_ALIASES = {"m": "min", "/min": "rpm", "req/min": "rpm", "/s": "rps", "req/s": "rps", "x": ""}

_OPS = {">=": ">=", "≥": ">=", ">": ">", "<=": "<=", "≤": "<=", "<": "<", "==": "==", "=": "==", "!=": "!=", "≠": "!="}
_ABS_RE = re.compile(
    r"^\s*(>=|<=|==|!=|≥|≤|≠|>|<|=)\s*([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([A-Za-z%/]*(?:/[a-z]+)?)\s*$"
)
_REL_RE = re.compile(r"^\s*(>=|<=|≥|≤|>|<)\s*([+-]\d+(?:\.\d+)?)\s*%\s+of\s+(T\s*[+-]\s*\S+|T-?0)\s*$", re.IGNORECASE)
_MOMENT_RE = re.compile(r"^T\s*([+-])\s*(.+)$", re.IGNORECASE)
_CLOCK_RE = re.compile(r"^(\d+d)?(\d{1,3}):(\d{2})(?::(\d{2}))?$")  # the console clock: [Nd]HH:MM[:SS]

THRESHOLD_FORMS = "'>= 99.8%', '< 500ms', '< 1s', '<= 80', '== 0', or relative to a baseline: '<= +10% of T-1h'"


@dataclass(frozen=True, slots=True)
class Threshold:
    """A condition on a value, already converted to the criterion's unit.

    `relative_to` (seconds from T-0) makes `value` a percentage change from the
    baseline taken at that moment rather than an absolute bound.
    """

    op: str
    value: float
    text: str
    relative_to: float | None = None

    def holds(self, actual: float, baseline: float | None = None) -> bool:
        bound = self.value
        if self.relative_to is not None:
            if baseline is None:
                raise ValueError("relative threshold needs a baseline")
            bound = baseline * (1.0 + self.value / 100.0)
        return _COMPARE[self.op](actual, bound)


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


def compare(op: str, a: float, b: float) -> bool:
    return _COMPARE[op](a, b)


def parse_moment(text: str) -> float:
    """Seconds from T-0 for 'T-1h', 'T+30m', 'T+1h30m', 'T-0', 'T0', or the console clock's 'T+00:37', 'T+00:37:12'.

    The one grammar for a moment (config thresholds, backfill, replay --at, the console's jump):
    'T+00:37' is hours:minutes, as on the console clock (T+HH:MM:SS, with an optional day count 'T+1d02:00').
    """
    s = text.strip().replace(" ", "")
    if s.upper() in ("T0", "T-0", "T+0"):
        return 0.0
    m = _MOMENT_RE.match(s)
    if not m:
        raise ValueError(f"cannot read moment {text!r}; use e.g. 'T-1h', 'T-0', 'T+30m'")
    c = _CLOCK_RE.match(m.group(2))
    if c:
        days = float(c.group(1)[:-1]) if c.group(1) else 0.0
        secs = days * 86400 + int(c.group(2)) * 3600 + int(c.group(3)) * 60 + int(c.group(4) or 0)
        return float(-secs if m.group(1) == "-" else secs)
    return parse_duration(m.group(1) + m.group(2))


def parse_threshold(text: str | int | float, unit: str) -> Threshold:
    """Parse a threshold and convert its number into `unit` (the criterion's unit)."""
    if not isinstance(text, str):
        raise ValueError(f"threshold must be text such as {THRESHOLD_FORMS}; got {text!r}")
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; use one of {UNIT_FORMS}")
    rel = _REL_RE.match(text)
    if rel:
        return Threshold(_OPS[rel.group(1)], float(rel.group(2)), text.strip(), parse_moment(rel.group(3)))
    m = _ABS_RE.match(text)
    if not m:
        raise ValueError(f"cannot read threshold {text!r}; accepted forms: {THRESHOLD_FORMS}")
    op, number, tunit = _OPS[m.group(1)], float(m.group(2)), m.group(3)
    tunit = _THRESHOLD_UNIT_ALIASES.get(tunit, tunit)
    if tunit and tunit not in UNITS:
        raise ValueError(f"unknown unit {m.group(3)!r} in threshold {text!r}; use one of {UNIT_FORMS}")
    if tunit:
        fam_t, fac_t = UNITS[tunit]
        fam_c, fac_c = UNITS[unit]
        if fam_t != fam_c:
            raise ValueError(f"threshold {text!r} is in {tunit!r} but the criterion is measured in {unit or 'count'!r}")
        number = number * fac_t / fac_c
    return Threshold(op, number, text.strip())


_BASE_DIGITS = {"%": 2, "ratio": 4, "ms": 0, "s": 2}
_SUFFIX = {"": "", "count": "", "ratio": "", "score": ""}


def format_value(value: float, unit: str, threshold: float | Iterable[float] | None = None) -> str:
    """Show a value with enough digits that it never rounds across `threshold` (one bound or several).

    99.79 against 99.8 must not read "99.8"; we add decimals until the shown
    number sits on the same side of every threshold as the real one (and equals
    one only if the value does), falling back to the exact shortest repr.
    """
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf"
    bounds = (
        ()
        if threshold is None
        else (float(threshold),)
        if isinstance(threshold, (int, float))
        else tuple(float(b) for b in threshold)
    )
    if abs(value) >= HUGE:
        return _with_unit(_scientific(value, bounds), unit)
    base = _BASE_DIGITS.get(unit, 2 if abs(value) < 100 else 0)
    if value != int(value) and abs(value) < 1:
        base = max(base, 3)
    digits = base
    text = f"{value:.{digits}f}"
    while bounds:  # the hot path of every sample: an explicit loop, no generator or helper call per bound
        shown = float(text)  # the same number round(value, digits) gives: both round the exact binary value once
        for b in bounds:
            if (shown > b) != (value > b) or (shown == b) != (value == b):
                break
        else:
            break
        digits += 1
        if digits > 15:
            text = repr(value)
            break
        text = f"{value:.{digits}f}"
    return _with_unit(text, unit)


HUGE = 1e15  # from here on a value is shown as 1.0e308, not as a 309-digit integer that pushes columns off


def _scientific(value: float, bounds: tuple[float, ...]) -> str:
    """Fewest significant digits (at least two) that keep the shown number on the value's side of every bound."""
    for places in range(1, 17):
        text = f"{value:.{places}e}".replace("e+", "e")
        shown = float(text)
        if all((shown > b) == (value > b) and (shown == b) == (value == b) for b in bounds):
            return text
    return repr(value).replace("e+", "e")


def _with_unit(text: str, unit: str) -> str:
    suffix = _SUFFIX.get(unit, unit)
    sep = "" if suffix in ("%", "ms", "s") else " "
    return f"{text}{sep}{suffix}" if suffix else text
