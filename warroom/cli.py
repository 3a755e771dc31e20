"""The `warroom` command. Every user-facing error is a message and an exit code, never a traceback.

Exit codes: 0 ok / GO, 1 NO-GO or a failed check, 2 configuration or usage
error, 3 rollback trigger breached.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from warroom.config import ConfigError, launch_warnings, load_launch
from warroom.core.bounds import ts_problem
from warroom.core.state import actor_label
from warroom.core.text import clean, json_bytes
from warroom.core.units import format_t_relative
from warroom.store.log import LogCorrupt, event_to_json, iter_events, torn_path, verify

EXIT_OK, EXIT_NOGO, EXIT_USAGE, EXIT_ROLLBACK = 0, 1, 2, 3

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(
    name: str, help_text: str
) -> Callable[[Callable[[argparse.ArgumentParser], None]], Callable[[Command], Command]]:
    """Register a subcommand: `@command(name, help)(configure)(run)` keeps parser and body together."""

    def with_args(configure: Callable[[argparse.ArgumentParser], None]) -> Callable[[Command], Command]:
        def register(fn: Command) -> Command:
            COMMANDS[name] = (fn, configure, help_text)
            return fn

        return register

    return with_args


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def log_file(arg: str) -> Path | None:
    """The LOG argument as a path, or None after saying it is not a file (the caller exits 2)."""
    path = Path(arg)
    if not path.is_file():
        err(f"{path}: no such log file")
        return None
    return path


# ---------------------------------------------------------------- validate


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="launch config files")


@command("validate", "check launch config files; exit 0 if all are valid, 2 otherwise")(_validate_args)
def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            launch = load_launch(f)
        except ConfigError as e:
            bad += 1
            err(str(e))
            continue
        out(
            f"{f}: OK — {launch.name}: {len(launch.phases)} phases, {len(launch.items)} items, "
            f"{len(launch.criteria)} criteria, {len(launch.roles)} roles, {len(launch.rollback.steps)} rollback steps"
        )
        for w in launch_warnings(launch):  # valid, so exit 0, but almost certainly not what was meant
            err(f"{f}: warning: {w}")
    return EXIT_USAGE if bad else EXIT_OK


# ---------------------------------------------------------------- verify


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", metavar="LOG", help="decision log (JSON lines)")
    p.add_argument("--expect-head", metavar="SEQ:HASH", help="fail if the log is behind or different (truncated)")
    p.add_argument("--config", metavar="FILE", help="check signatures against this config (default: the log's own)")
    p.add_argument("--allowed-signers", metavar="FILE", help="check signatures against this allowed_signers file")


@command("verify", "check the decision log's hash chain; exit 0 if intact")(_verify_args)
def cmd_verify(args: argparse.Namespace) -> int:
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
    if not res.ok:
        out(f"TAMPERED: {path}: {clean(res.problem)}; {res.count} events before it are intact{torn}")
        return EXIT_NOGO
    from warroom.trust.verify_cmd import trust_check  # signatures and head anchors (docs/trust.md)

    checked = trust_check(path, args)
    if checked is None:
        return EXIT_USAGE
    trusted, lines = checked
    out(f"{'OK' if trusted else 'NOT TRUSTED'}: {res.count} events, chain intact{torn}")
    for line in lines:
        out(line)
    return EXIT_OK if trusted else EXIT_NOGO


# ---------------------------------------------------------------- log


def _log_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", metavar="LOG", help="decision log (JSON lines)")
    p.add_argument("--json", action="store_true", help="one JSON event per line")
    p.add_argument("--kind", action="append", help="only these event kinds (repeatable)")


@command("log", "print the decision log as a readable timeline")(_log_args)
def cmd_log(args: argparse.Namespace) -> int:
    from warroom.core.describe import describe

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


def _launch_t0(raw: object) -> float | None:
    """A launch event's T-0 if it is a usable number (a log is input: it may hold anything there)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        t0 = float(raw)
    except OverflowError:
        return None
    return t0 if math.isfinite(t0) and t0 != 0 else None


# ---------------------------------------------------------------- main


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or with just `only` when its module can be loaded alone."""
    _load_plugins(only)
    p = argparse.ArgumentParser(prog="warroom", description="A terminal war-room console for software launches.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_fn, configure, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        configure(sp)
    return p


def _load_plugins(only: str | None = None) -> None:
    """Subcommands that live in their own modules register themselves on import."""
    import warroom.commands

    if only is None or not warroom.commands.load(only) or only not in COMMANDS:
        warroom.commands.load()


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    first = words[0] if words and not words[0].startswith("-") else None
    parser = build_parser(first)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    fn = COMMANDS[args.command][0]
    try:
        return fn(args)
    except ConfigError as e:
        err(str(e))
        return EXIT_USAGE
    except LogCorrupt as e:
        err(f"decision log is damaged: {clean(e)}\n    hint: run 'warroom verify LOG' to see where")
        return EXIT_NOGO
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def entry() -> None:
    sys.exit(main())
