"""`warroom log LOG [--json] [--kind K]`: the decision log as a readable timeline (or JSON lines)."""

from __future__ import annotations

import argparse
import math
import sys

from warroom.commands.args import add_log, log_file
from warroom.commands.common import EXIT_NOGO, EXIT_OK, EXIT_USAGE, err, out
from warroom.core.bounds import ts_problem
from warroom.core.state import actor_label
from warroom.core.text import clean, json_bytes
from warroom.core.units import format_t_relative
from warroom.store.log import LogCorrupt, event_to_json, iter_events


def configure(p: argparse.ArgumentParser) -> None:
    add_log(p, "decision log (a file or postgresql://USER@HOST:PORT/DB#LAUNCH_ID), or 'copy' (then SRC DST)")
    p.add_argument("rest", nargs="*", metavar="SRC DST", help="with 'copy': copy the log SRC to the new log DST")
    p.add_argument("--json", action="store_true", help="one JSON event per line")
    p.add_argument("--kind", action="append", help="only these event kinds (repeatable)")


def run(args: argparse.Namespace) -> int:
    from warroom.core.describe import describe

    if args.log == "copy":
        return _copy(args.rest)
    if args.rest:
        err(f"unexpected arguments: {' '.join(args.rest)} (did you mean 'warroom log copy SRC DST'?)")
        return EXIT_USAGE
    path = log_file(args.log)
    if path is None:
        return EXIT_USAGE
    t0: float | None = None
    first_ts: float | None = None
    bad_t0 = False
    torn: list[bytes] = []
    from warroom.trust.logview import LogTrust  # refused events and claimed actors, as the fold sees them

    trust = LogTrust(path)
    try:
        for ev in iter_events(path, on_torn=torn.append):
            ev, refused = trust.look(ev)
            if ev.kind == "launch" and t0 is None and not bad_t0:
                t0 = _launch_t0(ev.data.get("t0"))
                if t0 is None and ev.data.get("t0") is not None:
                    bad_t0 = True
                    err(
                        f"{path}: the launch event (seq {ev.seq}) has no usable t0 "
                        f"({type(ev.data.get('t0')).__name__}, not a number); times are shown without T-offsets"
                    )
            if args.kind and ev.kind not in args.kind:
                continue
            if args.json:
                sys.stdout.buffer.write(json_bytes(event_to_json(ev)) + b"\n")
                continue
            rel = f" {format_t_relative(ev.ts - t0)}" if t0 else ""
            doubt = ts_problem(ev.ts, first_ts)
            first_ts = ev.ts if first_ts is None and doubt is None else first_ts
            flag = (f"  [not applied by the fold: {doubt}]" if doubt else "") + clean(refused)
            who, kind = clean(actor_label(ev.actor)), clean(ev.kind)
            out(f"{ev.seq:>6} {ev.ts_iso}{rel}  {who:<24} {kind:<12} {describe(ev)}{flag}")
    except LogCorrupt as e:
        err(f"{path}: chain broken at {clean(e)}; events after it are not shown (run 'warroom verify')")
        return EXIT_NOGO
    if torn:
        err(
            f"{path}: a torn last line ({len(torn[0])} bytes) from an interrupted write is at the end of the log "
            "and not shown (the next write moves it aside and records that)"
        )
    return EXIT_OK


def _copy(rest: list[str]) -> int:
    """`warroom log copy SRC DST`: a file into PostgreSQL or back, the same bytes, verified on both sides."""
    from warroom.store.copy import CopyRefused, copy_log
    from warroom.store.pg import PgSpecError, StoreUnavailable

    if len(rest) != 2:
        err("usage: warroom log copy SRC DST (a file and postgresql://USER@HOST:PORT/DB#LAUNCH, either way)")
        return EXIT_USAGE
    try:
        done = copy_log(rest[0], rest[1])
    except (CopyRefused, PgSpecError, StoreUnavailable, FileNotFoundError) as e:
        err(f"not copied: {clean(e)}")
        return EXIT_USAGE
    out(f"copied {done.events} events from {done.src} to {done.dst}; both verify, head {done.last_hash[:16]}")
    return EXIT_OK


def _launch_t0(raw: object) -> float | None:
    """A launch event's T-0 if it is a usable number (a log is input: it may hold anything there)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        t0 = float(raw)
    except OverflowError:
        return None
    return t0 if math.isfinite(t0) and t0 != 0 else None
