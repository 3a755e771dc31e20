"""Backfilled samples in the fold: where a `backfill` event's points go, so they are judged like live ones.

A `backfill` event (appended by `warroom backfill`) holds one range query's points for one criterion: each point
is `[tick, t, value]` or `[tick, t, null, error kind, reason]`, on the recorder's tick grid (the log's epoch plus
tick x interval), so a point and a live sample of the same slot share a tick and the fold keeps one of them.

The event is appended after the moments it describes. A fold in log order would judge those points after
later live samples (or drop them as old ticks); `merged` instead feeds each point to the fold at its source time,
among the live events, as a sample the recorder could have written then. Report (and any reader wanting the
history as a console would have seen it) folds `merged(...)`. Pure: reads only the events; the scan of a log
file for them is `warroom.store.backfill_scan`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from warroom.core.events import Event

KIND = "backfill"


def points(ev: Event) -> Iterator[Event]:
    """The event's points as `sample` events at their source time (same seq as the backfill event)."""
    d = ev.data
    cid = d.get("criterion")
    query = d.get("query")
    for p in d.get("points") or ():
        if not isinstance(p, list) or len(p) < 3:
            continue
        tick, t, value = p[0], p[1], p[2]
        if not isinstance(t, int | float):
            continue
        data: dict[str, Any] = {"criterion": cid, "value": value, "error": None, "reason": "", "t": t}
        if value is None:
            data["error"] = str(p[3]) if len(p) > 3 else "no-data"
            data["reason"] = str(p[4]) if len(p) > 4 else "no data in Prometheus at this moment"
        if isinstance(tick, int):
            data["tick"] = tick
        data["backfilled"] = True
        data["query"] = query
        yield Event(ev.v, ev.seq, float(t), ev.actor, "sample", data, ev.prev, ev.hash)


def late(ev: Event) -> bool:
    """A single sample or alert written by backfill (a baseline fetched for a past moment, a firing read from
    the ALERTS series): merged by its source time too."""
    return (
        ev.kind in ("sample", "alert")
        and ev.data.get("backfilled") is True
        and isinstance(ev.data.get("t"), int | float)
    )


def fold_time(ev: Event) -> float:
    """When a live event happened for the fold: a sample at its source time, anything else when logged."""
    if ev.kind in ("sample", "alert"):
        t = ev.data.get("t")
        if isinstance(t, int | float) and not isinstance(t, bool):
            return float(t)
    return ev.ts


class Merge:
    """The backfilled samples still to slot in among live events, in source-time order."""

    __slots__ = ("i", "points")

    def __init__(self, backfill: list[Event]):
        self.points = backfill
        self.i = 0

    @property
    def waiting(self) -> bool:
        return self.i < len(self.points)

    def due(self, k: float) -> list[Event]:
        """The points that go before a live event whose fold time is `k` (those at or before it), taken."""
        pts, i = self.points, self.i
        j, n = i, len(pts)
        while j < n and pts[j].ts <= k:
            j += 1
        self.i = j
        return pts[i:j]

    def rest(self) -> list[Event]:
        """The points after the last live event, taken."""
        out = self.points[self.i :]
        self.i = len(self.points)
        return out


def merged(events: Iterable[Event], backfill: list[Event]) -> Iterator[Event]:
    """`events` with the backfilled samples slotted in by time; the `backfill` events and backfilled samples
    met in log order are dropped (they are already in). A point goes before the first live event that happened
    after it."""
    m = Merge(backfill)
    for ev in events:
        if ev.kind == KIND or late(ev):
            continue
        if m.waiting:
            yield from m.due(fold_time(ev))
        yield ev
    yield from m.rest()
