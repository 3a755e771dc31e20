"""Replay: what the console knew at any moment of a recorded launch, from the log alone.

`state_at(t)` is the fold of every event with `ts <= t`, the same fold the live
console ran, so every panel (trends included) shows exactly what was known
then. Memory stays bounded however long the log is: the file is streamed,
and only periodic checkpoints are kept (a pickled LaunchState plus the byte
offset and chain position after it, and how many backfilled points were folded). A jump restores the nearest checkpoint
and folds forward; when there are too many checkpoints every other one is
dropped, so memory stays flat and a jump reads at most a few thousand events.

Backfilled points (appended later by `warroom backfill`) are folded at their source
time among the live events, the same merge the report uses (`core.backfilled.merged`),
so the playhead at minute 70 shows the spike Prometheus held then, not at the moment
backfill ran.

Replay only reads the log; it never opens it for writing.
"""

from __future__ import annotations

import bisect
import io
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from warroom.config import Launch
from warroom.core.authority import SigVerdict
from warroom.core.backfilled import KIND as BACKFILL
from warroom.core.backfilled import fold_time, late
from warroom.core.events import GENESIS, Event
from warroom.core.state import LaunchState, actor_label, word
from warroom.store.backfill_scan import collect
from warroom.store.launchlog import first_launch_event, launch_from_log
from warroom.store.log import LogCorrupt, VerifyProblem, iter_events_from
from warroom.trust.guard import guard_for

# Event kinds that are human decisions: the stops for "previous/next decision".
MARK_KINDS = frozenset({"check", "uncheck", "signoff", "note", "decision", "rollback", "ack", "trigger_mode"})
CHECKPOINT_EVERY = 2000  # events between checkpoints to start with; doubles when MAX_CHECKPOINTS is reached
MAX_CHECKPOINTS = 256  # at ~80 KB each: about 20 MB however long the log


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    seq: int  # events folded in
    ts: float  # time of the last of them
    offset: int  # byte offset of the next line
    prev: str  # hash of the last event folded in, to keep checking the chain from here
    state: bytes  # the pickled LaunchState (the Launch kept apart)
    points: int = 0  # backfilled points folded in (an index into Replay._backfill)


@dataclass
class _Cursor:
    """The state most recently returned, with its place in the file, so playback folds forward cheaply."""

    state: LaunchState
    seq: int
    ts: float
    offset: int
    prev: str
    points: int = 0


@dataclass
class Replay:
    """A recorded launch opened for replay: log time range, integrity, decisions, and state at any moment."""

    path: Path
    launch: Launch
    start: float = 0.0
    end: float = 0.0
    integrity: str = ""
    ok: bool = True
    events: int = 0  # events replayed (all of them, or those before a broken link)
    torn: int = 0  # bytes of a torn last line, ignored
    problem: VerifyProblem | None = None
    _marks: list[tuple[float, str]] = field(default_factory=list)
    _checkpoints: list[_Checkpoint] = field(default_factory=list)
    _every: int = CHECKPOINT_EVERY
    _cursor: _Cursor | None = None
    _backfill: list[Event] = field(default_factory=list)  # backfilled points as samples, in source-time order
    verdicts: dict[str, SigVerdict] = field(default_factory=dict)  # signature verdicts, computed once on open

    # ------------------------------------------------------------ public

    def marks(self) -> list[tuple[float, str]]:
        """(time, label) of every human decision, in log order: the stops for step previous/next."""
        return list(self._marks)

    def state_at(self, t: float) -> LaunchState:
        """The fold of every event with ts <= t. The caller owns the result; replay keeps its own copy."""
        cur = self._cursor
        if cur is None or t < cur.ts or self._checkpoint_before(t).seq > cur.seq:
            cp = self._checkpoint_before(t)
            cur = _Cursor(self._thaw(cp.state), cp.seq, cp.ts, cp.offset, cp.prev, cp.points)
        self._fold_forward(cur, t)
        self._cursor = cur
        out = self._thaw(self._freeze(cur.state))
        for c in self.launch.criteria:
            word(c, out.criteria[c.id])  # the lean fold's deferred reasons, so the state is complete as live's
        out.lean = False  # the caller's copy folds like any other
        return out

    def seq_at(self, t: float) -> int:
        """How many events had been logged by `t`: a cheap way to tell whether a jump changes anything."""
        return self.state_at(t).seq

    # ------------------------------------------------------------ internals

    def _checkpoint_before(self, t: float) -> _Checkpoint:
        i = bisect.bisect_right(self._checkpoints, t, key=lambda cp: cp.ts) - 1
        return self._checkpoints[max(i, 0)]

    def _fold_forward(self, cur: _Cursor, t: float) -> None:
        if cur.seq >= self.events and cur.points >= len(self._backfill):
            return
        try:
            cur.state.signatures = self.verdicts  # a checkpoint holds those up to it; the fold needs them all
            for step in _merged_from(self.path, cur.offset, cur.seq, cur.prev, cur.points, self._backfill):
                ev = step.event
                if ev.ts > t or step.seq > self.events:
                    break
                cur.state.apply(ev)
                cur.seq, cur.ts, cur.offset, cur.prev, cur.points = step.seq, ev.ts, step.offset, step.prev, step.points
                if cur.seq >= self.events and cur.points >= len(self._backfill):
                    break
        except (LogCorrupt, OSError) as e:
            # the file was changed or removed under the replay: show what could be read, and say so
            self.events = cur.seq
            self.ok = False
            self.integrity = f"the log changed while it was being replayed ({e}); showing the first {cur.seq:,} events"

    def _freeze(self, state: LaunchState) -> bytes:
        buf = io.BytesIO()
        _Pickler(buf, self.launch).dump(state)
        return buf.getvalue()

    def _thaw(self, blob: bytes) -> LaunchState:
        state: LaunchState = _Unpickler(io.BytesIO(blob), self.launch).load()
        return state

    def _checkpoint(self, state: LaunchState, step: _Step) -> None:
        cp = _Checkpoint(step.seq, step.event.ts, step.offset, step.prev, self._freeze(state), step.points)
        self._checkpoints.append(cp)
        if len(self._checkpoints) > MAX_CHECKPOINTS:
            self._checkpoints = self._checkpoints[:1] + self._checkpoints[2::2]
            self._every *= 2


@dataclass(frozen=True, slots=True)
class _Step:
    """One event of the merged stream, and where the stream stands after it (the resume point of a cursor)."""

    event: Event
    offset: int  # byte offset of the next live line not yet folded
    seq: int  # live events folded (the chain position)
    prev: str  # hash of the last live event folded
    points: int  # backfilled points folded


def _merged_from(
    path: Path,
    offset: int,
    seq: int,
    prev: str,
    points: int,
    backfill: list[Event],
    on_torn: Callable[[bytes], None] | None = None,
) -> Iterator[_Step]:
    """The log from a resume point, with backfilled points slotted in by source time (as `merged` does).

    A point goes before the first live event that happened after it, so a point's step resumes at the
    start of that live line: the cursor never skips a live event nor folds a point twice.
    """
    n = len(backfill)
    at = offset
    for end, ev in iter_events_from(path, offset, seq, prev, on_torn=on_torn):
        if ev.kind == BACKFILL or late(ev):
            at, seq, prev = end, ev.seq, ev.hash  # already among the points, at their source time
            continue
        if points < n:
            k = fold_time(ev)
            while points < n and backfill[points].ts <= k:
                points += 1
                yield _Step(backfill[points - 1], at, seq, prev, points)
        at, seq, prev = end, ev.seq, ev.hash
        yield _Step(ev, at, seq, prev, points)
    while points < n:
        points += 1
        yield _Step(backfill[points - 1], at, seq, prev, points)


class _Pickler(pickle.Pickler):
    """Pickles a LaunchState without its Launch (immutable, shared by every checkpoint)."""

    def __init__(self, buf: io.BytesIO, launch: Launch):
        super().__init__(buf, protocol=pickle.HIGHEST_PROTOCOL)
        self._launch = launch

    def persistent_id(self, obj: object) -> str | None:
        return "launch" if obj is self._launch else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, buf: io.BytesIO, launch: Launch):
        super().__init__(buf)
        self._launch = launch

    def persistent_load(self, pid: object) -> Launch:
        if pid != "launch":
            raise pickle.UnpicklingError(f"unexpected reference {pid!r}")
        return self._launch


def _recorded_config(path: Path) -> str | None:
    first = first_launch_event(path)
    return str(first.data["path"]) if first is not None and first.data.get("path") else None


def open_replay(path: str | Path, progress: Callable[[float], None] | None = None) -> Replay:
    """Read the log once: check its chain, note the decisions, keep checkpoints.

    A broken chain does not stop replay: the events before the break are
    replayed and `integrity` says where the log was tampered with. `progress`
    is called with the fraction read so far (a long log takes a while).
    """
    path = Path(path)
    launch = launch_from_log(path)
    rep = Replay(path, launch)
    size = max(1, os.path.getsize(path))
    state = LaunchState(launch, lean=True)
    rep._checkpoints.append(_Checkpoint(0, float("-inf"), 0, GENESIS, rep._freeze(state)))
    torn: list[bytes] = []
    rep._backfill = collect(path)  # empty, for one byte search, unless `warroom backfill` added points
    last: _Step | None = None
    latest = 0.0  # a live sample goes by its source time, so the last event folded need not be the latest
    since = 0
    rep.verdicts = state.signatures
    guard = guard_for(state, _recorded_config(path))  # signature verdicts reach the fold as data
    try:
        for step in _merged_from(path, 0, 0, GENESIS, 0, rep._backfill, on_torn=torn.append):
            ev = step.event
            if not ev.data.get("backfilled"):  # a log event, not a point slotted in from a backfill event
                guard.feed(ev)
            state.apply(ev)
            last = step
            latest = max(latest, ev.ts)
            if rep.start == 0.0:
                rep.start = ev.ts
            if ev.kind in MARK_KINDS:
                entry = state.timeline[-1] if state.timeline else None
                if entry is not None and entry.seq == ev.seq:
                    rep._marks.append((ev.ts, f"{entry.actor}: {entry.text}"))
            since += 1
            if since >= rep._every:
                rep._checkpoint(state, step)
                since = 0
                if progress is not None:
                    progress(min(1.0, step.offset / size))
    except LogCorrupt as e:
        rep.ok = False
        rep.problem = e.problem
        rep._backfill = rep._backfill[: last.points if last else 0]  # the report too stops at the break
    if last is not None:
        rep.events, rep.end = last.seq, latest
        cp = rep._checkpoints[-1]
        if (cp.seq, cp.points) != (last.seq, last.points):
            rep._checkpoint(state, last)
    rep.torn = len(torn[0]) if torn else 0
    rep.integrity = _integrity(rep)
    if progress is not None:
        progress(1.0)
    return rep


def _integrity(rep: Replay) -> str:
    if not rep.ok:
        where = str(rep.problem) if rep.problem else "chain broken"
        return f"TAMPERED at {where}; replaying the {rep.events:,} events before it"
    text = f"chain intact, {rep.events:,} events"
    if rep.torn:
        text += f"; a torn last line ({rep.torn} bytes) from an interrupted write is ignored"
    return text


__all__ = ["MARK_KINDS", "Replay", "actor_label", "open_replay"]
