"""Success metrics measured in Prometheus at their cadence, recorded as `measurement` events.

For each completed check period of a metric's window (one per day for a daily check, one per week for weekly)
the value is asked once, at the period's end: the metric's own query if it has one, else the mean of its
criterion's query over the period (`avg_over_time((query)[period:interval])`). Each answer is appended as a
`measurement` event (source `prometheus`, with the query and the period), so the report stays a fold of the log
and a second run adds only periods completed since. Metrics with neither a query nor a Prometheus criterion
(user satisfaction) are left to their owners (`warroom measure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warroom.config import Launch, PrometheusSource, SuccessMetric
from warroom.core.events import Actor
from warroom.core.units import format_t_relative
from warroom.report.build import PERIODS
from warroom.store.base import LogReader, Store
from warroom.store.log import iter_events


@dataclass
class Measured:
    appended: int = 0
    failures: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # metric id -> why Prometheus cannot measure it
    unreachable: dict[str, str] = field(default_factory=dict)  # source name -> why its probe failed
    measurable: int = 0  # metrics Prometheus could measure (reachable or not)


def query_for(launch: Launch, m: SuccessMetric, period: float) -> tuple[str, str] | None:
    """(source name, PromQL) measuring `m` over one period ending at the evaluation time, or None."""
    if m.query and m.source and isinstance(launch.sources.get(m.source), PrometheusSource):
        return m.source, m.query
    c = launch.criteria_by_id.get(m.criterion or "")
    if c is not None and isinstance(launch.sources.get(c.source), PrometheusSource):
        from warroom.recorder.loop import effective_interval  # the recorder (asyncio, sources) only when measuring

        step = f"{max(1, round(effective_interval(launch, c)))}s"  # PromQL syntax, not the human form
        return c.source, f"avg_over_time(({c.query})[{int(period)}s:{step}])"
    return None


def already(path: str | Path | LogReader) -> set[tuple[str, float]]:
    """(metric, period start) pairs the log (a file path or any store) already holds a Prometheus measurement for."""
    out: set[tuple[str, float]] = set()
    for ev in iter_events(path) if isinstance(path, str | Path) else path.events():
        d = ev.data
        if ev.kind == "measurement" and d.get("source") == "prometheus" and isinstance(d.get("period_start"), float):
            out.add((str(d.get("metric")), d["period_start"]))
    return out


def measurable(launch: Launch) -> bool:
    """Whether any success metric can be measured in one of the launch's Prometheus sources."""
    return any(query_for(launch, m, PERIODS.get(m.check, m.window)) is not None for m in launch.success_metrics)


async def measure(launch: Launch, log: Store, now: float, actor: Actor, probe_timeout: float | None = None) -> Measured:
    """Measure every completed period not yet in the log. With `probe_timeout`, each source is asked one cheap
    query first, and an unreachable one is skipped whole (its reason kept), so a report made where Prometheus
    cannot be reached waits seconds, not a timeout per period."""
    import asyncio

    from warroom.sources.promrange import PromHistory, RangeFailure  # HTTP only here: a report that measures

    res = Measured()
    done = already(log)  # read through the store: the same on a file and on PostgreSQL
    jobs: list[tuple[SuccessMetric, str, str, float, float, int]] = []
    for m in launch.success_metrics:
        period = PERIODS.get(m.check, m.window)
        q = query_for(launch, m, period)
        if q is None:
            res.skipped[m.id] = "not in Prometheus: its owner enters it (warroom measure)"
            continue
        res.measurable += 1
        start, n = launch.t0, 0
        while start + period <= min(launch.t0 + m.window, now) + 1e-6:
            if (m.id, float(start)) not in done:
                jobs.append((m, q[0], q[1], float(start), float(start + period), n))
            start += period
            n += 1
    clients = {s: PromHistory(s, launch.sources[s]) for s in {j[1] for j in jobs}}  # type: ignore[arg-type]
    if probe_timeout is not None:
        for name, cl in list(clients.items()):
            try:
                await asyncio.wait_for(cl.instant("vector(1)", now), probe_timeout)
            except (RangeFailure, TimeoutError) as e:
                res.unreachable[name] = str(e) or f"no answer within {probe_timeout:g}s"
                await cl.aclose()
                del clients[name]
        for m, src, *_ in jobs:
            if src in res.unreachable:
                res.skipped[m.id] = f"Prometheus source '{src}' not reachable: {res.unreachable[src]}"
        jobs = [j for j in jobs if j[1] in clients]

    async def one(m: SuccessMetric, src: str, query: str, a: float, b: float, n: int) -> None:
        try:
            pt = await clients[src].instant(query, b)
        except RangeFailure as e:
            res.failures.append(f"{m.id} {format_t_relative(a - launch.t0)}: {e}")
            return
        if pt.value is None:
            res.failures.append(f"{m.id} {format_t_relative(a - launch.t0)}: {pt.error}: {pt.reason}")
            return
        data: dict[str, Any] = {
            "metric": m.id,
            "value": pt.value,
            "period": f"{m.check} {n + 1} ({format_t_relative(a - launch.t0)} to {format_t_relative(b - launch.t0)})",
            "period_start": a,
            "period_end": b,
            "source": "prometheus",
            "query": query,
        }
        log.append("measurement", data, actor=actor)
        res.appended += 1

    try:
        for j in sorted(jobs, key=lambda j: (j[0].id, j[3])):  # one at a time: the log reads in period order
            await one(*j)
    finally:
        for cl in clients.values():
            await cl.aclose()
    return res
