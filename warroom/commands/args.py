"""Arguments several subcommands take, declared once: LOG, --log, CONFIG, --as, --theme.

A command calls `add_log(p)` and later `log_file(args.log)` (or `add_log_option(p)` and
`store.open.spec_for(args.log, launch)`); changing how a log is named is a change here or in store/open.py,
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


def log_file(arg: str) -> Path | None:
    """The LOG argument as a path to read, or None after saying it is not a file (the caller exits 2).

    A PostgreSQL URI is read into a private local snapshot of its exact lines (store/open.py), so every
    reading command works the same on either store. A command that appends opens the store itself
    (`store.open.open_store`), never the snapshot."""
    from warroom.store.pg import PgSpecError, StoreUnavailable, is_uri

    if is_uri(arg):
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
