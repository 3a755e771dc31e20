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

from warroom.commands.args import add_as
from warroom.commands.run import common_args, open_console
from warroom.config import parse_launch
from warroom.core.events import current_actor
from warroom.store.open import spec_for

DEMO_LEAD = 120.0  # the demo's T-0 is this many seconds after it starts
DEMO_ACTOR = "demo"  # a member of the demo's commander, CTO and DevOps roles


def configure(p: argparse.ArgumentParser) -> None:
    common_args(p)
    add_as(p, f"act as this name (default: {DEMO_ACTOR}, who holds the demo's commander roles)", default=DEMO_ACTOR)


def run(args: argparse.Namespace) -> int:
    from warroom.store.launchlog import with_t0
    from warroom.store.paths import default_log_path

    text = demo_config_text()
    now = time.time()
    launch = with_t0(parse_launch(text, "demo.yaml"), now + DEMO_LEAD)
    log = (spec_for(args.log, launch) if args.log else None) or default_log_path(launch.id, fresh=True, now=now)
    return open_console(launch, text, "demo.yaml", log, current_actor(args.as_name), mode="live", theme=args.theme)


CLAIMED = "version: 1\nidentity: claimed  # warroom demo: a rehearsal; anyone plays any role by --as name, marked\n"


def demo_config_text() -> str:
    """The demo config as `warroom demo` binds it: with `identity: claimed` (the log says so to every reader)."""
    text = resources.files("warroom.ui").joinpath("data", "demo.yaml").read_text(encoding="utf-8")
    return text.replace("version: 1\n", CLAIMED, 1)
