"""Arguments several subcommands take, declared once: LOG, --log, CONFIG, --as, --theme.

A command calls `add_log(p)` and later `log_file(args.log)` (or `add_log_option(p)` and
`log_target(args.log)`); changing how a log is named (a path today) is a change here,
not in every command. Help texts can be
given per command, where the same argument means something slightly different.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from warroom.commands.common import err

LOG_HELP = "decision log: a file (JSON lines) or postgresql://USER@HOST:PORT/DB#LAUNCH_ID"
CONFIG_HELP = "launch config (YAML)"
THEME_HELP = "dark, light, high-contrast, monochrome (default: dark; monochrome when NO_COLOR is set)"


def add_log(p: argparse.ArgumentParser, help_text: str = LOG_HELP) -> None:
    """The positional LOG of a command that reads or appends to an existing log."""
    p.add_argument("log", metavar="LOG", help=help_text)


def add_log_option(
    p: argparse.ArgumentParser, help_text: str, *, required: bool = False, metavar: str = "PATH"
) -> None:
    """`--log`, for a command that makes its log when it is missing (run, demo, check, backfill, rollback)."""
    p.add_argument("--log", metavar=metavar, required=required, help=help_text)


def add_config(p: argparse.ArgumentParser, help_text: str = CONFIG_HELP) -> None:
    """The positional CONFIG: a launch config file."""
    p.add_argument("config", metavar="CONFIG", help=help_text)


def add_as(p: argparse.ArgumentParser, help_text: str, default: str | None = None) -> None:
    """`--as NAME`: who acts (default: the user name; see core.events.current_actor)."""
    p.add_argument("--as", dest="as_name", metavar="NAME", default=default, help=help_text)


def add_theme(p: argparse.ArgumentParser, help_text: str = THEME_HELP) -> None:
    """`--theme NAME` of the console."""
    p.add_argument("--theme", metavar="NAME", help=help_text)


def log_file(arg: str, *, writes: bool = False) -> Path | None:
    """The LOG argument as a path, or None after saying it is not a file (the caller exits 2).

    A PostgreSQL URI is read into a private local snapshot of its exact lines (store/open.py), so every
    reading command works the same on either store; a command that `writes` to it is refused there (yet)."""
    from warroom.store.pg import PgSpecError, StoreUnavailable, is_uri

    if is_uri(arg):
        if writes:
            err(f"{arg}: this command writes only to a file log yet; see docs/store.md")
            return None
        from warroom.store.open import local_snapshot

        try:
            return local_snapshot(arg)
        except (PgSpecError, StoreUnavailable) as e:
            err(str(e))
            return None
    path = Path(arg)
    if not path.is_file():
        err(f"{path}: no such log file")
        return None
    return path


def log_target(arg: str | None) -> Path | None:
    """The `--log` argument as the log to open or create; None when not given (the command's default applies).

    For the commands that write only to a file yet (backfill): a PostgreSQL URI is
    refused with a message (SystemExit 2) rather than taken for a file name."""
    from warroom.store.pg import is_uri

    if arg and is_uri(arg):
        err(
            f"--log {arg}: this command writes only to a file log yet (run, demo, check, rollback, verify, log, "
            "report, replay and log copy take a PostgreSQL URI); see docs/store.md"
        )
        raise SystemExit(2)
    return Path(arg) if arg else None
