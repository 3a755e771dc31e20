"""Finding a log's backfilled points: a byte search first, so a log without any pays nothing."""

from __future__ import annotations

from pathlib import Path

from warroom.core.backfilled import KIND, late, points
from warroom.core.events import Event
from warroom.store.log import LogCorrupt, iter_events

_MARKS = (b'"kind":"backfill"', b'"backfilled":true')
_CHUNK = 1 << 20


def has_backfill(path: str | Path) -> bool:
    """Whether the log holds any backfill event (a byte search: the common log has none, and pays nothing).

    Read in chunks, not mapped: every page of a mapped file counts in the process's resident memory, so a
    mapped search of a 700 MB log made the report's peak as large as the log."""
    keep = max(len(m) for m in _MARKS) - 1  # a mark split across two chunks is still found
    try:
        with open(path, "rb") as f:
            tail = b""
            while chunk := f.read(_CHUNK):
                data = tail + chunk
                if any(data.find(mark) >= 0 for mark in _MARKS):
                    return True
                tail = data[-keep:]
    except (OSError, ValueError):
        return False
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
