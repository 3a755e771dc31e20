"""Alert firing intervals from Prometheus's `ALERTS` series, for an Alertmanager source linked to a Prometheus.

Alertmanager keeps no history, but the Prometheus that evaluates the rules stores every firing alert as
`ALERTS{alertstate="firing", alertname=..., <labels>} 1`. A run of consecutive points of one series is one firing:
backfill appends `alert` events (firing at its first point, resolved after its last when that is inside the
range), marked backfilled with their source time, so the fold places them where they happened. The fingerprint
is Alertmanager's own (FNV-1a over the sorted labels), so an alert the console saw live keeps one identity, and an
interval overlapping any alert event already logged for that fingerprint is left alone (a second run adds nothing).
"""

from __future__ import annotations

from typing import Any

from warroom.sources.promrange import MAX_POINTS, PromHistory

FRESH = 90.0  # seconds a firing sample counts for: a rule evaluated every minute (the default) writes one per minute
_FNV_OFFSET, _FNV_PRIME, _MASK = 14695981039346656037, 1099511628211, (1 << 64) - 1


def am_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (prometheus/common model.LabelSet.Fingerprint), as %016x."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for b in part.encode():
                h = ((h ^ b) * _FNV_PRIME) & _MASK
            h = ((h ^ 0xFF) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


async def firing_intervals(
    client: PromHistory, matchers: str, start: float, end: float, step: float
) -> list[tuple[dict[str, str], float, float | None]]:
    """(labels, first firing point, last firing point or None if still firing at `end`) for every firing."""
    out: list[tuple[dict[str, str], float, float | None]] = []
    selector = "ALERTS{" + ",".join(x for x in ('alertstate="firing"', matchers) if x) + "}"
    # Only points whose sample is fresh: without staleness markers (blocks imported with promtool) a range query
    # would keep showing the last firing for the 5-minute lookback after the rule stopped writing it.
    query = f"(time() - timestamp({selector})) < {max(2 * step, FRESH):g}"
    a = start
    while a <= end:
        b = min(end, a + (MAX_POINTS - 1) * step)
        for labels, ts in await client.series(query, a, b, step):
            out.extend((labels, s, e) for s, e in _runs(ts, step))
        a = b + step
    return _join(out, step, end)


def _runs(ts: list[float], step: float) -> list[tuple[float, float]]:
    runs: list[tuple[float, float]] = []
    for t in sorted(ts):
        if runs and t - runs[-1][1] <= step * 1.5:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


def _join(items: list[tuple[dict[str, str], float, float | None]], step: float, end: float) -> list[Any]:
    """Runs split only by a chunk boundary are one firing; one that reaches `end` may still be firing."""
    by: dict[str, list[tuple[dict[str, str], float, float | None]]] = {}
    for labels, s, e in sorted(items, key=lambda x: x[1]):
        runs = by.setdefault(am_fingerprint(labels), [])
        if runs and runs[-1][2] is not None and s - runs[-1][2] <= step * 1.5:
            runs[-1] = (labels, runs[-1][1], e)
        else:
            runs.append((labels, s, e))
    out = []
    for runs in by.values():
        for labels, s, e in runs:
            out.append((labels, s, None if e is not None and e >= end - step / 2 else e))
    return sorted(out, key=lambda x: x[1])
