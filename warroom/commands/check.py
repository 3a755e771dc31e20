"""`warroom check CONFIG`: the headless go/no-go gate for CI/CD pipelines.

It polls every source once (or keeps polling with --watch), and judges the
samples through the same log and fold as the console: the samples go into a
decision log (a temporary one unless --log is given) and the verdict is the
fold of that log. Exit codes: 0 GO, 1 NO-GO or PENDING, 3 a rollback trigger
is breached, 2 configuration or usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from warroom.commands.args import add_config, add_log_option
from warroom.commands.common import EXIT_NOGO, EXIT_OK, EXIT_ROLLBACK, EXIT_USAGE, err, out
from warroom.config import ConfigError, ConfigProblem, Launch, load_launch
from warroom.core.events import current_actor
from warroom.core.rules import Level
from warroom.core.state import CriterionView, LaunchState, Verdict, view
from warroom.core.text import clean, json_bytes
from warroom.recorder.loop import Recorder, effective_interval
from warroom.rollback.runner import recover_interrupted
from warroom.store.base import Follow, Store
from warroom.store.launchlog import bind, first_launch_event
from warroom.store.open import open_store, spec_for
from warroom.store.pg import PgSpecError
from warroom.trust.guard import Guard, guard_for

REPRINT = 60.0  # --watch prints when a state changes, and the values at least this often
EXIT_FOR = {"GO": EXIT_OK, "NO-GO": EXIT_NOGO, "PENDING": EXIT_NOGO, "ROLLBACK": EXIT_ROLLBACK}


def configure(p: argparse.ArgumentParser) -> None:
    add_config(p)
    p.add_argument(
        "--watch", action="store_true", help="keep polling; print the table when a state changes (and every minute)"
    )
    p.add_argument("--json", action="store_true", help="print the verdict as JSON (one object per evaluation)")
    add_log_option(
        p,
        "append the samples to this decision log, a file or postgresql://USER@HOST:PORT/DB[#LAUNCH] "
        "(default: a temporary file)",
        metavar="LOG",
    )
    p.add_argument(
        "--criteria-only", action="store_true", help="judge the go/no-go criteria only, not the checklist and sign-offs"
    )


def run(args: argparse.Namespace) -> int:
    launch = load_launch(args.config)
    text = Path(args.config).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="warroom-check-") as tmp:
        try:
            where = spec_for(args.log, launch) if args.log else Path(tmp) / "check.jsonl"
        except PgSpecError as e:
            err(f"--log: {e}")
            return EXIT_USAGE
        assert where is not None
        path = where if isinstance(where, Path) else Path(where.shown)  # named in messages only
        if isinstance(where, Path) and path.exists() and not path.is_file():
            raise ConfigError([ConfigProblem(str(path), None, "", "not a file", "give a path for the decision log")])
        try:
            with contextlib.closing(open_store(where, current_actor())) as log:
                launch, _ = bind(log, launch, text, args.config)
                # a rollback that ended unrecorded: its outcome, not "in progress" (a shared store's runner may be on
                # another host: its lapsed rollback lease tells, see rollback/runner.py)
                recover_interrupted(log, log.actor)
                first = first_launch_event(log)
                epoch = first.ts if first is not None else time.time()
                return asyncio.run(_run(launch, log, epoch, args))
        except KeyboardInterrupt:
            return EXIT_NOGO
        except OSError as e:
            err(f"{path}: cannot write the decision log: {e.strerror or e}")
            return EXIT_USAGE


async def _run(launch: Launch, log: Store, epoch: float, args: argparse.Namespace) -> int:
    rec = Recorder(launch, log, epoch=epoch)
    follower = log.follower()
    state = LaunchState(launch)
    guard = guard_for(state, args.config)  # signature verdicts, given to the fold as data
    if not args.watch:
        note = ""
        if await rec.acquire():
            try:
                await rec.poll_once()
            finally:
                await rec.release()
        else:
            note = f"another console ({rec.lock.holder_text()}) records this log; judging the samples it recorded"
        for ev in guard(follower.poll()):
            state.apply(ev)
        return _report(view(state, time.time()), args, note, launch.name)
    return await _watch(launch, rec, follower, state, args, guard)


async def _watch(
    launch: Launch, rec: Recorder, follower: Follow, state: LaunchState, args: argparse.Namespace, guard: Guard
) -> int:
    """Record (or follow the console that does) and print whenever the table or verdict changes."""
    every = min((effective_interval(launch, c) for c in launch.criteria), default=5.0)
    task = asyncio.create_task(rec.run())
    last_shown: Any = None
    last_print = 0.0
    code = EXIT_NOGO
    try:
        while True:
            await asyncio.sleep(min(every, 1.0) if last_shown is None else every)
            if task.done():
                task.result()  # a crashed recorder is a bug: let it show
            for ev in guard(follower.poll()):
                state.apply(ev)
            v = view(state, time.time())
            status = _status(v, args)[0]
            key = (
                status,
                tuple((c.level, c.unknown, c.pending) for c in v.criteria),
                tuple((s.state, s.error) for s in v.sources),
            )
            code = EXIT_FOR[status]
            quiet_for = time.monotonic() - last_print
            if (key != last_shown or quiet_for >= REPRINT) and (
                any(cs.samples for cs in state.criteria.values()) or not launch.criteria or state.sources
            ):
                last_shown, last_print = key, time.monotonic()
                _report(v, args, "" if rec.is_leader else "following the console that records this log", launch.name)
                sys.stdout.flush()
    except (KeyboardInterrupt, asyncio.CancelledError):
        return code
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _status(v: Verdict, args: argparse.Namespace) -> tuple[str, list[str]]:
    """The status and reasons: the full verdict, or with --criteria-only the criteria's part of it (both from view)."""
    if not args.criteria_only:
        return v.status, list(v.reasons)
    return v.criteria_status, list(v.criteria_reasons)


def _report(v: Verdict, args: argparse.Namespace, note: str, title: str = "") -> int:
    status, reasons = _status(v, args)
    if args.json:
        sys.stdout.buffer.write(json_bytes(_as_json(v, status, reasons, note)) + b"\n")
    else:
        out(render_table(v, status, reasons, note, title))
    return EXIT_FOR[status]


def status_text(c: CriterionView) -> str:
    if c.level == Level.UNKNOWN and c.unknown is not None:
        return f"UNKNOWN ({c.unknown.value})"
    if c.pending:
        return "WARN (breach pending)"
    return c.level.value


def render_table(v: Verdict, status: str, reasons: list[str], note: str = "", title: str = "") -> str:
    """The seeds' go/no-go table, Criterion | Threshold | Actual | Status, then the verdict and its reasons."""
    head = ["Criterion", "Threshold", "Actual", "Status"]
    rows = [
        [
            clean(c.criterion.name) + ("" if c.criterion.required else " (advisory)"),
            clean(c.criterion.threshold_text),
            clean(c.shown),
            status_text(c),
        ]
        for c in v.criteria
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)) + " |"

    lines = [
        f"{clean(title)} — {v.clock} — phase: {clean(v.phase_name)}"
        if title
        else f"{v.clock} — phase: {clean(v.phase_name)}"
    ]
    if note:
        lines.append(f"note: {clean(note)}")
    lines += ["", line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows), ""]
    if v.sources:
        lines.append("Sources:")
        lines += [f"  {clean(s.text(v.now - v.offset))}" for s in v.sources]
        lines.append("")
    lines.append(f"Verdict: {status}")
    lines += [f"  - {clean(r)}" for r in reasons]
    return "\n".join(lines)


def _as_json(v: Verdict, status: str, reasons: list[str], note: str) -> dict[str, Any]:
    return {
        "status": status,
        "exit_code": EXIT_FOR[status],
        "reasons": reasons,
        "note": note or None,
        "now": v.now,
        "clock": v.clock,
        "phase": v.phase_id,
        "sources": [
            {
                "name": s.name,
                "type": s.kind,
                "alerts": s.alerts,
                "state": s.state,
                "since": s.since,
                "error": s.error or None,
                "reason": s.reason or None,
                "feed": s.feed or None,
            }
            for s in v.sources
        ],
        "criteria": [
            {
                "id": c.criterion.id,
                "name": c.criterion.name,
                "threshold": c.criterion.threshold_text,
                "go": c.criterion.go,
                "unit": c.criterion.unit,
                "value": c.value,
                "actual": c.shown,
                "status": c.level.value,
                "unknown": c.unknown.value if c.unknown else None,
                "pending": c.pending,
                "reason": c.reason,
                "age": c.age,
                "required": c.criterion.required,
                "trigger_breached": c.trigger_breached,
            }
            for c in v.criteria
        ],
    }
