"""`warroom rollback`: the rollback procedure headless, for scripts, with the console's lock and log.

Without `--yes-i-mean-it <launch id>` it only prints the plan: a script cannot
roll back production by a typo, and the operator sees exactly what would run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import sys
from functools import partial
from pathlib import Path

from warroom.commands.args import add_as, add_config, add_log_option, log_target
from warroom.commands.common import EXIT_NOGO, EXIT_OK, EXIT_USAGE, err, out
from warroom.config import PRIMARY, load_launch
from warroom.core.events import Event, current_actor
from warroom.core.text import clean
from warroom.rollback.runner import RollbackRunner, plan_text, running_marker
from warroom.store.launchlog import bind
from warroom.store.log import DecisionLog


def configure(p: argparse.ArgumentParser) -> None:
    add_config(p, "launch config file")
    add_log_option(p, "decision log (default: the console's, $XDG_DATA_HOME/warroom/<launch id>.jsonl)")
    p.add_argument("--dry-run", action="store_true", help="record every step as skipped; execute nothing")
    p.add_argument(
        "--yes-i-mean-it",
        metavar="LAUNCH_ID",
        dest="confirm",
        help="the launch id, to confirm; without it the plan is printed and nothing runs",
    )
    add_as(p, "your name as listed in the config's role members")
    p.add_argument("--reason", default="manual rollback from the command line", help="why (goes into the log)")
    p.add_argument(
        "--procedure",
        metavar="NAME",
        default=PRIMARY,
        help="which procedure: 'primary' (rollback.steps, the default) or the id of one of rollback.alternatives",
    )
    p.add_argument(
        "--set",
        dest="values",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a value the procedure asks for (repeatable); checked before anything runs, never put into a shell",
    )


class _Stdout:
    """Prints the run as it goes; a closed stdout (`| head -3`) ends the printing, never the rollback.

    The log is the record: once a write to stdout fails (EPIPE), the rest of
    the display goes to /dev/null, so neither this run nor the flush at exit
    raises, and the rollback runs to its recorded end.
    """

    closed = False

    def say(self, text: str) -> None:
        if self.closed:
            return
        try:
            out(text)
        except (OSError, ValueError):
            self.close()

    def flush(self) -> None:
        if self.closed:
            return
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            self.close()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def _err(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        err(text)


def _print_event(display: _Stdout, ev: Event) -> None:
    say = display.say
    d = ev.data
    phase = d.get("phase")
    n = f"[{int(d.get('index', 0)) + 1}]" if "index" in d else ""
    if phase == "requested":
        say(f"rollback requested by {clean(ev.actor.label)}" + (" (dry run)" if d.get("dry_run") else ""))
    elif phase == "refused":
        say(f"REFUSED: {clean(d.get('reason', ''))}")
    elif phase == "started":
        vals = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in (d.get("values") or {}).items())
        say(
            f"started procedure '{clean(str(d.get('procedure', PRIMARY)))}'"
            + (f" with {clean(vals)}" if vals else "")
            + f": {len(d.get('steps', []))} steps"
            + (" (dry run: nothing is executed)" if d.get("dry_run") else "")
        )
    elif phase == "step_started":
        say(f"{n} {clean(d.get('name', ''))}: $ {clean(shlex.join(d.get('argv', [])))}")
    elif phase == "step_finished":
        took = f", {d['duration']:.1f}s" if d.get("duration") else ""
        code = f"exit {d.get('exit_code')}" if d.get("exit_code") is not None else "no exit code"
        detail = f" — {clean(d['detail'])}" if d.get("detail") else ""
        say(f"{n} {clean(d.get('name', ''))}: {d.get('status')} ({code}{took}){detail}")
    elif phase == "verify":
        say(f"verify {d.get('status')}: {clean(d.get('detail') or d.get('what', ''))}")
    elif phase == "finished":
        why = f": {clean(d['reason'])}" if d.get("reason") else ""
        say(("rollback succeeded" if d.get("ok") else "ROLLBACK FAILED") + why)
    display.flush()  # each stage as it happens (a pipe is block-buffered otherwise)


def _print_output(display: _Stdout, index: int | None, lines: list[str]) -> None:
    say = display.say
    tag = "verify" if index is None else str(index + 1)
    for line in lines:
        say(f"    {tag}| {clean(line)}")
    display.flush()


def run(args: argparse.Namespace) -> int:
    launch = load_launch(args.config)
    dry = True if args.dry_run else None
    values: dict[str, str] = {}
    for kv in args.values:
        key, eq, value = kv.partition("=")
        if not eq or not key:
            err(f"--set {clean(kv)}: give KEY=VALUE, e.g. --set PREVIOUS_STABLE_VERSION=v1.4.2")
            return EXIT_USAGE
        values[key] = value
    if args.procedure not in launch.rollback.procedures:
        err(
            f"no rollback procedure '{clean(args.procedure)}' in {args.config}: "
            f"choose one of {', '.join(launch.rollback.procedures)}"
        )
        return EXIT_USAGE
    if args.confirm != launch.id:
        for line in plan_text(launch, dry, args.procedure, values):
            out(clean(line))
        if args.confirm is None:
            err(f"refusing to roll back without confirmation: pass --yes-i-mean-it {launch.id}")
        else:
            err(f"refusing: --yes-i-mean-it names '{clean(args.confirm)}' but this is launch '{launch.id}'")
        return EXIT_USAGE
    from warroom.store.paths import default_log_path  # the console's default, so both share one log and lock

    text = Path(args.config).read_text(encoding="utf-8")
    actor = current_actor(args.as_name)
    path = log_target(args.log) or default_log_path(launch.id)
    display = _Stdout()
    try:
        with DecisionLog(path, actor) as log:
            launch, _ = bind(log, launch, text, args.config)
            runner = RollbackRunner(
                launch,
                log,
                actor,
                dry_run=dry,
                on_event=partial(_print_event, display),
                on_output=partial(_print_output, display),
            )
            ok = asyncio.run(runner.run(args.reason, procedure=args.procedure, values=values))
    except OSError as e:
        _err(f"{path}: cannot use the decision log: {e.strerror or e}")
        return EXIT_USAGE
    finally:
        display.flush()
    if runner.record_error:
        _err(clean(f"{path}: the decision log could not be written: {runner.record_error}"))
        if not runner.ended:
            _err(
                f"the outcome of this rollback is NOT recorded; {clean(str(running_marker(path)))} is left in place, "
                "and the next warroom process on this log (console, check, rollback) records the run as interrupted"
            )
        return EXIT_NOGO
    return EXIT_OK if ok else EXIT_NOGO
