"""`warroom verify LOG`: check the decision log's hash chain, signatures and anchors in one read; exit 0 if it all
holds, 1 if not."""

from __future__ import annotations

import argparse

from warroom.commands.args import add_log, log_file
from warroom.commands.common import EXIT_NOGO, EXIT_OK, EXIT_USAGE, out
from warroom.core.text import clean
from warroom.store.log import torn_path, verify


def configure(p: argparse.ArgumentParser) -> None:
    add_log(p)
    p.add_argument("--expect-head", metavar="SEQ:HASH", help="fail if the log is behind or different (truncated)")
    p.add_argument("--config", metavar="FILE", help="check signatures against this config (default: the log's own)")
    p.add_argument("--allowed-signers", metavar="FILE", help="check signatures against this allowed_signers file")


def run(args: argparse.Namespace) -> int:
    path = log_file(args.log)
    if path is None:
        return EXIT_USAGE
    from warroom.trust.verify_cmd import TrustCheck  # signatures and head anchors (docs/trust.md)

    check = TrustCheck(path, args)  # fed by the chain check's pass: the log is read once
    res = verify(path, check.feed, read=check.reads, marks=check.marks)
    torn = (
        f"; a torn last line ({res.torn} bytes) from an interrupted write is still at the end of the log "
        f"(not an event; the next write moves it to {torn_path(path)} and records that)"
        if res.torn
        else ""
    )
    if not res.ok:
        out(f"TAMPERED: {path}: {clean(res.problem)}; {res.count} events before it are intact{torn}")
        return EXIT_NOGO
    checked = check.finish(res)
    if checked is None:
        return EXIT_USAGE
    trusted, lines = checked
    out(f"{'OK' if trusted else 'NOT TRUSTED'}: {res.count} events, chain intact{torn}")
    for line in lines:
        out(line)
    return EXIT_OK if trusted else EXIT_NOGO
