"""`warroom verify LOG`: check the decision log's hash chain; exit 0 if intact, 1 if not."""

from __future__ import annotations

import argparse

from warroom.commands.args import add_log, log_file
from warroom.commands.common import EXIT_NOGO, EXIT_OK, EXIT_USAGE, out
from warroom.core.text import clean
from warroom.store.log import torn_path, verify


def configure(p: argparse.ArgumentParser) -> None:
    add_log(p)


def run(args: argparse.Namespace) -> int:
    path = log_file(args.log)
    if path is None:
        return EXIT_USAGE
    res = verify(path)
    torn = (
        f"; a torn last line ({res.torn} bytes) from an interrupted write is still at the end of the log "
        f"(not an event; the next write moves it to {torn_path(path)} and records that)"
        if res.torn
        else ""
    )
    if res.ok:
        out(f"OK: {res.count} events, chain intact{torn}")
        return EXIT_OK
    out(f"TAMPERED: {path}: {clean(res.problem)}; {res.count} events before it are intact{torn}")
    return EXIT_NOGO
