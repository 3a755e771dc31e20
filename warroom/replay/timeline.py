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

Opening at once (issue 16). `begin_replay` reads only the launch and the first
line; `Replay.index()`, run by the console in a worker thread, folds the log into
checkpoints and checks its chain in the same pass, publishing as it goes, so the
playhead can move inside what is indexed while the rest is read. On a long log the
chain is checked by a child process on the other core, fed the very bytes the pass
folds (store/chaincheck.py); the banner says "verifying…" until the child has passed
every line, and if it does not, the pass is made again checking each line as it
folds it, so a broken log ends up shown exactly as that sequential pass shows it. After a first
full pass the index is saved in the user's cache (sidecar.py); the next open of
the same bytes loads it and is ready at once, but still re-hashes the whole chain
in the background and checks every checkpoint's place in it before it says the
chain is intact; an index that disagrees is thrown away and rebuilt.

Replay only reads the log; it never opens it for writing.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from warroom.config import Criterion, Launch
from warroom.core.authority import SigVerdict
from warroom.core.backfilled import KIND as BACKFILL
from warroom.core.backfilled import fold_time, late
from warroom.core.events import GENESIS, MARK_KINDS, Event, event_of, parse_iso
from warroom.core.lanes import UNARMS, Lanes
from warroom.core.records import PlainSample, plain_sample
from warroom.core.state import LaunchState, actor_label, word
from warroom.replay import sidecar
from warroom.store.backfill_scan import collect
from warroom.store.chaincheck import ChainCheck, NotPlain, iter_unhashed
from warroom.store.launchlog import first_launch_event, launch_from_log
from warroom.store.log import (
    LogCorrupt,
    Parsed,
    VerifyProblem,
    iter_events_from,
    iter_lines,
    iter_parsed,
    verify_chunks,
)
from warroom.trust.guard import Guard, guard_for, signers_path

LANES = True  # runs of vouched plain samples folded as one batch (off: each through apply_sample; tests compare)
CONCURRENT_FROM = 16 << 20  # a log this long has its chain checked in a child process (below: not worth one)
CHECKPOINT_EVERY = 2000  # events between checkpoints to start with; doubles when MAX_CHECKPOINTS is reached
# At ~100 KB each: about 13 MB however long the log. Each costs a pickle in the index pass, and a jump folds at
# most the events between two (8000 on a 1,000,000-event log: about a tenth of a second).
MAX_CHECKPOINTS = 128


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
    gen: int = 0  # the index it was made from (Replay._gen)


@dataclass
class Replay:
    """A recorded launch opened for replay: log time range, integrity, decisions, and state at any moment.

    Opened at once (`begin_replay`); `index()` (blocking, run in a worker) then folds the log into
    checkpoints, or checks a saved index against the log's bytes. Until it is done, the playhead reaches only
    what is indexed (`end` grows as it goes, `state_at` beyond it is clamped and says so in `clamped`), and
    `integrity` says how far indexing and verifying are. The worker thread only appends checkpoints and
    publishes how far it got by rebinding single attributes, so the console thread reads without a lock.
    """

    path: Path
    launch: Launch
    start: float = 0.0
    end: float = 0.0  # the latest moment the playhead can reach: the log's end once indexed, the index's before
    integrity: str = ""
    ok: bool = True
    events: int = 0  # events indexed (all of them, or those before a broken link)
    torn: int = 0  # bytes of a torn last line, ignored
    problem: VerifyProblem | None = None
    indexed: bool = False  # the index reaches the end of the log (or the break in its chain)
    verified: bool = False  # this open has re-hashed the chain over the log's bytes
    progress: float = 0.0  # fraction of the log's bytes the background pass has read
    from_sidecar: bool = False  # the index was the one saved by an earlier open (sidecar.py)
    folded: int = 0  # events this open folded to build its index (0 when a saved index was used)
    clamped: bool = False  # the last state_at asked for a moment beyond the indexed part
    use_sidecar: bool = True
    _marks: list[tuple[float, str]] = field(default_factory=list)
    _checkpoints: list[_Checkpoint] = field(default_factory=list)
    _every: int = CHECKPOINT_EVERY
    _cursor: _Cursor | None = None
    _backfill: list[Event] = field(default_factory=list)  # backfilled points as samples, in source-time order
    verdicts: dict[str, SigVerdict] = field(default_factory=dict)  # signature verdicts, computed once on open
    _limit: tuple[int, int] = (0, 0)  # (seq, points) of the last step indexed: nothing beyond it is folded
    _head: str = GENESIS  # hash of the last event indexed
    _key: sidecar.Key | None = None
    _unchecked: int = -1  # the index (_gen) a pass is publishing from lines the concurrent check has not vouched for
    _suspect: bool = False  # a jump met a break in such lines: the pass is made again, sequentially
    _gen: int = 0  # bumped when the index is thrown away, so a cursor into the old one is dropped
    _stop: threading.Event = field(default_factory=threading.Event)
    _on_progress: Callable[[float], None] | None = None

    # ------------------------------------------------------------ public

    def marks(self) -> list[tuple[float, str]]:
        """(time, label) of every human decision indexed so far, in log order: the stops for step previous/next."""
        return list(self._marks)

    def state_at(self, t: float) -> LaunchState:
        """The fold of every event with ts <= t. The caller owns the result; replay keeps its own copy.

        While indexing, a moment beyond the indexed part gives the state at its end, and sets `clamped` (so
        does its end itself: more events of that moment may still be indexed)."""
        if not self.indexed:
            self.clamped = t >= self.end  # at the indexed end itself, more events of that moment may follow
            t = min(t, self.end)
        else:
            self.clamped = False
        gen, limit = self._gen, self._limit
        cur = self._cursor
        if cur is None or cur.gen != gen or t < cur.ts or self._checkpoint_before(t).seq > cur.seq:
            cp = self._checkpoint_before(t)
            cur = _Cursor(self._thaw(cp.state), cp.seq, cp.ts, cp.offset, cp.prev, cp.points, gen)
        self._fold_forward(cur, t, limit)
        self._cursor = cur
        out = self._thaw(self._freeze(cur.state))
        for c in self.launch.criteria:
            word(c, out.criteria[c.id])  # the lean fold's deferred reasons, so the state is complete as live's
        out.lean = False  # the caller's copy folds like any other
        return out

    def seq_at(self, t: float) -> int:
        """How many events had been logged by `t`: a cheap way to tell whether a jump changes anything."""
        return self.state_at(t).seq

    @property
    def ready(self) -> bool:
        """Indexed to the end and verified: nothing more will change."""
        return self.indexed and self.verified

    def index(self) -> None:
        """Build the index, or check the saved one against the log's bytes and rebuild it if they disagree.

        Blocking: the console runs it in a worker thread (`stop` ends it early); `open_replay` runs it inline.
        A log that cannot be read any more is said in `integrity`, never raised (a worker has no one to tell)."""
        try:
            self._index()
        except OSError as e:
            self.ok, self.indexed = False, True
            self.integrity = f"the log could not be read ({e}); showing the first {self.events:,} events"

    def _index(self) -> None:
        if self.from_sidecar and not self.verified:
            if self._check_saved() or self._stop.is_set():
                return
            sidecar.discard(self.path)
            self._reset()
            self.integrity = "the saved index did not match the log: rebuilding; indexing 0%… verifying…"
        if not self.indexed:
            self._build()

    def stop(self) -> None:
        """End a running `index()` soon (the console is closing)."""
        self._stop.set()

    # ------------------------------------------------------------ internals

    def _checkpoint_before(self, t: float) -> _Checkpoint:
        cps = self._checkpoints
        i = bisect.bisect_right(cps, t, key=lambda cp: cp.ts) - 1
        return cps[max(i, 0)]

    def _fold_forward(self, cur: _Cursor, t: float, limit: tuple[int, int]) -> None:
        top_seq, top_points = limit
        if cur.seq >= top_seq and cur.points >= top_points:
            return
        try:
            cur.state.signatures = self.verdicts  # a checkpoint holds those up to it; the fold needs them all
            for step in _merged_from(self.path, cur.offset, cur.seq, cur.prev, cur.points, self._backfill):
                ev = step.event
                if ev.ts > t or step.seq > top_seq or step.points > top_points:
                    break
                cur.state.apply(ev)
                cur.seq, cur.ts, cur.offset, cur.prev, cur.points = step.seq, ev.ts, step.offset, step.prev, step.points
                if cur.seq >= top_seq and cur.points >= top_points:
                    break
        except (LogCorrupt, OSError) as e:
            if isinstance(e, LogCorrupt) and (cur.gen == self._unchecked or cur.gen != self._gen):
                # a break in lines the concurrent check has not vouched for yet (or in an index it has just thrown
                # away): the index pass is made again the sequential way, which finds it and says where; until
                # then the playhead stops before it
                self._suspect = True
                return
            # the file was changed or removed under the replay: show what could be read, and say so
            self.stop()
            self.events = cur.seq
            self._limit = (cur.seq, cur.points)
            self.indexed = True
            self.ok = False
            self.integrity = f"the log changed while it was being replayed ({e}); showing the first {cur.seq:,} events"

    def _freeze(self, state: LaunchState) -> bytes:
        buf = io.BytesIO()
        _Pickler(buf, self.launch).dump(state)
        return buf.getvalue()

    def _thaw(self, blob: bytes) -> LaunchState:
        state: LaunchState = _Unpickler(io.BytesIO(blob), self.launch).load()
        return state

    def _checkpoint(self, state: LaunchState, seq: int, ts: float, offset: int, prev: str, points: int) -> None:
        self._checkpoints.append(_Checkpoint(seq, ts, offset, prev, self._freeze(state), points))
        if len(self._checkpoints) > MAX_CHECKPOINTS:
            self._checkpoints = self._checkpoints[:1] + self._checkpoints[2::2]
            self._every *= 2

    def _reset(self) -> None:
        """No index yet: only the state before the first event."""
        self._gen += 1
        self._cursor = None
        self.indexed = self.verified = self.from_sidecar = False
        self.ok, self.problem, self.torn, self.events, self.progress = True, None, 0, 0, 0.0
        self._every = CHECKPOINT_EVERY
        self._marks = []
        self._backfill = []
        self.verdicts = {}
        self._head = GENESIS
        self._limit = (0, 0)
        self.end = self.start
        empty = LaunchState(self.launch, lean=True)
        self._checkpoints = [_Checkpoint(0, float("-inf"), 0, GENESIS, self._freeze(empty))]

    def _publish(self, seq: int, points: int, prev: str, latest: float) -> None:
        """Let the playhead reach what is indexed so far (single rebinds: the console thread reads them)."""
        self._limit = (seq, points)
        self._head = prev
        self.events = seq
        self.end = latest

    def _say_progress(self, what: str, fraction: float) -> None:
        self.progress = fraction
        self.integrity = what.format(pct=min(99, int(fraction * 100)))
        if self._on_progress is not None:
            self._on_progress(fraction)

    def _build(self, with_points: bool = False, sequential: bool = False) -> None:
        """One pass over the log: check its chain, note the decisions, keep checkpoints, publish as it goes.

        Backfilled points are folded at their source time, so they must be known before the pass; the common
        log has none, and finding that out is left to the pass itself (no extra read of a long file): meeting
        one starts the pass again, points first (`with_points`).

        A long log's chain is checked by a child process on a second core while this thread folds the bytes it
        hands it (store/chaincheck.py), unhashed: nothing is verified, or saved, before the child agrees with the
        fold on every line, the count and the head. Anything else (a break, a line the unhashed read does not
        pass, a jump that met a break, no child) and the pass is made again the sequential way (`sequential`),
        which checks each line as it folds it: what a broken log shows is what that pass shows."""
        path = self.path
        size = max(1, os.path.getsize(path))
        what = (
            self.integrity.split("indexing ")[0] + "indexing {pct}%… verifying…"
            if "rebuilding" in self.integrity
            else "indexing {pct}%… verifying…"
        )
        self._say_progress(what, 0.0)
        self._every = _spacing(path, size)
        state = LaunchState(self.launch, lean=True)
        self.verdicts = state.signatures
        guard = guard_for(state, _recorded_config(path))  # signature verdicts reach the fold as data
        if with_points:
            self.integrity = "indexing: reading the backfilled points first… verifying…"
            self._backfill = collect(path)
        if self._backfill:
            self.start = min(self.start, self._backfill[0].ts)  # a point from before the first live event
        torn: list[bytes] = []
        check: ChainCheck | None = None
        if not sequential and not self._backfill and size >= CONCURRENT_FROM and _cores() >= 2:
            try:
                check = ChainCheck()
            except OSError:
                check = None  # no child to be had: this thread checks the chain itself
        try:
            if self._backfill:
                merged = _merged_from(path, 0, 0, GENESIS, 0, self._backfill, on_torn=torn.append)
                done = self._fold_merged(state, guard, merged, what, size)
            else:
                self._suspect = False
                self._unchecked = self._gen if check is not None else -1
                lines = (
                    iter_unhashed(path, check.feed, torn.append)
                    if check is not None
                    else iter_parsed(path, on_torn=torn.append)
                )
                done = self._fold_lines(state, guard, lines, what, size, with_points, check)
                torn_bytes = len(torn[0]) if torn else 0
                if (
                    check is not None
                    and not isinstance(done, _Why)
                    and check.result() != (done[0], done[3], torn_bytes)
                ):
                    done = _Why.DOUBT  # the child did not pass every line the fold read, or could not say
        finally:
            self._unchecked = -1
            if check is not None:
                check.close()
        if done is _Why.STOPPED:
            return
        if done is _Why.POINTS:
            self._reset()
            self._build(with_points=True)
            return
        if done is _Why.DOUBT:  # the concurrent check did not agree: fold again, checking each line as it is read
            self._reset()
            self._build(with_points, sequential=True)
            return
        assert not isinstance(done, _Why)
        seq, ts, offset, prev, points, latest = done
        self.folded = points + seq
        if seq or points:
            cp = self._checkpoints[-1]
            if (cp.seq, cp.points) != (seq, points):
                self._checkpoint(state, seq, ts, offset, prev, points)
            self._publish(seq, points, prev, latest)
        self.torn = len(torn[0]) if torn else 0
        self.indexed = self.verified = True
        self.progress = 1.0
        self.integrity = _integrity(self)
        if self._on_progress is not None:
            self._on_progress(1.0)
        if self.ok and self.use_sidecar and self._key is not None and (seq or points):
            sidecar.save(self._key, self._saved())

    def _fold_lines(
        self,
        state: LaunchState,
        guard: Guard,
        lines: Iterator[Parsed],
        what: str,
        size: int,
        with_points: bool,
        check: ChainCheck | None,
    ) -> _Done | _Why:
        """The common log's pass: a plain sample folded straight from its line (as the report folds it, runs of
        vouched ones as one batch: core.lanes), anything else as its Event. The lanes are flushed before a
        checkpoint or a publish, so each sees the exact state. Returns where it ended, or why it did not."""
        feed = guard.feed if guard.active else None
        note = guard.note
        apply, apply_sample, marks, stop = state.apply, state.apply_sample, self._marks, self._stop
        crits = state.criteria
        every = self._every
        latest = float("-inf")  # a live sample goes by its source time, so the last event folded need not be latest
        since = 0
        at = 0  # the seq of the last checkpoint
        end = seq = 0
        h = GENESIS
        ts = 0.0
        lanes = Lanes(state, note if feed is not None else None) if LANES else None
        try:
            for (end, seq, d, h, ts), p in lanes.gather(lines) if lanes is not None else _ungathered(lines):
                if lanes is not None and lanes.last > latest:  # the last sample gathered (they come in time order)
                    latest = lanes.last
                if p is not None:
                    if feed is not None:
                        note(seq, h)  # all the guard does with a sample
                    cid, value, t, tick = p
                    cs = crits.get(cid) if lanes is not None else None
                    if cs is None:
                        apply_sample(seq, h, ts, d, cid, value, t, tick)
                    else:
                        n = cs.samples
                        apply_sample(seq, h, ts, d, cid, value, t, tick)
                        if cs.samples != n:
                            lanes.arm(cid, ts, t, tick)  # type: ignore[union-attr]
                    if ts > latest:
                        latest = ts
                    if lanes is not None:
                        now = state.last_ts
                        lanes.last = now if now is not None else float("-inf")
                else:
                    ev = event_of(d, h, ts)
                    if not with_points and (ev.kind == BACKFILL or ("backfilled" in ev.data and late(ev))):
                        return _Why.POINTS
                    if feed is not None and not ev.data.get("backfilled"):
                        feed(ev)
                    apply(ev)
                    if ts > latest:
                        latest = ts
                    if ev.kind in MARK_KINDS:
                        entry = state.timeline[-1] if state.timeline else None
                        if entry is not None and entry.seq == seq:
                            marks.append((ts, f"{entry.actor}: {entry.text}"))
                    if lanes is not None:
                        now = state.last_ts
                        if ev.kind in UNARMS or now is None or now < lanes.last:
                            lanes.disarm()  # it may have moved what the lanes were vouched for
                        lanes.last = now if now is not None else float("-inf")
                since += 1
                if seq - at >= every:
                    if lanes is not None:
                        lanes.flush()
                    self._checkpoint(state, seq, ts, end, h, 0)
                    every = self._every
                    at = seq
                    self._publish(seq, 0, h, latest)
                    self._say_progress(what, end / size)
                    if stop.is_set():
                        return _Why.STOPPED
                    if check is not None and (self._suspect or check.stopped()):
                        return _Why.DOUBT
                elif since & 255 == 0:
                    if lanes is not None:
                        lanes.flush()  # the console may look at what is published
                    self._publish(seq, 0, h, latest)
        except LogCorrupt as e:
            self.ok = False
            self.problem = e.problem
        except NotPlain:
            return _Why.DOUBT
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            if check is None:
                raise
            return _Why.DOUBT  # an unchecked line no fold could take: the check will not pass it either
        if lanes is not None:
            held = lanes.held
            if held is not None:  # the last lines were gathered: the fold ends at the last of them
                end, seq, _d, h, ts = held
            if lanes.last > latest:
                latest = lanes.last
            lanes.disarm()
        return (seq, ts, end, h, 0, latest)

    def _fold_merged(
        self, state: LaunchState, guard: Guard, stream: Iterator[_Step], what: str, size: int
    ) -> _Done | _Why:
        """A log with backfilled points: the live events with the points slotted in at their source time."""
        feed = guard.feed if guard.active else None
        apply, marks, stop = state.apply, self._marks, self._stop
        every = self._every
        latest = float("-inf")
        since = 0
        step: _Step | None = None
        try:
            for step in stream:
                ev = step.event
                if feed is not None and not ev.data.get("backfilled"):  # a log event, not a point slotted in
                    feed(ev)
                apply(ev)
                if ev.ts > latest:
                    latest = ev.ts
                if ev.kind in MARK_KINDS:
                    entry = state.timeline[-1] if state.timeline else None
                    if entry is not None and entry.seq == ev.seq:
                        marks.append((ev.ts, f"{entry.actor}: {entry.text}"))
                since += 1
                if since >= every:
                    self._checkpoint(state, step.seq, ev.ts, step.offset, step.prev, step.points)
                    every = self._every
                    since = 0
                    self._publish(step.seq, step.points, step.prev, latest)
                    self._say_progress(what, step.offset / size)
                    if stop.is_set():
                        return _Why.STOPPED
                elif since & 255 == 0:
                    self._publish(step.seq, step.points, step.prev, latest)
        except LogCorrupt as e:
            self.ok = False
            self.problem = e.problem
            self._backfill = self._backfill[: step.points if step else 0]  # the report too stops at the break
        if step is None:
            return (0, 0.0, 0, GENESIS, 0, latest)
        return (step.seq, step.event.ts, step.offset, step.prev, step.points, latest)

    def _saved(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "events": self.events,
            "torn": self.torn,
            "every": self._every,
            "head": self._head,
            "limit": self._limit,
            "marks": self._marks,
            "checkpoints": [_astuple(cp) for cp in self._checkpoints],
            "backfill": self._backfill,
            "verdicts": self.verdicts,
        }

    def _restore(self, d: dict[str, Any]) -> bool:
        """Take a saved index (its key matched); False if it is not one this code wrote."""
        try:
            cps = [_Checkpoint(*row) for row in d["checkpoints"]]
            limit = (int(d["limit"][0]), int(d["limit"][1]))
            marks = [(float(t), str(label)) for t, label in d["marks"]]
            if not cps or cps[0].seq != 0 or not isinstance(d["verdicts"], dict):
                return False
            self._checkpoints, self._marks, self._limit = cps, marks, limit
            self.start, self.end = float(d["start"]), float(d["end"])
            self.events, self.torn, self._every = int(d["events"]), int(d["torn"]), int(d["every"])
            self._head = str(d["head"])
            self._backfill = list(d["backfill"])
            self.verdicts = d["verdicts"]
        except (KeyError, TypeError, ValueError, IndexError):
            return False
        self.indexed = self.from_sidecar = True
        self.integrity = "indexed (saved index); verifying 0%…"
        return True

    def _check_saved(self) -> bool:
        """Re-hash the whole chain and check every checkpoint's place in it: is the saved index these bytes'?"""
        size = max(1, os.path.getsize(self.path))
        stop = self._stop

        def chunks() -> Iterator[bytes]:
            done = 0
            with open(self.path, "rb") as f:
                while not stop.is_set():
                    chunk = f.read(_VERIFY_CHUNK)
                    if not chunk:
                        return
                    done += len(chunk)
                    self._say_progress("indexed (saved index); verifying {pct}%…", done / size)
                    yield chunk

        res = verify_chunks(chunks())
        if stop.is_set():
            return False
        if res.problem is not None or res.count != self.events or res.last_hash != self._head:
            return False
        if res.torn != self.torn or not self._places_hold():
            return False
        self.verified = True
        self.progress = 1.0
        self.integrity = _integrity(self)
        if self._on_progress is not None:
            self._on_progress(1.0)
        return True

    def _places_hold(self) -> bool:
        """Every checkpoint's offset ends the line of the event (seq, hash) it says it follows."""
        try:
            with open(self.path, "rb") as f:
                for cp in self._checkpoints[1:]:
                    if not _line_before(f, cp.offset, cp.seq, cp.prev):
                        return False
        except OSError:
            return False
        return True


_VERIFY_CHUNK = 1 << 20


def _ungathered(lines: Iterable[Parsed]) -> Iterator[tuple[Parsed, PlainSample | None]]:
    """Every line with its plain sample's parse, none gathered (LANES off)."""
    for item in lines:
        d = item[2]
        yield item, plain_sample(d["data"]) if d["kind"] == "sample" else None


def _cores() -> int:
    """CPUs this process may run on: on one, a child checking the chain would only take turns with the fold."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _spacing(path: Path, size: int) -> int:
    """Events between checkpoints from the start: CHECKPOINT_EVERY, doubled until the log's length, estimated from
    its first lines, fits in MAX_CHECKPOINTS (a checkpoint pickled only to be dropped is time lost)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    every = CHECKPOINT_EVERY
    lines = head.count(b"\n")
    if lines:
        while size * lines / len(head) > every * MAX_CHECKPOINTS:
            every *= 2
    return every


def _astuple(cp: _Checkpoint) -> tuple[int, float, int, str, bytes, int]:
    return (cp.seq, cp.ts, cp.offset, cp.prev, cp.state, cp.points)


def _line_before(f: BinaryIO, offset: int, seq: int, digest: str) -> bool:
    """Whether the line ending just before `offset` is the event `seq` with hash `digest`."""
    want = 1 << 12
    while True:
        start = max(0, offset - want)
        f.seek(start)
        data = f.read(offset - start)
        if len(data) != offset - start or not data.endswith(b"\n"):
            return False
        begin = data.rfind(b"\n", 0, len(data) - 1) + 1
        if begin == 0 and start > 0:
            want *= 8
            continue
        try:
            d = orjson.loads(data[begin:-1])
            return bool(d["seq"] == seq and d["hash"] == digest)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return False


class _Why(Enum):
    """Why an index pass ended before the end of the log."""

    STOPPED = "stopped"  # the console is closing
    POINTS = "points"  # it met a backfilled point: the pass starts again, points first
    DOUBT = "doubt"  # the concurrent chain check did not agree (or could not say): the pass is made sequentially


_Done = tuple[int, float, int, str, int, float]  # where a pass ended: seq, ts, offset, prev, points, latest time


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


def _config(i: int) -> object:
    """Names, in a checkpoint's pickle, config object `i` of the replayed launch (0 the Launch, 1.. its criteria).

    Never called: `_Unpickler.find_class` resolves the name to its own launch's lookup."""
    raise pickle.UnpicklingError(f"config reference {i} outside a replay's unpickler")


class _Pickler(pickle.Pickler):
    """Pickles a LaunchState without its Launch or the Launch's criteria (immutable, shared by every checkpoint).

    Those go by index through `dispatch_table`, looked up by type in C: a Python-level `persistent_id` was called
    for every object of every checkpoint (hundreds of thousands per index pass); this runs once per config
    object met."""

    def __init__(self, buf: io.BytesIO, launch: Launch):
        super().__init__(buf, protocol=pickle.HIGHEST_PROTOCOL)
        refs = {id(launch): 0}
        refs.update({id(c): i for i, c in enumerate(launch.criteria, 1)})
        self._keep = [launch, *launch.criteria]  # alive while pickling, so their ids stay theirs

        def by_index(obj: Any) -> Any:
            i = refs.get(id(obj))
            return (_config, (i,)) if i is not None else obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)

        self.dispatch_table = {type(launch): by_index, Criterion: by_index}


class _Unpickler(sidecar.SafeUnpickler):
    """Only the fold's own types (a saved index is read back through it too), config objects by index."""

    def __init__(self, buf: io.BytesIO, launch: Launch):
        super().__init__(buf)
        self._config = (launch, *launch.criteria)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == (__name__, "_config"):
            return self._config_of
        return super().find_class(module, name)

    def _config_of(self, i: object) -> object:
        if type(i) is int and 0 <= i < len(self._config):
            return self._config[i]
        raise pickle.UnpicklingError(f"unexpected config reference {i!r}")


def _recorded_config(path: Path) -> str | None:
    first = first_launch_event(path)
    return str(first.data["path"]) if first is not None and first.data.get("path") else None


def begin_replay(
    path: str | Path, progress: Callable[[float], None] | None = None, *, use_sidecar: bool = True
) -> Replay:
    """Open a log for replay at once: its launch and first moment, and the saved index if it matches the log.

    Nothing is folded here: `index()` does that (or checks the saved index), in a worker. `progress` is
    called from there with the fraction of the log read. `use_sidecar=False` neither reads nor writes a
    saved index (a PostgreSQL snapshot is a new temporary file each time).
    """
    path = Path(path)
    launch = launch_from_log(path)
    rep = Replay(path, launch, use_sidecar=use_sidecar, _on_progress=progress)
    rep.start = _first_ts(path)
    rep._reset()
    rep.integrity = "indexing 0%… verifying…"
    if use_sidecar:
        rep._key = sidecar.key_for(path, _fold_inputs(rep))
        saved = sidecar.load(rep._key)
        if saved is not None and not rep._restore(saved):
            rep._reset()
            rep.integrity = "indexing 0%… verifying…"
    return rep


def open_replay(
    path: str | Path, progress: Callable[[float], None] | None = None, *, use_sidecar: bool = True
) -> Replay:
    """Read the log once: check its chain, note the decisions, keep checkpoints (or check the saved ones).

    A broken chain does not stop replay: the events before the break are
    replayed and `integrity` says where the log was tampered with. `progress`
    is called with the fraction read so far (a long log takes a while).
    """
    rep = begin_replay(path, progress, use_sidecar=use_sidecar)
    rep.index()
    return rep


def _first_ts(path: Path) -> float:
    for _off, line, complete in iter_lines(path):
        if complete:
            try:
                return float(parse_iso(str(orjson.loads(line)["ts"])))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                return 0.0
        break
    return 0.0


def _fold_inputs(rep: Replay) -> str:
    """What besides the log's bytes the index depends on: checkpoint spacing, and the allowed_signers file
    that signature verdicts were checked against."""
    parts = [f"every={CHECKPOINT_EVERY}", f"max={MAX_CHECKPOINTS}"]
    if rep.launch.signatures != "off":
        config = _recorded_config(rep.path)
        signers = signers_path(rep.launch, Path(config).resolve().parent if config else None)
        try:
            digest = hashlib.sha256(signers.read_bytes()).hexdigest() if signers is not None else "none"
        except OSError:
            digest = "unreadable"
        parts.append(f"signers={signers}:{digest}")
    return ";".join(parts)


def _integrity(rep: Replay) -> str:
    if not rep.ok:
        where = str(rep.problem) if rep.problem else "chain broken"
        return f"TAMPERED at {where}; replaying the {rep.events:,} events before it"
    text = f"chain intact, {rep.events:,} events"
    if rep.torn:
        text += f"; a torn last line ({rep.torn} bytes) from an interrupted write is ignored"
    return text


__all__ = ["MARK_KINDS", "Replay", "actor_label", "begin_replay", "open_replay"]
