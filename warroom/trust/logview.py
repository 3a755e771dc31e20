"""`warroom log`'s view of authority: each event as the fold takes it (refused and why, claimed actors marked)."""

from __future__ import annotations

from pathlib import Path

from warroom.core import authority
from warroom.core.authority import SigVerdict
from warroom.core.events import Event
from warroom.trust.audit import launch_of
from warroom.trust.guard import Guard, signers_path


class LogTrust:
    """Fed every event in order; says for each whether the fold refuses it, against the log's own config."""

    def __init__(self, path: Path):
        self.launch, base = launch_of(path, None)
        self.verdicts: dict[str, SigVerdict] = {}
        signers = signers_path(self.launch, base) if self.launch is not None else None
        self.guard = Guard(self.launch, self.verdicts, signers)

    def look(self, ev: Event) -> tuple[Event, str]:
        """The event with its actor marked as the fold marks it, and a flag if the fold refuses it."""
        self.guard.feed(ev)
        if self.launch is None:
            return ev, ""
        why = authority.refusal(self.launch, ev, self.verdicts.get(ev.hash))
        if why is not None:
            return ev, f"  [REFUSED by the fold: {why}]"
        return authority.as_seen(self.launch, ev), ""


__all__ = ["LogTrust"]
