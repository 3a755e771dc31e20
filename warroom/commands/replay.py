"""`warroom replay LOG [--speed N] [--at T+00:37] [--theme NAME]`: the console, driven by a recorded log.

The console opens at once, at the start of the log (or `--at`), paused; `--speed`
sets the playback speed and starts playing. The log is indexed and its chain
checked in the background (warroom/replay/timeline.py), the banner showing how far;
the playhead moves inside what is indexed so far. An unchanged log opened again
uses the index saved by the first full pass (warroom/replay/sidecar.py), and is
re-verified in the background all the same. A PostgreSQL log is replayed from a
private snapshot of its lines, with no saved index.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from warroom.commands.args import add_log, add_theme, log_file
from warroom.commands.common import EXIT_OK, EXIT_USAGE, err
from warroom.core.events import current_actor
from warroom.core.units import format_t_relative
from warroom.replay.sidecar import tail_head
from warroom.replay.timeline import Replay, begin_replay

if TYPE_CHECKING:
    from warroom.ui.app import WarroomApp  # the console loads only when a replay opens


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
    from warroom.store.pg import is_uri

    rep = begin_replay(path, use_sidecar=not is_uri(args.log))  # a snapshot of a database is new each time
    if args.at:
        from warroom.ui.playhead import parse_moment_text

        try:
            t = parse_moment_text(args.at, rep.launch.t0)
        except ValueError as e:
            err(f"--at: {e}")
            return EXIT_USAGE
        last = tail_head(path, path.stat().st_size)[2]  # the last line's time: the end, before indexing knows it
        end = max(rep.end, last) if last is not None else rep.end
        if not rep.start <= t <= end:
            err(
                f"--at {args.at}: the log runs from {format_t_relative(rep.start - rep.launch.t0)} to "
                f"{format_t_relative(end - rep.launch.t0)}; opening at the nearest end"
            )
    app = _console(rep, args)
    code = app.run()
    if not rep.ok:  # found in the background, shown on the banner: said again once the console is gone
        err(f"{path}: {rep.integrity}")
    return code if isinstance(code, int) else EXIT_OK


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
