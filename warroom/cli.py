"""The `warroom` command: a static table of subcommands, each in its own module of warroom.commands.

Every user-facing error is a message and an exit code, never a traceback.
Exit codes: 0 ok / GO, 1 NO-GO or a failed check, 2 configuration or usage
error, 3 rollback trigger breached.

Adding a subcommand is one row in COMMANDS and a module in warroom/commands that
defines `configure(parser)` and `run(args) -> int`. Only the module of the command
being run is imported, so `warroom run` does not pay for the report, replay and
rollback machinery before its first frame.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from warroom.commands.common import EXIT_NOGO, EXIT_OK, EXIT_ROLLBACK, EXIT_USAGE, err

__all__ = ["COMMANDS", "EXIT_NOGO", "EXIT_OK", "EXIT_ROLLBACK", "EXIT_USAGE", "Command", "build_parser", "main"]


class CommandModule(Protocol):
    """What a module in warroom/commands provides."""

    def configure(self, p: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, its one-line help, and the module (in warroom.commands) that does it."""

    name: str
    help: str
    module: str

    def load(self) -> CommandModule:
        return cast(CommandModule, importlib.import_module(f"warroom.commands.{self.module}"))

    @property
    def configure(self) -> Callable[[argparse.ArgumentParser], None]:
        return self.load().configure

    @property
    def run(self) -> Callable[[argparse.Namespace], int]:
        return self.load().run


COMMANDS: tuple[Command, ...] = (
    Command("validate", "check launch config files; exit 0 if all are valid, 2 otherwise", "validate"),
    Command("verify", "check the decision log's hash chain; exit 0 if intact", "verify"),
    Command("log", "print the decision log as a readable timeline", "log"),
    Command("backfill", "fill the log's gaps with the criteria's history from Prometheus (range queries)", "backfill"),
    Command(
        "check",
        "headless go/no-go gate: exit 0 GO, 1 NO-GO or pending, 3 rollback trigger breached, 2 config error",
        "check",
    ),
    Command("run", "open the war-room console on a launch", "run"),
    Command("demo", "the console on a simulated launch (T-0 two minutes from now); needs nothing else", "demo"),
    Command("measure", "record a success metric measured outside Prometheus (value, period, who, link)", "measure"),
    Command("replay", "the console driven by a recorded log: play, pause, step between decisions, jump", "replay"),
    Command(
        "report", "the post-launch report: verdict, go/no-go tables, timeline, checklist, alerts, metrics", "report"
    ),
    Command("rollback", "run the launch's rollback procedure headless (same lock and log as the console)", "rollback"),
    Command("wall", "full-screen wall view for the room: the verdict in big letters; reads the log only", "wall"),
    Command("notify", "notifications: 'test' sends a test message to every channel and reports per channel", "notify"),
    Command(
        "serve", "the console read-only in a browser, behind a token (textual-serve; loopback by default)", "serve"
    ),
)
BY_NAME = {c.name: c for c in COMMANDS}

# Live consoles start with the cyclic garbage collector off: loading Textual, pydantic and the console made
# it run ~200 times before the first frame (~15 % of the CPU the start took), over objects that all live on.
# The console turns it back on, with what it made until then frozen, once its first frame is drawn
# (ui/app.py); in any case it is back on when the command returns.
QUIET_START = frozenset({"run", "demo"})


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand listed; the arguments of `only` (or of all, when None) filled in.

    argparse hands the words after a command to that command's parser alone, so the
    others need their names and help, not their modules.
    """
    p = argparse.ArgumentParser(prog="warroom", description="A terminal war-room console for software launches.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for c in COMMANDS:
        sp = sub.add_parser(c.name, help=c.help, description=c.help)
        if only is None or only == c.name:
            c.configure(sp)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    first = words[0] if words and not words[0].startswith("-") else None
    quiet = first in QUIET_START and gc.isenabled()
    if quiet:
        gc.disable()
    try:
        return _main(argv, first)
    finally:
        if quiet:
            gc.enable()


def _main(argv: Sequence[str] | None, first: str | None) -> int:
    from warroom.config import ConfigError  # imported here, after main has set the collector for the command
    from warroom.core.text import clean
    from warroom.store.log import LogCorrupt

    parser = build_parser(first if first in BY_NAME else "")
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    run = BY_NAME[args.command].run
    try:
        return run(args)
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
