"""What `warroom verify` and the report add to the hash chain: every signature with its signer, and the head
checked against the anchors (the one this user's consoles kept, one given with `--expect-head`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from warroom.config import ConfigError, Launch
from warroom.core import authority
from warroom.core.authority import SigVerdict
from warroom.store.launchlog import first_launch_event, launch_from_log
from warroom.store.log import LogCorrupt, iter_parsed
from warroom.trust import heads
from warroom.trust.guard import Guard, signers_path

SEEN = "this user's consoles saw"
EXPECTED = "the expected head is"


@dataclass
class Audit:
    head: tuple[int, str]
    signatures: list[str] = field(default_factory=list)  # one line per signed event
    bad: list[str] = field(default_factory=list)  # signatures that fail, naming the event
    anchors: list[str] = field(default_factory=list)  # truncated / rewritten, in words
    note: str = ""  # why signatures were not checked, if they were not

    @property
    def ok(self) -> bool:
        return not self.bad and not self.anchors

    @property
    def head_text(self) -> str:
        return f"{self.head[0]}:{self.head[1]}"


def launch_of(path: Path, config: Launch | None) -> tuple[Launch | None, Path | None]:
    """The launch to check against (the given config, else the log's own), and the directory paths are relative to."""
    try:
        ev = first_launch_event(path)
    except (LogCorrupt, OSError):
        return config, None  # the chain check (or the reader) says what is wrong with it
    recorded = Path(str(ev.data.get("path", ""))).parent if ev is not None and ev.data.get("path") else None
    if config is not None:
        return config, recorded
    try:
        return launch_from_log(path), recorded
    except (ConfigError, LogCorrupt, OSError):
        return None, None


def audit(
    path: Path,
    launch: Launch | None,
    *,
    signers: Path | None = None,
    base: Path | None = None,
    expect: tuple[int, str] | None = None,
) -> Audit:
    """Check every signature and the anchors over the whole log (whose chain the caller verified)."""
    anchors: dict[str, tuple[int, str]] = {}
    if (mine := heads.seen(path)) is not None:
        anchors[SEEN] = mine
    if expect is not None:
        anchors[EXPECTED] = expect
    verdicts: dict[str, SigVerdict] = {}
    note = ""
    if launch is None:
        note = "no launch config in the log: signatures not checked"
    elif launch.signatures == "off":
        note = "signatures: off in the config: signatures not checked"
    files = signers or (signers_path(launch, base) if launch is not None else None)
    if launch is not None and launch.signatures != "off" and files is None:
        note = "no allowed_signers file: signatures cannot be checked"
    g = Guard(launch, verdicts, files, anchors)
    try:
        for _end, seq, d, h, ts in iter_parsed(path):
            g.feed_line(seq, d, h, ts)
    except LogCorrupt:
        pass  # the chain check reports it
    out = Audit(g.head, note=note)
    for ev, v in g.signed:
        what = f"seq {ev.seq} {authority.what(ev)}"
        if v.ok:
            out.signatures.append(f"{what}: good signature by {v.signer} ({v.detail})")
        else:
            out.bad.append(f"{what} by account {ev.actor.user}: BAD SIGNATURE: {v.detail}")
    out.anchors = g.problems()
    return out


__all__ = ["EXPECTED", "SEEN", "Audit", "audit", "launch_of"]
