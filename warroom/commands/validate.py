"""`warroom validate FILE...`: check launch config files; exit 0 if all are valid, 2 otherwise."""

from __future__ import annotations

import argparse

from warroom.commands.common import EXIT_OK, EXIT_USAGE, err, out
from warroom.config import ConfigError, launch_warnings, load_launch


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="launch config files")


def run(args: argparse.Namespace) -> int:
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
