"""`warroom verify`'s part beyond the chain: signatures with their signers, the head against anchors.

It is made ready before the chain check and fed by the chain check's own pass over the log (one read of a
week-long log, not two), yet says and raises nothing until the chain is known to be intact: a tampered log is
reported as tampered whatever the options, exactly as when the trust check ran as a second read after it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from warroom.config import ConfigError, load_launch
from warroom.core.text import clean
from warroom.store.log import Feed, VerifyResult
from warroom.trust.audit import Auditor, launch_of
from warroom.trust.guard import parse_head


class TrustCheck:
    """The options read, the launch found and the auditor built for one log, before its chain check."""

    def __init__(self, path: Path, args: argparse.Namespace):
        self.usage: str | None = None  # a usage error, said once the chain is intact (then the exit is 2)
        self.error: Exception | None = None  # raised then, as the separate check raised it
        self.auditor: Auditor | None = None
        try:
            self._prepare(path, args)
        except Exception as e:  # kept, not lost: `finish` raises it where the separate check did
            self.error = e

    def _prepare(self, path: Path, args: argparse.Namespace) -> None:
        expect = None
        if getattr(args, "expect_head", None):
            expect = parse_head(args.expect_head)
            if expect is None:
                self.usage = f"--expect-head {clean(args.expect_head)}: not SEQ:HASH (a number, ':', 64 hex digits)"
                return
        config = None
        base = None
        if getattr(args, "config", None):
            try:
                config = load_launch(args.config)
            except ConfigError as e:
                self.usage = str(e)
                return
            base = Path(args.config).resolve().parent
        launch, recorded = launch_of(path, config)
        signers = Path(args.allowed_signers) if getattr(args, "allowed_signers", None) else None
        self.auditor = Auditor(path, launch, signers=signers, base=base or recorded, expect=expect)

    @property
    def reads(self) -> bool:
        """Whether the chain check's pass should read the events for it (`verify(..., read=True)`)."""
        return self.auditor is not None

    @property
    def feed(self) -> Feed | None:
        return self.auditor.feed if self.auditor is not None else None

    @property
    def marks(self) -> frozenset[int]:
        return self.auditor.marks if self.auditor is not None else frozenset()

    def finish(self, res: VerifyResult) -> tuple[bool, list[str]] | None:
        """Once the chain is intact: whether it all holds and the lines saying what was checked; None on a usage
        error (said here)."""
        if self.usage is not None:
            sys.stderr.write(self.usage + "\n")
            return None
        if self.error is not None:
            raise self.error
        if res.read_error is not None:
            raise res.read_error
        assert self.auditor is not None
        a = self.auditor.result(res.read, res.marked)
        lines = [f"signed: {clean(line)}" for line in a.signatures]
        lines += [f"FAILED: {clean(line)}" for line in a.bad]
        lines += [clean(line) for line in a.anchors]
        if a.note and (a.signatures or a.bad):
            lines.append(f"note: {clean(a.note)}")
        lines.append(f"head: {a.head_text} (keep it elsewhere; check later with --expect-head)")
        return a.ok, lines
