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

LOG_HELP = "decision log (JSON lines)"
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
    """The LOG argument as a path, or None after saying it is not a file (the caller exits 2)."""
    path = Path(arg)
    if not path.is_file():
        err(f"{path}: no such log file")
        return None
    return path


def log_target(arg: str | None) -> Path | None:
    """The `--log` argument as the log to open or create; None when not given (the command's default applies)."""
    return Path(arg) if arg else None
