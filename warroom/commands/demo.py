"""`warroom demo`: the console on configs/demo.yaml with simulated metrics, T-0 two minutes from now.

The demo config ships inside the package (`warroom/ui/data/demo.yaml`, a link
to `configs/demo.yaml` that a wheel stores as a plain file) and is read with
importlib.resources, so `warroom demo` works from an installed copy with
nothing else around. Each run gets a fresh timestamped log unless `--log` is
given.
"""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path

from warroom.cli import command
from warroom.commands.run import common_args, open_console
from warroom.config import parse_launch
from warroom.core.events import current_actor

DEMO_LEAD = 120.0  # the demo's T-0 is this many seconds after it starts
DEMO_ACTOR = "demo"  # a member of the demo's commander, CTO and DevOps roles


def _demo_args(p: argparse.ArgumentParser) -> None:
    common_args(p)
    p.add_argument(
        "--as",
        dest="as_name",
        metavar="NAME",
        default=DEMO_ACTOR,
        help=f"act as this name (default: {DEMO_ACTOR}, who holds the demo's commander roles)",
    )


@command("demo", "the console on a simulated launch (T-0 two minutes from now); needs nothing else")(_demo_args)
def cmd_demo(args: argparse.Namespace) -> int:
    from warroom.store.launchlog import with_t0
    from warroom.store.paths import default_log_path

    text = demo_config_text()
    now = time.time()
    launch = with_t0(parse_launch(text, "demo.yaml"), now + DEMO_LEAD)
    log = Path(args.log) if args.log else default_log_path(launch.id, fresh=True, now=now)
    return open_console(launch, text, "demo.yaml", log, current_actor(args.as_name), mode="live", theme=args.theme)


CLAIMED = "version: 1\nidentity: claimed  # warroom demo: a rehearsal; anyone plays any role by --as name, marked\n"


def demo_config_text() -> str:
    """The demo config as `warroom demo` binds it: with `identity: claimed` (the log says so to every reader)."""
    text = resources.files("warroom.ui").joinpath("data", "demo.yaml").read_text(encoding="utf-8")
    return text.replace("version: 1\n", CLAIMED, 1)
