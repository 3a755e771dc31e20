"""What `warroom verify` and the report add to the hash chain: every signature with its signer, and the head
checked against the anchors (the one this user's consoles kept, one given with `--expect-head`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from warroom.config import ConfigError, Launch
from warroom.core import authority
from warroom.store.launchlog import first_launch_event, launch_from_event
from warroom.store.log import Feed, LogCorrupt
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
        return launch_from_event(ev, str(path)), recorded
    except (ConfigError, LogCorrupt, OSError):
        return None, None


class Auditor:
    """The audit of one log (every signature with its signer, the head against the anchors), fed by the chain
    check's own pass over it: each verified line to `feed` when signatures are checked, then `result` with
    where that pass read to and the hashes it read at the anchors' seqs (`marks`)."""

    def __init__(
        self,
        path: Path,
        launch: Launch | None,
        *,
        signers: Path | None = None,
        base: Path | None = None,
        expect: tuple[int, str] | None = None,
    ):
        anchors: dict[str, tuple[int, str]] = {}
        if (mine := heads.seen(path)) is not None:
            anchors[SEEN] = mine
        if expect is not None:
            anchors[EXPECTED] = expect
        self.note = ""
        if launch is None:
            self.note = "no launch config in the log: signatures not checked"
        elif launch.signatures == "off":
            self.note = "signatures: off in the config: signatures not checked"
        files = signers or (signers_path(launch, base) if launch is not None else None)
        if launch is not None and launch.signatures != "off" and files is None:
            self.note = "no allowed_signers file: signatures cannot be checked"
        self.guard = Guard(launch, {}, files, anchors)

    @property
    def feed(self) -> Feed | None:
        """What each line goes to; None when signatures are not checked: then only the head and the hashes at
        the anchors' seqs (`marks`) matter, and a pass need not hand over every line, only say those."""
        return self.guard.feed_line if self.guard.active else None

    @property
    def marks(self) -> frozenset[int]:
        return self.guard.anchor_seqs

    def result(self, head: tuple[int, str], marked: dict[int, str] | None = None) -> Audit:
        """The audit, once every line up to `head` (the last one read) was fed, or, with no feed, once the
        pass said where it read to and the hashes it read at `marks`."""
        g = self.guard
        if not g.active:
            marked = marked or {}
            for seq in sorted(marked):
                g.note(seq, marked[seq])
            g.note(*head)
        out = Audit(g.head, note=self.note)
        for ev, v in g.signed:
            what = f"seq {ev.seq} {authority.what(ev)}"
            if v.ok:
                out.signatures.append(f"{what}: good signature by {v.signer} ({v.detail})")
            else:
                out.bad.append(f"{what} by account {ev.actor.user}: BAD SIGNATURE: {v.detail}")
        out.anchors = g.problems()
        return out


__all__ = ["EXPECTED", "SEEN", "Audit", "Auditor", "launch_of"]
