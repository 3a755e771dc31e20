"""Auto-rollback: when a criterion in trigger mode `auto` is confirmed ROLLBACK, start the procedure once.

The decision is a pure function of the folded state and its view, so it can be
tested (and explained) without a clock or a process: it fires only on a
confirmed ROLLBACK level whose latest sample is a real, fresh value (the view
keeps a confirmed breach through UNKNOWN or stale data, as it should for the
verdict, but acting without a human on data we no longer see is not fail-safe),
only if the config allows it, only when no rollback is running, once per breach
(a breach is identified by the time the criterion was confirmed ROLLBACK,
recorded in the `requested` event), and not again until `rollback.cooldown` has
passed since the last rollback started.

The triggering values go into the log as evidence; they are never passed to a
command (the steps are the config's, verbatim).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from warroom.config import Launch
from warroom.core.events import Actor, current_actor
from warroom.core.rules import Level
from warroom.core.state import LaunchState, Verdict, is_stale, view
from warroom.rollback.runner import EventHook, OutputHook, RollbackRunner, recover_interrupted, running_marker
from warroom.store.base import Store
from warroom.store.log import DecisionLog


def auto_rollback_due(state: LaunchState, verdict: Verdict, now: float) -> tuple[str, dict] | None:
    """Pure: (reason, triggering values) when some criterion whose trigger mode is 'auto' is confirmed ROLLBACK
    (never on UNKNOWN), the config allows auto-rollback, no rollback is running, none has fired for this breach
    already, and the cooldown since the last rollback has passed."""
    rb_cfg = state.launch.rollback
    rb = state.rollback
    if not rb_cfg.auto_allowed or not rb_cfg.steps or rb.status == "running":
        return None
    if rb.started is not None and now - rb.started < rb_cfg.cooldown:
        return None
    breached: dict[str, dict[str, Any]] = {}
    for cv in verdict.criteria:
        c = cv.criterion
        if cv.trigger_mode != "auto" or cv.level != Level.ROLLBACK or c.trigger is None:
            continue
        cs = state.criteria[c.id]
        if cs.error is not None or is_stale(c, cs, now):
            continue  # a held breach whose latest data is UNKNOWN or stale: a human decides, not us
        since = cs.tracker.held_since if cs.tracker.held == Level.ROLLBACK else cs.tracker.since
        if since is not None and rb.auto_fired.get(c.id) == since:
            continue  # this breach already fired once
        breached[c.id] = {
            "name": c.name,
            "value": cv.value,
            "shown": cv.shown,
            "unit": c.unit,
            "trigger": c.trigger.when,
            "reason": cv.reason,
            "since": since,
            "sample_t": cs.t,
        }
    if not breached:
        return None
    what = "; ".join(f"{b['name']} {b['shown']} (trigger {b['trigger']})" for b in breached.values())
    return f"auto-rollback: {what}", {"criteria": breached, "at": now}


LEASE_LOOK = 2.0  # seconds between looks for a shared store's run whose runner let its lease lapse


class AutoRollbackWatcher:
    """Starts the procedure when `auto_rollback_due` says so; the console calls `on_state` every tick
    while it holds the recorder lock (so exactly one process watches a log)."""

    def __init__(
        self,
        launch: Launch,
        log: Store,
        actor: Actor | None = None,
        *,
        dry_run: bool | None = None,
        clock: Callable[[], float] = time.time,
        on_output: OutputHook | None = None,
        on_event: EventHook | None = None,
    ):
        base = actor if actor is not None else current_actor()
        self.actor = dataclasses.replace(base, name="auto-rollback")
        self.launch = launch
        self.log = log
        self.dry_run = dry_run
        self.clock = clock
        self.on_output = on_output
        self.on_event = on_event
        self.task: asyncio.Task[bool] | None = None
        self._fired: set[tuple[str, float | None]] = set()
        self._last_fire: float | None = None
        self._next_lease_look = 0.0  # a shared store: when to look next for a run whose runner's lease lapsed

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def on_state(
        self, state: LaunchState, now: float, verdict: Verdict | None = None
    ) -> asyncio.Task[bool] | None:
        """Check once; start the procedure in the background if due. Returns the task started, if any."""
        if self.running:
            return None
        if state.rollback.status == "running":
            if running_marker(self.log.side_base).exists():
                recover_interrupted(self.log, self.actor)  # a runner died mid-run; record it, unblock triggers
            elif not isinstance(self.log, DecisionLog) and time.monotonic() >= self._next_lease_look:
                # a shared store: the runner may be on another host (no marker here); its lease tells (runner.py).
                # Off the loop and at most every LEASE_LOOK: it asks the database.
                self._next_lease_look = time.monotonic() + LEASE_LOOK
                await asyncio.to_thread(recover_interrupted, self.log, self.actor, open_in_fold=True)
            return None
        due = auto_rollback_due(state, verdict if verdict is not None else view(state, now), now)
        if due is None:
            return None
        reason, triggering = due
        # The state may not include our own `requested` event yet: remember locally too.
        keys = {(cid, b.get("since")) for cid, b in triggering["criteria"].items()}
        if keys <= self._fired:
            return None
        if self._last_fire is not None and now - self._last_fire < self.launch.rollback.cooldown:
            return None
        self._fired |= keys
        self._last_fire = now
        runner = RollbackRunner(
            self.launch,
            self.log,
            self.actor,
            dry_run=self.dry_run,
            clock=self.clock,
            on_output=self.on_output,
            on_event=self.on_event,
        )
        self.task = asyncio.create_task(runner.run(reason, automatic=True, triggering=triggering))
        return self.task
