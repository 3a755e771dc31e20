"""`warroom run CONFIG` and `warroom demo`: open the console on a launch.

Without `--log` the log is `$XDG_DATA_HOME/warroom/<launch-id>.jsonl` (the demo
gets a fresh timestamped one each time); its path is shown on screen and
printed on exit. The demo config ships inside the package
(`warroom/ui/data/demo.yaml`, a link to `configs/demo.yaml` that the wheel
stores as a file) and is read with importlib.resources, so `warroom demo`
works from an installed copy with nothing else around.
"""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path

from warroom.cli import EXIT_OK, EXIT_USAGE, command, err, out
from warroom.config import Launch, load_launch, parse_launch
from warroom.events import Actor, current_actor

DEMO_LEAD = 120.0  # the demo's T-0 is this many seconds after it starts
DEMO_ACTOR = "demo"  # a member of the demo's commander, CTO and DevOps roles


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", metavar="PATH", help="decision log (default: a per-launch file in your data directory)")
    p.add_argument("--theme", metavar="NAME", help="dark, light, high-contrast, monochrome (default: dark; "
                                                   "monochrome when NO_COLOR is set)")


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="launch config (YAML)")
    _common(p)
    p.add_argument("--as", dest="as_name", metavar="NAME", help='act as this name, e.g. "Dana (CTO)" '
                                                                '(default: your user name)')
    p.add_argument("--observer", action="store_true", help="watch only: this console changes nothing")
    p.add_argument("--dry-run", action="store_true", default=None,
                   help="rollback shows and records its steps without running them")


def _demo_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--as", dest="as_name", metavar="NAME", default=DEMO_ACTOR,
                   help=f"act as this name (default: {DEMO_ACTOR}, who holds the demo's commander roles)")


@command("run", "open the war-room console on a launch")(_run_args)
def cmd_run(args: argparse.Namespace) -> int:
    from warroom.ui.session import default_log_path

    path = Path(args.config)
    launch = load_launch(path)
    text = path.read_text(encoding="utf-8")
    log = Path(args.log) if args.log else default_log_path(launch.id)
    return open_console(launch, text, str(path), log, current_actor(args.as_name),
                        mode="observer" if args.observer else "live", theme=args.theme, dry_run=args.dry_run)


@command("demo", "the console on a simulated launch (T-0 two minutes from now); needs nothing else")(_demo_args)
def cmd_demo(args: argparse.Namespace) -> int:
    from warroom.launchlog import with_t0
    from warroom.ui.session import default_log_path

    text = demo_config_text()
    now = time.time()
    launch = with_t0(parse_launch(text, "demo.yaml"), now + DEMO_LEAD)
    log = Path(args.log) if args.log else default_log_path(launch.id, fresh=True, now=now)
    return open_console(launch, text, "demo.yaml", log, current_actor(args.as_name), mode="live", theme=args.theme)


def demo_config_text() -> str:
    return resources.files("warroom.ui").joinpath("data", "demo.yaml").read_text(encoding="utf-8")


def open_console(launch: Launch, text: str, config_path: str, log: Path, actor: Actor, *, mode: str,
                 theme: str | None, dry_run: bool | None = None) -> int:
    from warroom.ui.app import WarroomApp

    if log.exists() and log.is_dir():
        err(f"{log}: is a directory; give a file path with --log")
        return EXIT_USAGE
    app = WarroomApp(launch, log_path=log, actor=actor, mode=mode, theme=theme,  # type: ignore[arg-type]
                     config_text=text, config_path=config_path, dry_run=dry_run)
    result = app.run()
    if app.startup_error is not None:
        return EXIT_USAGE  # Textual has printed the message
    out(f"decision log: {log}")
    return result if isinstance(result, int) and app.return_code in (0, None) else (app.return_code or EXIT_OK)
