"""`warroom run CONFIG`: open the console on a launch (`warroom demo` lives in demo.py and uses this).

Without `--log` the log is `$XDG_DATA_HOME/warroom/<launch-id>.jsonl`; its path
is shown on screen and printed on exit.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

from warroom.commands.args import add_as, add_config, add_log_option, add_theme
from warroom.commands.common import EXIT_OK, EXIT_USAGE, err, out
from warroom.config import Launch, load_launch_cached
from warroom.core.events import Actor, current_actor
from warroom.store.open import spec_for
from warroom.store.pg import PgSpec, PgSpecError


def common_args(p: argparse.ArgumentParser) -> None:
    add_log_option(
        p,
        "decision log: a file, or postgresql://USER@HOST:PORT/DB[#LAUNCH] (default: the config's store:, else "
        "a per-launch file in your data directory)",
        metavar="LOG",
    )
    add_theme(p)


def configure(p: argparse.ArgumentParser) -> None:
    add_config(p)
    common_args(p)
    add_as(p, 'act as this name, e.g. "Dana (CTO)" (default: your user name)')
    p.add_argument("--observer", action="store_true", help="watch only: this console changes nothing")
    p.add_argument(
        "--dry-run", action="store_true", default=None, help="rollback shows and records its steps without running them"
    )


def run(args: argparse.Namespace) -> int:
    from warroom.store.paths import default_log_path

    path = Path(args.config)
    launch = load_launch_cached(path)  # a file validated before (same bytes, same warroom) is not validated again
    text = path.read_text(encoding="utf-8")
    try:
        log = spec_for(args.log, launch) or default_log_path(launch.id)  # a file, or --log / store: PostgreSQL
    except PgSpecError as e:
        err(f"--log: {e}")
        return EXIT_USAGE
    return open_console(
        launch,
        text,
        str(path),
        log,
        current_actor(args.as_name),
        mode="observer" if args.observer else "live",
        theme=args.theme,
        dry_run=args.dry_run,
    )


def open_console(
    launch: Launch,
    text: str,
    config_path: str,
    log: Path | PgSpec,
    actor: Actor,
    *,
    mode: Literal["live", "observer"],
    theme: str | None,
    dry_run: bool | None = None,
) -> int:
    from warroom.ui.app import WarroomApp

    if isinstance(log, Path) and log.exists() and log.is_dir():
        err(f"{log}: is a directory; give a file path with --log")
        return EXIT_USAGE
    app = WarroomApp(
        launch,
        log_path=log,
        actor=actor,
        mode=mode,
        theme=theme,
        config_text=text,
        config_path=config_path,
        dry_run=dry_run,
    )
    result = app.run()
    if app.startup_error is not None:
        return EXIT_USAGE  # Textual has printed the message
    out(f"decision log: {log}")
    return result if isinstance(result, int) and app.return_code in (0, None) else (app.return_code or EXIT_OK)
