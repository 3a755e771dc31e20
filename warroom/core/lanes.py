"""Runs of vouched plain samples, gathered per criterion and folded as one batch: the lane pass the report and
replay's index share.

Why: most plain samples of a long log change nothing but their criterion's last value. After one is folded the
full way (apply_sample) and taken, `LaunchState.vouch` gives bounds within which the next ones of that
criterion would each fold as the steady sample they are; those are only gathered (`Lanes.gather`), and folded
as a run (`LaunchState.steady_run`, and what the caller adds in `run`) before anything else can look: before
any other line, or the next sample of that criterion that falls outside. Whatever reads the state between
lines (a checkpoint, a publish) calls `flush` first.

The caller folds what `gather` yields (every line it did not gather, with its plain sample's parse if it is
one), arms a criterion's lane after a plain sample it took (`arm`), disarms them all after a line that may move
what they were vouched for (`disarm`: see UNARMS) and keeps `last`, the event time of the last line folded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

from warroom.core.records import Parsed, PlainSample, plain_sample
from warroom.core.state import LaunchState, Vouched

UNARMS = frozenset({"sample", "backfill", "trigger_mode", "launch"})  # kinds whose fold may touch a criterion


class Lane:
    """One criterion's armed bounds (from `Vouched`) and the samples gathered inside them since the last run."""

    __slots__ = ("cid", "hi", "lo", "rank", "t_hi", "t_lo", "tick", "tick_hi", "ts", "ts_hi", "vs")

    def __init__(self, cid: str) -> None:
        self.cid = cid
        self.vs: list[float] = []
        self.ts: list[float] = []
        self.rank = self.tick = self.tick_hi = 0
        self.ts_hi = self.t_lo = self.t_hi = self.lo = self.hi = 0.0


class Lanes:
    """The lanes of one fold. Subclasses add their own bounds (`bound`) and what a run adds to them (`run`)."""

    def __init__(self, state: LaunchState, note: Callable[[int, str], None] | None = None) -> None:
        self.state = state
        self.note = note  # told each gathered sample's (seq, hash), if the caller wants every one
        self.armed: dict[str, Lane] = {}
        self.made: dict[str, Lane] = {}  # every lane made, armed or not
        self.last = -math.inf  # the event time of the last line folded (the caller's to keep after what it folds)
        self.held: Parsed | None = None  # the last line gathered since the fold's head last moved

    def make(self, cid: str) -> Lane:
        return Lane(cid)

    def bound(self, ln: Lane, t: float, t_hi: float) -> float:
        """The source time below which the lane's samples may be gathered: the vouched one, unless the caller's
        own regions end sooner."""
        return t_hi

    def run(self, ln: Lane) -> None:
        """What the caller adds for a run of the lane's samples (the state's part is done)."""

    def moved(self, seq: int, h: str, ts: float) -> None:
        """The head after gathered samples (the last one's): the fold's; a caller adds its own."""
        self.state.moved(seq, h, ts)

    def gather(self, lines: Iterable[Parsed]) -> Iterator[tuple[Parsed, PlainSample | None]]:
        """Every line not gathered into a lane, with its plain sample's parse (or None): by the time it comes,
        the head has moved past what was gathered, and every lane's samples are folded (a plain sample's own
        criterion's alone, unless time went back; its lane is disarmed), so the state is that of the lines
        before it."""
        armed, note = self.armed, self.note
        for item in lines:
            d = item[2]
            p = plain_sample(d["data"]) if d["kind"] == "sample" else None
            if p is not None:
                cid, value, t, tick = p
                ts = item[4]
                ln = armed.get(cid)
                if (
                    ln is not None
                    and self.last <= ts <= ln.ts_hi
                    and ln.tick < tick <= ln.tick_hi
                    and ln.t_lo <= t < ln.t_hi
                    and ln.lo <= value <= ln.hi
                ):
                    ln.vs.append(value)
                    ln.ts.append(t)
                    ln.tick = tick
                    self.last = ts
                    self.held = item
                    if note is not None:
                        note(item[1], item[3])
                    continue
                self._head()
                if ts < self.last:  # time goes back: what the lanes vouched for assumed it would not
                    self.flush()
                    armed.clear()
                elif ln is not None:
                    self._run(armed.pop(cid))
            else:
                self._head()
                self.flush()  # folded before anything reads the criteria; armed still (the caller may disarm)
            yield item, p

    def _head(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            self.moved(held[1], held[3], held[4])

    def flush(self) -> None:
        """Fold every lane's gathered samples and move the head past them: the state is exact again."""
        self._head()
        for ln in self.armed.values():
            self._run(ln)

    def disarm(self) -> None:
        """Folded, and armed no more: a line may have moved what the lanes were vouched for."""
        self.flush()
        self.armed.clear()

    def _run(self, ln: Lane) -> None:
        vs = ln.vs
        if not vs:
            return
        self.state.steady_run(ln.cid, vs, ln.ts, ln.tick)
        self.run(ln)
        ln.vs, ln.ts = [], []

    def arm(self, cid: str, ts: float, t: float, tick: int) -> tuple[Lane, Vouched] | None:
        """After a plain sample of `cid` folded the full way and taken: arm its lane if the fold vouches."""
        vouched = self.state.vouch(cid, ts, t, tick)
        if vouched is None:
            return None
        ln = self.made.get(cid)
        if ln is None:
            ln = self.made[cid] = self.make(cid)
        t_hi = self.bound(ln, t, vouched.t_hi)
        ln.rank = vouched.rank
        ln.ts_hi, ln.tick, ln.tick_hi = vouched.ts_hi, tick, vouched.tick_hi
        ln.t_lo, ln.t_hi, ln.lo, ln.hi = t, t_hi, vouched.lo, vouched.hi
        self.armed[cid] = ln
        return ln, vouched


__all__ = ["UNARMS", "Lane", "Lanes"]
