"""`warroom measure LOG METRIC VALUE [--period P] [--link URL] [--as NAME]`: a success metric measured by hand.

Some metrics live outside Prometheus (user satisfaction, support ticket volume). Their owner enters the value
for a period; it goes into the log as a `measurement` event with who entered it, and the report judges it
against the metric's target. Without one, the report says "not measured", never "passed".
"""

from __future__ import annotations

import argparse
import contextlib
import math
from pathlib import Path

from warroom.commands.args import add_as, add_log, log_file
from warroom.commands.common import EXIT_OK, EXIT_USAGE, err, out
from warroom.config import ConfigError, ConfigProblem
from warroom.core.events import current_actor
from warroom.core.measurement import measurement_data
from warroom.store.base import write_failure
from warroom.store.launchlog import launch_from_log
from warroom.store.open import open_reader, open_store, spec_of
from warroom.store.pg import PgSpec, PgSpecError, is_uri


def configure(p: argparse.ArgumentParser) -> None:
    add_log(p, "decision log of the launch")
    p.add_argument("metric", metavar="METRIC", help="success metric id from the config")
    p.add_argument("value", metavar="VALUE", help="the measured value, in the metric's unit")
    p.add_argument("--period", default="", help='what the value covers, e.g. "week 1" (default: the whole window)')
    p.add_argument("--link", default="", help="where the figure comes from (survey, dashboard URL)")
    add_as(p, "your name (default: your user name)")


def run(args: argparse.Namespace) -> int:
    try:  # a file, or PostgreSQL: the launch is read from, and the measurement appended to, the database itself
        where: Path | PgSpec | None = spec_of(args.log) if is_uri(args.log) else log_file(args.log)
    except PgSpecError as e:
        err(f"LOG: {e}")
        return EXIT_USAGE
    if where is None:
        return EXIT_USAGE
    try:
        with contextlib.closing(open_reader(where)) as reader:
            launch = launch_from_log(reader)
        ids = [m.id for m in launch.success_metrics]
        if args.metric not in ids:
            raise ConfigError(
                [
                    ConfigProblem(
                        "command line",
                        None,
                        "METRIC",
                        f"no success metric '{args.metric}'",
                        "one of: " + ", ".join(ids),
                    )
                ]
            )
        try:
            value = float(args.value)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            err(f"VALUE: {args.value!r} is not a number")
            return EXIT_USAGE
        with contextlib.closing(open_store(where, current_actor(args.as_name))) as log:
            log.append("measurement", measurement_data(args.metric, value, args.period, args.link))
    except OSError as e:  # the database down or refusing this role, a read-only file: nothing was recorded
        said = write_failure(e)  # "not recorded: why", or "not confirmed" when nobody can tell (store/base.py)
        err(said if said.startswith(str(where)) else f"{where}: {said}")
        return EXIT_USAGE
    out(f"{args.metric} = {value:g} recorded" + (f" for {args.period}" if args.period else ""))
    return EXIT_OK
