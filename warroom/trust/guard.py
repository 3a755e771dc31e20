"""Checks that need I/O, done once as events are read, handed to the pure fold as data.

`Guard` wraps any stream of events on its way into a `LaunchState`: for each signed sign-off or decision
it runs `ssh-keygen -Y verify` and stores the verdict in `state.signatures` (by event hash) before the
fold sees the event; the fold (core/authority.py) then decides with that verdict. Why not verify inside
the fold: the fold must stay pure (replay, report and console fold the same events to the same state,
tests fold without subprocesses), and one event is verified once, however often it is folded.

A signature's `sig_anchor` ("SEQ:HASH", the head when it was signed) must name an event of this log
within the last `WINDOW` events before it, and each signature counts once: copied into another log, or
replayed later in the same one, it fails. The guard keeps only the hashes of that window.

It also checks an anchor for truncation: the (seq, hash) a console saw before (`heads.py`) or one given
(`verify --expect-head`). A log that ends before it, or has another event at that seq, is reported.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from warroom.config import Launch
from warroom.core.authority import ANCHOR_KEY, SIG_KEY, SIGNED, SigVerdict
from warroom.core.events import GENESIS, Event, event_of
from warroom.core.state import LaunchState
from warroom.trust import signing

WINDOW = 5000  # a signature is recorded within this many events of the head it was signed against


def signers_path(launch: Launch, base: Path | None = None) -> Path | None:
    """The config's allowed_signers file; a relative path is relative to the config's directory (`base`)."""
    if not launch.allowed_signers:
        return None
    p = Path(os.path.expanduser(launch.allowed_signers))
    return p if p.is_absolute() or base is None else base / p


def parse_head(text: str) -> tuple[int, str] | None:
    """ "SEQ:HASH" as (seq, hash), or None if it is not that."""
    seq, _, h = text.strip().partition(":")
    if not seq.isdigit() or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        return None
    return int(seq), h


def head_problem(anchor: tuple[int, str], head: tuple[int, str], seen_hash: str | None, what: str) -> str | None:
    """Truncated or rewritten, in words, comparing `anchor` with the log's `head` and its hash at the anchor's seq."""
    seq, h = anchor
    if head[0] < seq:
        return (
            f"TRUNCATED: {what} seq {seq} ({h[:12]}…), but the log ends at seq {head[0]}: "
            f"{seq - head[0]} event{'s' if seq - head[0] != 1 else ''} missing from its end"
        )
    if seen_hash is not None and seen_hash != h:
        return f"REWRITTEN: {what} seq {seq} as {h[:12]}…, but the log has {seen_hash[:12]}… there"
    return None


class Guard:
    """Feeds signature verdicts into `verdicts` and checks one head anchor, as events stream past."""

    def __init__(
        self,
        launch: Launch | None,
        verdicts: dict[str, SigVerdict],
        signers: Path | None,
        anchors: dict[str, tuple[int, str]] | None = None,
    ):
        self.launch = launch
        self.verdicts = verdicts
        self.signers = signers
        self.anchors = dict(anchors or {})  # what it is ("this console saw", "expected") -> (seq, hash)
        self._at = {a[0] for a in self.anchors.values()}
        self.anchor_hashes: dict[int, str] = {}  # the log's hash at each anchor's seq, once passed
        self.head: tuple[int, str] = (0, GENESIS)
        self.signed: list[tuple[Event, SigVerdict]] = []  # every signed event met, with its verdict
        self._recent: OrderedDict[int, str] = OrderedDict({0: GENESIS})
        self._used: dict[str, int] = {}
        self.active = launch is not None and launch.signatures != "off"

    def __call__(self, events: Iterable[Event]) -> Iterator[Event]:
        for ev in events:
            self.feed(ev)
            yield ev

    def feed(self, ev: Event) -> None:
        if self.active and ev.kind in SIGNED and SIG_KEY in ev.data:
            v = self.check(ev)
            self.verdicts[ev.hash] = v
            self.signed.append((ev, v))
        self.note(ev.seq, ev.hash)

    def feed_line(self, seq: int, d: dict[str, Any], h: str, ts: float) -> None:
        """`feed` for a verified line straight from store.log.iter_parsed: the Event is made only for a kind `feed`
        checks (a long log is nearly all samples, which only move the head). A kind that is not a string (a list,
        say, in a hand-made line whose hash was made to match) is no kind that is signed: noted, not a crash."""
        kind = d["kind"]
        if self.active and isinstance(kind, str) and kind in SIGNED:
            self.feed(event_of(d, h, ts))
        else:
            self.note(seq, h)

    @property
    def anchor_seqs(self) -> frozenset[int]:
        """The seqs whose hashes the anchors are checked against."""
        return frozenset(self._at)

    @property
    def quiet(self) -> bool:
        """Whether `note` only moves the head (no signatures to window, no anchor to pass): then a run of plain
        samples can be noted by its last one alone."""
        return not self.active and not self._at

    def note(self, seq: int, h: str) -> None:
        """What every event adds, signed or not (a plain sample is given as its seq and hash alone): the window
        of recent hashes anchors are checked against, an anchor's hash, the head."""
        if self.active:
            recent = self._recent
            recent[seq] = h
            while len(recent) > WINDOW:
                recent.popitem(last=False)
        if seq in self._at:
            self.anchor_hashes[seq] = h
        self.head = (seq, h)

    def check(self, ev: Event) -> SigVerdict:
        sig = ev.data.get(SIG_KEY)
        at = parse_head(str(ev.data.get(ANCHOR_KEY, "")))
        if at is None:
            return SigVerdict(False, "", f"no usable {ANCHOR_KEY} (SEQ:HASH of the head it was signed against)")
        seq, h = at
        if seq >= ev.seq:
            return SigVerdict(False, "", f"its anchor seq {seq} is not before the event (seq {ev.seq})")
        known = self._recent.get(seq)
        if known is None:
            return SigVerdict(False, "", f"its anchor seq {seq} is not among the {WINDOW} events before it")
        if known != h:
            return SigVerdict(
                False, "", f"its anchor (seq {seq}) is not this log's event there: signed for another log or launch"
            )
        if isinstance(sig, str) and sig in self._used:
            return SigVerdict(False, "", f"the same signature already counted for seq {self._used[sig]}: a replay")
        if self.signers is None:
            return SigVerdict(False, "", "no allowed_signers file to check it against")
        if self.launch is None:
            return SigVerdict(False, "", "no launch to check it against")
        v = signing.verify(self.launch.id, ev.kind, ev.actor.user, ev.data, self.signers)
        if v.ok and isinstance(sig, str):
            self._used[sig] = ev.seq
        return v

    def problems(self) -> list[str]:
        """Truncated or rewritten against each anchor, once the whole log went past; [] if they hold."""
        out = []
        for what, anchor in self.anchors.items():
            why = head_problem(anchor, self.head, self.anchor_hashes.get(anchor[0]), what)
            if why is not None:
                out.append(why)
        return out


def guard_for(state: LaunchState, config_path: str | os.PathLike[str] | None = None) -> Guard:
    """A guard feeding `state`'s signature verdicts, with allowed_signers relative to the config's directory."""
    base = Path(config_path).resolve().parent if config_path else None
    return Guard(state.launch, state.signatures, signers_path(state.launch, base))


__all__ = ["WINDOW", "Guard", "guard_for", "head_problem", "parse_head", "signers_path"]
