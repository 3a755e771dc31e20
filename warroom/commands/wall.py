"""`warroom wall LOG|CONFIG`: the wall view for the war room, read from the decision log (never written).

Given a log, the launch comes from the log's own `launch` event; given a
config, the log is `--log` or the launch's default log. Like an observer
console it only reads the log: it never polls a source and never acts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from warroom.commands.args import add_log_option, add_theme
from warroom.commands.common import EXIT_OK, EXIT_USAGE, err


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="LOG|CONFIG", help="a decision log (JSON lines) or a launch config (YAML)")
    add_log_option(p, "with a CONFIG: the decision log (default: the launch's own)")
    add_theme(p)


def _is_config(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def run(args: argparse.Namespace) -> int:
    from warroom.config import load_launch
    from warroom.store.launchlog import launch_from_log
    from warroom.store.paths import default_log_path

    target = Path(args.target)
    if not target.is_file():
        err(f"{target}: no such log or config file")
        return EXIT_USAGE
    if _is_config(target):
        launch = load_launch(target)
        log = Path(args.log) if args.log else default_log_path(launch.id)
        if not log.is_file():
            err(f"{log}: no decision log yet for launch '{launch.id}'; start the console ('warroom run') first")
            return EXIT_USAGE
    else:
        if args.log:
            err("--log goes with a CONFIG; a LOG argument is the log itself")
            return EXIT_USAGE
        log = target
        launch = launch_from_log(log)
    from warroom.ui.wall import WallApp  # the UI loads only when the wall opens

    app = WallApp(launch, log, theme=args.theme)
    code = app.run()
    if app.startup_error is not None:
        return EXIT_USAGE
    return code if isinstance(code, int) else EXIT_OK
