"""Filling a log's gaps from Prometheus history, on the recorder's own tick grid.

The recorder writes criterion `c`'s sample for slot k at `epoch + k * interval` (epoch: the log's launch event)
and the fold keeps one sample per (criterion, tick). Backfill asks Prometheus for exactly the slots of
[from, to] that hold no sample yet (live or earlier backfill), in range queries of at most MAX_POINTS points, and
appends each answer as one `backfill` event (see `warroom.core.backfilled`). A second run finds no gap and adds nothing.
Only slots before the current one are filled, so a console recording now never races it for a tick.

Relative thresholds get their baseline the recorder's way: when no sample lies at or before the baseline moment,
the value at that moment is asked once and recorded as a `baseline` sample.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warroom.config import AlertmanagerSource, Criterion, Launch, PrometheusSource
from warroom.core.backfilled import KIND, points
from warroom.core.events import Actor
from warroom.core.rules import baseline_moment
from warroom.recorder.alerthistory import am_fingerprint, firing_intervals
from warroom.recorder.loop import effective_interval
from warroom.sources.promrange import MAX_POINTS, PromHistory, RangeFailure
from warroom.store.base import LogReader, Store
from warroom.store.log import iter_events

CONCURRENCY = 4  # range queries in flight per run: Prometheus evaluates them in parallel; more only queues


@dataclass
class Known:
    """What the log already holds, per criterion: the ticks recorded and whether a baseline exists."""

    epoch: float | None = None
    ticks: dict[str, set[int]] = field(default_factory=dict)
    baseline: set[str] = field(default_factory=set)
    alerts: dict[str, list[float]] = field(default_factory=dict)  # fingerprint -> times of its alert events


def known(launch: Launch, path: str | Path | LogReader) -> Known:
    """One pass over the log (a file path or any store, a database's included): its epoch (the first launch
    event), every sample's and backfilled point's tick."""
    k = Known()
    if isinstance(path, str | Path) and not Path(path).exists():
        return k
    moments = {c.id: baseline_moment(c, launch.t0) for c in launch.criteria}

    def saw(cid: str, tick: Any, t: Any, value: Any) -> None:
        if isinstance(tick, int) and not isinstance(tick, bool):
            k.ticks.setdefault(cid, set()).add(tick)
        m = moments.get(cid)
        if m is not None and isinstance(t, int | float) and t <= m and value is not None:
            k.baseline.add(cid)

    for ev in iter_events(path) if isinstance(path, str | Path) else path.events():
        d = ev.data
        if ev.kind == "launch" and k.epoch is None:
            k.epoch = ev.ts
        elif ev.kind == "sample":
            saw(str(d.get("criterion")), d.get("tick"), d.get("t"), d.get("value"))
        elif ev.kind == "alert":
            t = d.get("t")
            if isinstance(t, int | float):
                k.alerts.setdefault(str(d.get("fingerprint", "")), []).append(float(t))
        elif ev.kind == KIND:
            for p in points(ev):
                saw(str(p.data["criterion"]), p.data.get("tick"), p.data["t"], p.data["value"])
    return k


@dataclass(frozen=True)
class Job:
    """One range query: ticks k0, k0+stride, ..., k1 of one criterion."""

    criterion: Criterion
    source: str
    k0: int
    k1: int
    stride: int
    interval: float

    @property
    def count(self) -> int:
        return (self.k1 - self.k0) // self.stride + 1


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    cannot: dict[str, str] = field(default_factory=dict)  # criterion id -> why it cannot be backfilled
    baselines: list[tuple[Criterion, float]] = field(default_factory=list)
    alerts: list[tuple[str, str, float, float, float]] = field(default_factory=list)  # am source, prom, a, b, step
    alert_problems: list[str] = field(default_factory=list)


def plan(
    launch: Launch, k: Known, start: float, end: float, now: float, step: float | None = None, *, epoch: float
) -> Plan:
    """The range queries that fill exactly the empty slots of [start, end] (before the current slot)."""
    out = Plan()
    for c in launch.criteria:
        src = launch.sources.get(c.source)
        if not isinstance(src, PrometheusSource):
            kind = getattr(src, "type", "unknown")
            out.cannot[c.id] = f"source '{c.source}' is {kind}: it keeps no history to backfill from"
            continue
        iv = effective_interval(launch, c)
        stride = max(1, round(step / iv)) if step else 1
        first = math.ceil((start - epoch) / iv - 1e-9)
        last = min(math.floor((end - epoch) / iv + 1e-9), math.floor((now - epoch) / iv) - 1)
        have = sorted(t for t in k.ticks.get(c.id, ()) if first <= t <= last and (t - first) % stride == 0)
        prev = first
        for t in [*have, last + stride]:
            out.jobs.extend(_jobs(c, prev, t - stride, stride, iv))
            prev = t + stride
        m = baseline_moment(c, launch.t0)
        if m is not None and m <= now and c.id not in k.baseline:
            out.baselines.append((c, m))
    for name, src in launch.sources.items():
        if not isinstance(src, AlertmanagerSource):
            continue
        if src.prometheus is None:
            out.alert_problems.append(
                f"alerts of '{name}': no history (Alertmanager keeps none; link a Prometheus with `prometheus:`)"
            )
        elif not isinstance(launch.sources.get(src.prometheus), PrometheusSource):
            out.alert_problems.append(f"alerts of '{name}': '{src.prometheus}' is not a Prometheus source")
        else:
            out.alerts.append((name, src.prometheus, start, min(end, now), float(src.interval)))
    return out


def _jobs(c: Criterion, k0: int, k1: int, stride: int, iv: float) -> list[Job]:
    """Ticks k0..k1 (every `stride`) in range queries of at most MAX_POINTS points."""
    out = []
    while k0 <= k1:
        end = min(k1, k0 + (MAX_POINTS - 1) * stride)
        out.append(Job(c, c.source, k0, end, stride, iv))
        k0 = end + stride
    return out


@dataclass
class Outcome:
    points: dict[str, int] = field(default_factory=dict)  # criterion -> points appended
    alerts: int = 0  # firing intervals appended
    failures: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)


async def run(launch: Launch, log: Store, p: Plan, *, epoch: float, actor: Actor, k: Known | None = None) -> Outcome:
    """Ask every job's range (a few at a time), appending each answer as soon as it is in."""
    out = Outcome()
    clients = {
        name: PromHistory(name, cfg)
        for name, cfg in launch.sources.items()
        if isinstance(cfg, PrometheusSource)
        and (
            any(j.source == name for j in p.jobs)
            or any(c.source == name for c, _m in p.baselines)
            or any(a[1] == name for a in p.alerts)
        )
    }

    async def alerts(am: str, prom: str, a: float, b: float, step: float) -> None:
        async with gate:
            try:
                got = await firing_intervals(clients[prom], "", a, b, step)
            except RangeFailure as e:
                out.failures.append(f"alerts of '{am}' from '{prom}': {e}")
                return
        known_alerts = k.alerts if k is not None else {}
        for labels, s, stop in got:
            fp = am_fingerprint(labels)
            hi = (stop if stop is not None else b) + 2 * step
            if any(s - 2 * step <= t <= hi for t in known_alerts.get(fp, ())):
                continue  # seen live (or backfilled before): the log already tells this firing
            base = {"fingerprint": fp, "labels": labels, "annotations": {}, "starts_at": s, "source": am}
            extra = {"backfilled": True, "query": 'ALERTS{alertstate="firing"}'}
            log.append("alert", {**base, "status": "firing", "t": s, **extra}, actor=actor)
            if stop is not None:
                log.append("alert", {**base, "status": "resolved", "t": stop + step, **extra}, actor=actor)
            out.alerts += 1

    gate = asyncio.Semaphore(CONCURRENCY)

    answers: list[list[list[Any]] | None] = [None] * len(p.jobs)
    appended = 0

    def flush() -> None:
        """Append the answers in plan order (criterion, then time), as far as they are in: the log then tells
        each criterion's history in time order, which a fold in log order (a live console) relies on."""
        nonlocal appended
        while appended < len(answers) and answers[appended] is not None:
            j, got = p.jobs[appended], answers[appended]
            assert got is not None
            if got:
                log.append(KIND, event_data(j, got), actor=actor)
                out.points[j.criterion.id] = out.points.get(j.criterion.id, 0) + len(got)
            answers[appended] = None
            appended += 1

    async def one(i: int, j: Job) -> None:
        start = epoch + j.k0 * j.interval
        async with gate:
            try:
                got = await clients[j.source].range(
                    j.criterion.query, start, epoch + j.k1 * j.interval, j.stride * j.interval, j.k0, j.stride
                )
            except RangeFailure as e:
                out.failures.append(f"{j.criterion.id}: {e}")
                got = []  # a failed range leaves its gap for the next run
        answers[i] = got
        flush()

    async def baseline(c: Criterion, m: float) -> None:
        async with gate:
            try:
                pt = await clients[c.source].instant(c.query, m)
            except RangeFailure as e:
                out.failures.append(f"{c.id} baseline: {e}")
                return
        if pt.value is None:
            out.failures.append(f"{c.id} baseline at {m:.0f}: {pt.error}: {pt.reason}")
            return
        data = {"criterion": c.id, "value": pt.value, "error": None, "reason": "", "t": m, "baseline": True}
        log.append("sample", {**data, "backfilled": True, "query": c.query}, actor=actor)
        out.baselines.append(c.id)

    try:
        # Baselines first: a fold in log order (a live console, replay) must meet a relative threshold's baseline
        # before the points judged against it, as it would have live. Asked alongside the ranges, the order of
        # the log depended on which answer came in first (seen under load: the last point UNKNOWN, not GO).
        await asyncio.gather(*(baseline(c, m) for c, m in p.baselines))
        await asyncio.gather(
            *(one(i, j) for i, j in enumerate(p.jobs)),
            *(alerts(*a) for a in p.alerts),
        )
    finally:
        for cl in clients.values():
            await cl.aclose()
    return out


def event_data(j: Job, pts: list[list[Any]]) -> dict[str, Any]:
    """A `backfill` event: the criterion, the query and its points on the tick grid."""
    return {
        "criterion": j.criterion.id,
        "source": j.source,
        "query": j.criterion.query,
        "interval": j.interval,
        "step": j.stride * j.interval,
        "points": pts,
    }
