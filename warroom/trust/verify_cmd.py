"""`warroom verify`'s part beyond the chain: signatures with their signers, the head against anchors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from warroom.config import ConfigError, load_launch
from warroom.core.text import clean
from warroom.trust.audit import audit, launch_of
from warroom.trust.guard import parse_head


def trust_check(path: Path, args: argparse.Namespace) -> tuple[bool, list[str]] | None:
    """Whether it all holds and the lines saying what was checked; None on a usage error (already said)."""
    expect = None
    if getattr(args, "expect_head", None):
        expect = parse_head(args.expect_head)
        if expect is None:
            sys.stderr.write(f"--expect-head {clean(args.expect_head)}: not SEQ:HASH (a number, ':', 64 hex digits)\n")
            return None
    config = None
    base = None
    if getattr(args, "config", None):
        try:
            config = load_launch(args.config)
        except ConfigError as e:
            sys.stderr.write(str(e) + "\n")
            return None
        base = Path(args.config).resolve().parent
    launch, recorded = launch_of(path, config)
    signers = Path(args.allowed_signers) if getattr(args, "allowed_signers", None) else None
    a = audit(path, launch, signers=signers, base=base or recorded, expect=expect)
    lines = [f"signed: {clean(line)}" for line in a.signatures]
    lines += [f"FAILED: {clean(line)}" for line in a.bad]
    lines += [clean(line) for line in a.anchors]
    if a.note and (a.signatures or a.bad):
        lines.append(f"note: {clean(a.note)}")
    lines.append(f"head: {a.head_text} (keep it elsewhere; check later with --expect-head)")
    return a.ok, lines
