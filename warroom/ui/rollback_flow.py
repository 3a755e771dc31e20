"""Rolling back from the console: choose the way back, confirm it (typing the launch id), run it, and after a
failed run offer the other procedures with what the failed one said.

The runner is the one that decides (roles, locks, values checked afresh) and
records; this flow only asks, and never hands a second rollback to the runner
while one is running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

from warroom.core.records import RollbackPhase
from warroom.ui import fmt
from warroom.ui.safe import clean

if TYPE_CHECKING:
    from warroom.core.events import Event
    from warroom.rollback.procvalues import Choices
    from warroom.rollback.runner import RollbackRunner
    from warroom.ui.app import WarroomApp


class RollbackFlow:
    def __init__(self, app: WarroomApp) -> None:
        self.app = app

    def rollback(self, reason: str = "") -> None:
        """Roll back: with alternatives in the config, first choose the way back (each shown with what it runs)."""
        if self.app.launch.rollback.alternatives:
            self.choose(reason)
        else:
            self._dialog("primary", reason)

    def choose(self, reason: str = "", failure: list[str] | None = None) -> None:
        """Choose a procedure; after a failed run (`failure`: its output) only the others are offered."""
        from warroom.rollback.runner import plan_text
        from warroom.ui.modals import ProcedureChoice, ProcedureScreen

        app = self.app
        procs = app.launch.rollback.procedures
        failed = app.state.rollback.procedure if failure else None
        choices = [
            ProcedureChoice(pid, p.description or "", plan_text(app.launch, app.dry_run, pid))
            for pid, p in procs.items()
            if pid != failed
        ]
        if not choices:
            return

        def done(pid: str | None) -> None:
            if pid is not None:
                self._dialog(pid, reason or (f"procedure {failed} failed" if failed else ""))

        app.push_screen(ProcedureScreen(choices, failure or []), done)

    def _dialog(self, procedure: str, reason: str = "") -> None:
        from warroom.rollback.runner import RollbackRunner

        app = self.app
        assert app.dlog is not None, "the console's gate refuses rollback on a console that cannot write"
        down = self._unreachable()
        if down:  # before the dialog, so nothing is typed for nothing; the runner could not record the request
            app.notify(f"rollback refused: {down}", severity="error", timeout=20)
            return
        role_ids = [r.id for r in app.perms.roles]
        runner: RollbackRunner | None
        runner = RollbackRunner(app.launch, app.dlog, app.actor, dry_run=app.dry_run)
        why = runner.refusal(role_ids, app.mode == "observer")
        if why is None and app.state.rollback.status == "running":
            rb = app.state.rollback
            why = f"a rollback is already running (started by {rb.by} at {fmt.t_rel(rb.started, app.launch.t0)})"
            runner = None  # never hand this to the runner: it would run if the lock happened to be free
        if why is not None:
            app.notify(f"rollback refused: {why}", severity="error")
            if app.mode == "live":  # an observer records nothing, not even this
                if runner is not None:  # the runner records request + refusal its own way
                    app.run_worker(
                        self._record_refusal(runner, role_ids), group="rollback-refusal", exit_on_error=False
                    )
                else:
                    app.record_event("rollback", {"phase": RollbackPhase.REFUSED, "reason": why})
            return
        if any(p.choices_command for p in app.launch.rollback.procedures[procedure].params):
            app.run_worker(
                partial(self._list_choices_then_ask, procedure, reason),
                thread=True,
                exclusive=True,
                group="rollback-choices",
                exit_on_error=False,
            )
        else:
            self._ask(procedure, reason, {})

    def _list_choices_then_ask(self, procedure: str, reason: str) -> None:
        """A choices command may take seconds (its timeout is 10 s by default): listed off the UI thread."""
        from warroom.rollback import procvalues

        params = self.app.launch.rollback.procedures[procedure].params
        listed = {p.name: procvalues.list_choices(p) for p in params if p.choices_command}
        self.app.call_from_thread(self._ask, procedure, reason, listed)

    def _ask(self, procedure: str, reason: str, listed: Mapping[str, Choices]) -> None:
        """The rollback dialog, its allowed values already listed; the runner checks them afresh before it runs."""
        from warroom.rollback import procvalues
        from warroom.rollback.runner import plan_text
        from warroom.ui.modals import AskedValue, RollbackScreen  # dialogs load on first use

        app = self.app
        dry = bool(app.dry_run) or app.launch.rollback.dry_run
        proc = app.launch.rollback.procedures[procedure]
        plan = plan_text(app.launch, app.dry_run, procedure)
        asked = []
        for prm in proc.params:
            ch = listed.get(prm.name)
            hint = prm.description or "a value this procedure needs"
            asked.append(AskedValue(prm.name, hint, ch.values if ch else None, ch.error if ch else ""))
        screen = RollbackScreen(
            app.launch.id,
            plan,
            dry,
            reason,
            asked=asked,
            plan_for=lambda values: plan_text(app.launch, app.dry_run, procedure, values),
            check=lambda values: procvalues.check_values(proc, values, listed),
            start=partial(self._start, procedure),
        )
        app.push_screen(screen)

    def _unreachable(self) -> str | None:
        """Why a request could not be recorded now, from what the console knows (its follower lost the shared
        store), or None: said at once, rather than after the append's seconds of trying on the message loop."""
        down = getattr(getattr(self.app.driver, "follower", None), "problem", None)
        return f"not recorded: the database cannot be reached ({clean(down)}); nothing was run" if down else None

    async def _start(self, procedure: str, reason: str, values: dict[str, str]) -> str | None:
        """The dialog's confirm: start the run, and return once its request is in the log (None: the dialog
        closes, the run goes on) or it could not be recorded (why: the dialog stays, nothing was run)."""
        from warroom.rollback.runner import RollbackRunner

        app = self.app
        down = self._unreachable()
        if down:
            return down
        assert app.dlog is not None, "the console's gate refuses rollback on a console that cannot write"
        asked: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def heard(ev: Event) -> None:  # called by the runner after each append that is in the log
            if ev.data.get("phase") == RollbackPhase.REQUESTED and not asked.done():
                asked.set_result(None)

        runner = RollbackRunner(app.launch, app.dlog, app.actor, dry_run=app.dry_run, on_event=heard)
        app.run_worker(
            self._run(runner, reason, procedure, values, asked), exclusive=True, group="rollback", exit_on_error=False
        )
        return await asked

    async def _record_refusal(self, runner: RollbackRunner, role_ids: list[str]) -> None:
        try:
            await runner.run("rollback button pressed", automatic=False, roles=role_ids, observer=False)
        except Exception as e:
            self.app.notify(f"could not record the refusal: {type(e).__name__}: {e}", severity="error")
        self.app.catch_up()

    async def _run(
        self,
        runner: RollbackRunner,
        reason: str,
        procedure: str,
        values: dict[str, str],
        asked: asyncio.Future[str | None],
    ) -> None:
        """Run it; `asked` is told whether its request got into the log (the dialog waits on that). A request
        that did not is said by the dialog, which keeps what was typed: nothing ran, nothing more to say here."""
        app = self.app
        try:
            ok = await runner.run(
                reason,
                automatic=False,
                roles=[r.id for r in app.perms.roles],
                observer=False,
                procedure=procedure,
                values=values,
            )
        except Exception as e:
            if not asked.done():
                asked.set_result(f"not recorded: rollback could not run: {type(e).__name__}: {clean(str(e))}")
                return
            app.notify(f"rollback could not run: {type(e).__name__}: {e}", severity="error", timeout=30)
            app.catch_up()
            return
        finally:
            if not asked.done():  # cancelled, or the request's append failed (then `record_error` says why)
                why = runner.record_error or "the console stopped before it was written"
                said = "not confirmed" if "not confirmed" in why else "not recorded"  # OutcomeUnknown: it may be
                asked.set_result(f"{said}: the decision log could not take the request ({clean(why)}); nothing was run")
        if not runner.requested:
            return
        app.catch_up()
        msg = "rollback finished OK" if ok else "rollback did not finish OK — see the rollback panel"
        if runner.record_error:  # the panel cannot show what the log could not take
            msg = f"rollback stopped: the decision log could not be written ({runner.record_error})" + (
                "" if runner.ended else "; its outcome is NOT recorded yet (the next console records it)"
            )
        app.notify(msg, severity="information" if ok else "error", timeout=30)
        if not ok and runner.started_run and app.launch.rollback.alternatives:
            self.choose(failure=self._failure_lines())

    def _failure_lines(self) -> list[str]:
        """What the failed run said: its outcome and the output of the step that failed (from the fold)."""
        rb = self.app.state.rollback
        lines = [f"procedure '{rb.procedure}' failed: {rb.outcome}"]
        for i, step in enumerate(rb.steps, 1):
            if step.status not in ("ok", "skipped", "pending"):
                lines.append(f"step {i} '{step.name}': {step.status} {step.detail}".rstrip())
                lines += [f"  | {line}" for line in step.output[-15:]]
        return lines
