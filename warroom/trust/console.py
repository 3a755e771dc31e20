"""The live console's part of trust, kept out of the App: verdicts for what it folds, its anchor, signing.

`ConsoleTrust` is fed every event before the console folds it (signature verdicts go into the state),
keeps the highest head seen in the user's state directory, and says once the initial read is done if
the log is now behind or different from what this user's consoles saw before. `sign_event` runs in a
worker thread (subprocesses with timeouts), never on the UI thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from warroom.config import Launch
from warroom.core.authority import ANCHOR_KEY, SIG_KEY
from warroom.core.events import GENESIS, Actor, Event
from warroom.core.state import LaunchState
from warroom.trust import heads, signing
from warroom.trust.audit import SEEN
from warroom.trust.guard import Guard, signers_path


class ConsoleTrust:
    def __init__(self, launch: Launch, state: LaunchState, log_path: Path | str, config_path: str = ""):
        self.log_path = log_path
        base = Path(config_path).resolve().parent if config_path else None
        self.signers = signers_path(launch, base)
        before = heads.seen(log_path)
        self.guard = Guard(launch, state.signatures, self.signers, {SEEN: before} if before else None)
        self._kept = before[0] if before else 0

    def feed(self, events: list[Event]) -> None:
        for ev in events:
            self.guard.feed(ev)

    def problem(self) -> str | None:
        """After the initial read: truncated or rewritten against this user's earlier view, in words."""
        found = self.guard.problems()
        return "; ".join(found) if found else None

    def remember(self) -> None:
        seq, digest = self.guard.head
        if seq > self._kept:
            heads.remember(self.log_path, seq, digest)
            self._kept = seq


def sign_event(
    launch: Launch, actor: Actor, kind: str, data: dict[str, Any], head: tuple[int, str], signers: Path | None
) -> dict[str, Any]:
    """The event data with its anchor and signature (SigningError says why not); run it in a worker thread."""
    if signers is None:
        raise signing.SigningError("the config names no allowed_signers file, so nothing can be signed")
    seq, digest = head
    out = dict(data)
    out[ANCHOR_KEY] = f"{seq}:{digest or GENESIS}"
    out[SIG_KEY] = signing.sign(launch.id, kind, actor.user, out, signers, env=dict(os.environ))
    return out


__all__ = ["ConsoleTrust", "sign_event"]
