"""Finding a log's backfilled points: a byte search first, so a log without any pays nothing."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from warroom.core.backfilled import KIND, late, points
from warroom.core.events import Event
from warroom.store.log import LogCorrupt, iter_events

_MARKS = (b'"kind":"backfill"', b'"backfilled":true')


def has_backfill(path: str | Path) -> bool:
    """Whether the log holds any backfill event (a byte search: the common log has none, and pays nothing)."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return False
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                return any(m.find(mark) >= 0 for mark in _MARKS)
    except (OSError, ValueError):
        return False


def collect(path: str | Path) -> list[Event]:
    """Every backfill event's points as samples, in source-time order (one verified pass over the log; none
    after a break in the chain)."""
    if not has_backfill(path):
        return []
    out: list[Event] = []
    try:
        for ev in iter_events(path):
            if ev.kind == KIND:
                out.extend(points(ev))
            elif late(ev):
                out.append(Event(ev.v, ev.seq, float(ev.data["t"]), ev.actor, ev.kind, ev.data, ev.prev, ev.hash))
    except LogCorrupt:
        pass  # only what precedes the break: the report stops there too, and says so
    out.sort(key=lambda e: e.ts)
    return out
