"""`warroom backfill CONFIG --log LOG [--from T-1h] [--to now] [--step 30s]`: a launch's history from Prometheus.

Fills the slots of [from, to] where the log holds no sample with Prometheus's own record of them, so the
report of a launch whose console was closed shows what a console would have shown. Idempotent: a second run
with the same range adds nothing. Criteria on sources without history (HTTP, host, Alertmanager) are named.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path

from warroom.commands.args import add_config, add_log_option
from warroom.commands.common import EXIT_NOGO, EXIT_OK, EXIT_USAGE, err, out
from warroom.config import ConfigError, ConfigProblem, load_launch
from warroom.core.events import current_actor
from warroom.core.units import format_t_relative, parse_duration, parse_moment
from warroom.store.launchlog import bind
from warroom.store.open import open_store, spec_for
from warroom.store.pg import PgSpecError


def configure(p: argparse.ArgumentParser) -> None:
    add_config(p)
    add_log_option(
        p,
        "decision log to fill (a file, created if missing, or postgresql://...#LAUNCH_ID)",
        required=True,
        metavar="LOG",
    )
    p.add_argument("--from", dest="start", default="T-1h", metavar="T", help="first moment, e.g. T-1h (default)")
    p.add_argument("--to", dest="end", default=None, metavar="T", help="last moment, e.g. T+2h (default: now)")
    p.add_argument(
        "--step", default=None, metavar="DURATION", help="spacing of points (default: each criterion's interval)"
    )


def _moment(text: str, field: str, t0: float) -> float:
    try:
        return t0 + parse_moment(text)
    except ValueError as e:
        raise ConfigError(
            [ConfigProblem("command line", None, field, str(e), "write e.g. T-1h, T+2h or T+7d")]
        ) from None


def run(args: argparse.Namespace) -> int:
    from warroom.recorder.backfill import known, plan
    from warroom.recorder.backfill import run as run_backfill

    launch = load_launch(args.config)
    text = Path(args.config).read_text(encoding="utf-8")
    try:  # a file, or PostgreSQL (the URI's launch may come from the config; the password from its store: key)
        where = spec_for(args.log, launch) or Path(".")  # --log is required; an empty one names the directory
    except PgSpecError as e:
        err(f"--log: {e}")
        return EXIT_USAGE
    shown = str(where)  # a path, or the URI without any password
    if isinstance(where, Path) and where.exists() and not where.is_file():
        raise ConfigError([ConfigProblem(shown, None, "", "not a file", "give a path for the decision log")])
    step = None
    if args.step is not None:
        try:
            step = parse_duration(args.step)
        except ValueError as e:
            raise ConfigError([ConfigProblem("command line", None, "--step", str(e), "e.g. --step 30s")]) from None
        if step <= 0:
            raise ConfigError([ConfigProblem("command line", None, "--step", "must be positive", "e.g. 30s")])
    actor = current_actor("backfill")
    try:
        with contextlib.closing(open_store(where, actor)) as log:
            launch, _ = bind(log, launch, text, args.config)
            start = _moment(args.start, "--from", launch.t0)
            now = time.time()
            end = now if args.end in (None, "now") else _moment(args.end, "--to", launch.t0)
            if end < start:
                raise ConfigError([ConfigProblem("command line", None, "--to", "is before --from", "swap them")])
            k = known(launch, log)  # through the store: what a database holds is read the same way
            epoch = k.epoch if k.epoch is not None else now
            p = plan(launch, k, start, end, now, step, epoch=epoch)
            result = asyncio.run(run_backfill(launch, log, p, epoch=epoch, actor=actor, k=k))
    except OSError as e:
        err(f"{shown}: cannot write the decision log: {e.strerror or e}")
        return EXIT_USAGE
    span = f"{format_t_relative(start - launch.t0)} to {format_t_relative(min(end, now) - launch.t0)}"
    total = sum(result.points.values())
    out(f"backfill {span}: {total:,} points in {len(p.jobs)} range queries")
    for c in launch.criteria:
        if c.id in p.cannot:
            out(f"  {c.id}: cannot be backfilled: {p.cannot[c.id]}")
        else:
            n = result.points.get(c.id, 0)
            failed = any(f.startswith(f"{c.id}: ") for f in result.failures)
            why = " (its range queries failed: see below)" if failed else " (no gap: the log already holds every slot)"
            out(f"  {c.id}: {n:,} points" + ("" if n else why))
    if p.alerts:
        out(f"  alerts: {result.alerts} firing intervals from ALERTS")
    for problem in p.alert_problems:
        out(f"  {problem}")
    for cid in result.baselines:
        out(f"  {cid}: baseline recorded from Prometheus")
    for f in result.failures:
        err(f"  failed: {f}")
    return EXIT_NOGO if result.failures else EXIT_OK
