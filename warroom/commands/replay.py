"""`warroom replay LOG [--speed N] [--at T+00:37] [--theme NAME]`: the console, driven by a recorded log.

The log is read once up front (chain checked, checkpoints kept, see
warroom/replay.py); a long log shows its progress on stderr before the
console starts. The console opens paused at `--at` (default: the start of
the log); `--speed` sets the playback speed and starts playing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from warroom.commands.args import add_log, add_theme, log_file
from warroom.commands.common import EXIT_OK, EXIT_USAGE, err
from warroom.core.events import current_actor
from warroom.core.units import format_t_relative
from warroom.replay.timeline import Replay, open_replay

if TYPE_CHECKING:
    from warroom.ui.app import WarroomApp  # the console loads only when a replay opens

PROGRESS_ABOVE = 20_000_000  # bytes: smaller logs open too fast to need a progress line


def configure(p: argparse.ArgumentParser) -> None:
    add_log(p)
    p.add_argument("--speed", type=float, metavar="N", help="play at N times real time (e.g. 8); starts playing")
    p.add_argument("--at", metavar="T+00:37", help="open at this moment: T+HH:MM, T+HH:MM:SS, T-5m, T+1h30m")
    add_theme(p, "colour theme")


def run(args: argparse.Namespace) -> int:
    path = log_file(args.log)
    if path is None:
        return EXIT_USAGE
    if args.speed is not None and not 0 < args.speed <= 10_000:
        err(f"--speed {args.speed:g}: give a speed above 0 and at most 10000 (times real time)")
        return EXIT_USAGE
    rep = open_replay(path, progress=_progress(path))
    if rep.events == 0:
        err(f"{path}: the log has no events to replay")
        return EXIT_USAGE
    if args.at:
        from warroom.ui.playhead import parse_moment_text

        try:
            t = parse_moment_text(args.at, rep.launch.t0)
        except ValueError as e:
            err(f"--at: {e}")
            return EXIT_USAGE
        if not rep.start <= t <= rep.end:
            err(
                f"--at {args.at}: the log runs from {format_t_relative(rep.start - rep.launch.t0)} to "
                f"{format_t_relative(rep.end - rep.launch.t0)}; opening at the nearest end"
            )
    if not rep.ok:
        err(f"{path}: {rep.integrity}")
    app = _console(rep, args)
    code = app.run()
    return code if isinstance(code, int) else EXIT_OK


def _progress(path: Path) -> Callable[[float], None] | None:
    if os.path.getsize(path) < PROGRESS_ABOVE or not sys.stderr.isatty():
        return None

    def show(fraction: float) -> None:
        sys.stderr.write(f"\rreading {path.name}: {fraction * 100:3.0f}%")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _console(rep: Replay, args: argparse.Namespace) -> WarroomApp:
    """The console app in replay mode, opened at `--at` and playing at `--speed` if given."""
    from warroom.ui.app import WarroomApp

    return WarroomApp(
        rep.launch,
        log_path=None,
        actor=current_actor(),
        mode="replay",
        replay=rep,
        theme=args.theme,
        at=args.at,
        speed=args.speed,
    )
