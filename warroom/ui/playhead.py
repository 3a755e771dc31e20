"""Replay controls without Textual: where the playhead is and how it moves.

The console in replay mode asks the ReplaySource for the state at the
playhead and draws it with `now` = the playhead, exactly as live would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from warroom.core.state import LaunchState
from warroom.core.units import parse_moment

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


class ReplaySource(Protocol):
    """What replay needs from a recorded log (warroom.replay.timeline implements it)."""

    start: float
    end: float
    integrity: str

    def state_at(self, t: float) -> LaunchState: ...

    def marks(self) -> list[tuple[float, str]]: ...


@runtime_checkable
class Indexing(Protocol):
    """A ReplaySource that indexes the log in the background (warroom.replay.timeline.Replay does).

    Until `indexed`, `end` is how far the index reached, and `state_at` beyond it is clamped (`clamped`)."""

    start: float
    end: float
    integrity: str
    indexed: bool
    clamped: bool

    def index(self) -> None:
        """Index (and verify) to the end; blocking, run in a worker thread."""
        ...

    def stop(self) -> None: ...


@dataclass
class Playhead:
    start: float
    end: float
    t: float
    speed: float = 1.0
    playing: bool = False

    def advance(self, seconds: float) -> bool:
        """Move on by `seconds` of wall time; stops at the end. Returns whether the playhead moved."""
        if not self.playing:
            return False
        before = self.t
        self.t = min(self.end, self.t + seconds * self.speed)
        if self.t >= self.end:
            self.playing = False
        return self.t != before

    def toggle(self) -> None:
        if not self.playing and self.t >= self.end:
            self.t = self.start
        self.playing = not self.playing

    def faster(self, factor: float) -> None:
        i = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - self.speed))
        i = min(len(SPEEDS) - 1, i + 1) if factor > 1 else max(0, i - 1)
        self.speed = SPEEDS[i]

    def seek(self, t: float) -> None:
        self.t = max(self.start, min(self.end, t))

    def step(self, marks: list[tuple[float, str]], direction: int) -> tuple[float, str] | None:
        """Jump to the next (1) or previous (-1) mark; returns it, or None if there is none."""
        eps = 1e-6
        if direction > 0:
            nxt = [m for m in marks if m[0] > self.t + eps]
            target = min(nxt, default=None, key=lambda m: m[0])
        else:
            prv = [m for m in marks if m[0] < self.t - eps]
            target = max(prv, default=None, key=lambda m: m[0])
        if target is not None:
            self.seek(target[0])
        return target


def parse_moment_text(text: str, t0: float) -> float:
    """'T+00:37', 'T+00:37:12', 'T-5m', 'T+1h30m', 'T0' -> epoch seconds; ValueError with a hint otherwise.

    The grammar is core.units.parse_moment's; this adds T-0 and the hint a jump dialog shows.
    """
    try:
        return t0 + parse_moment(text)
    except ValueError:
        raise ValueError(f"cannot read {text!r}; write e.g. T+00:37, T+00:37:12, T-5m or T+1h30m") from None
