"""What one repaint is made of: the verdict of `view(state, now)`, the state, and the console's own facts.

Panels receive a `Frame` and nothing else, so live, observer and replay
consoles draw through exactly the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

from warroom.config import Launch
from warroom.core.state import LaunchState, Verdict


@dataclass(frozen=True)
class ConsoleInfo:
    mode: str  # "live", "observer" or "replay"
    actor: str  # who this console acts as
    roles: tuple[str, ...]  # titles of the actor's roles
    recorder: str = ""  # "recording", "following", or why there is no recorder
    log_path: str = ""
    note: str = ""  # why this console is an observer, replay integrity, ...
    dry_run: bool = False


@dataclass(frozen=True)
class Position:
    """Where a replay's playhead is (a replay frame has one; a live frame has none)."""

    t: float
    start: float
    end: float
    speed: float
    playing: bool


@dataclass(frozen=True)
class Frame:
    verdict: Verdict
    state: LaunchState
    info: ConsoleInfo
    position: Position | None = None

    @property
    def launch(self) -> Launch:
        return self.state.launch

    @property
    def now(self) -> float:
        return self.verdict.now

    @property
    def t0(self) -> float:
        return self.state.launch.t0


def short_actor(label: str) -> str:
    """'Dana (CTO) (dana@bastion)' -> 'Dana (CTO)'; 'dana@bastion' stays; a claimed name 'dana [claimed] (...)'
    -> 'dana*' (narrow columns; the header and the report spell the claim out)."""
    if label.endswith(")") and " (" in label:
        head, _sep, tail = label.rpartition(" (")
        if "@" in tail:
            return head[: -len(" [claimed]")] + "*" if head.endswith(" [claimed]") else head
    return label
