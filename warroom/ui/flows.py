"""What the console's actions do: the dialog flows (sign-off, decision, note, measure, trigger mode, jump) and
the recommendation prompt. Rollback's flows are in `warroom.ui.rollback_flow`.

Each flow opens its dialogs, checks what only it can check (a role, the
highlighted row) and hands the event to `WarroomApp.record_event`, which
appends it and reads it back. Whether the console may write at all is decided
before a flow starts, in one place (`WarroomApp.check_action` / `run_action`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.content import Content

from warroom.core.events import Event
from warroom.core.records import Ack, Decision, ItemMark, Note, RollbackPhase, TriggerMode, TriggerModeSet
from warroom.core.records import Rollback as RollbackRec
from warroom.core.records import Verdict as SignoffVerdict
from warroom.core.state import Verdict, actor_label, snapshot, view
from warroom.ui import fmt
from warroom.ui.panels import ChecklistPanel, firing_unacked
from warroom.ui.safe import clean, plain
from warroom.ui.silencing import expire_request

if TYPE_CHECKING:
    from warroom.ui.app import WarroomApp
    from warroom.ui.modals import RecommendationScreen, TextScreen

NOTE_DIALOG = "warroom-note"  # the note dialog's name among the app's installed screens
Breach = tuple[str, float | None]  # (criterion id, breached since): one recommendation prompt each


class Flows:
    """The console's actions, other than rollback, as flows over the app's driver and dialogs."""

    def __init__(self, app: WarroomApp) -> None:
        self.app = app
        self._note: TextScreen | None = None

    def _criteria_summary(self) -> list[Content]:
        app = self.app
        v = view(app.state, app.now())
        return [
            Content.assemble(fmt.level(cv.level.value), " ", plain(cv.criterion.name), " ", (clean(cv.shown), "$muted"))
            for cv in v.criteria
        ]

    # ---------------------------------------------------------------- checklist, notes, alerts

    def toggle_item(self) -> None:
        app = self.app
        checklist = app.panel("checklist")
        assert isinstance(checklist, ChecklistPanel)
        item_id = checklist.item_under_cursor() if app.console_screen.focused_table("checklist") else None
        if item_id is None:
            app.notify("highlight an item in the checklist first (key 2, then ↑/↓)", severity="warning")
            return
        _p, _s, item = app.launch.items_by_id[item_id]
        if item.criterion:
            app.notify(f"'{clean(item.text)}' ticks itself from criterion {item.criterion}", severity="warning")
            return
        done = app.state.items[item_id].done
        app.record_event("uncheck" if done else "check", ItemMark(item_id).to_data())

    def note(self) -> None:
        screen = self.note_dialog()
        if screen in self.app.screen_stack:  # open already (reached some other way than the note key)
            return
        screen.reset()  # empty, as each note starts
        self.app.push_screen(screen)

    def note_dialog(self) -> TextScreen:
        """The note dialog, made and installed once: opened again it is pushed as it is, not composed anew
        (`WarroomApp._prepare_dialogs` composes it before the first note, once the first frame is up)."""
        if self._note is None:
            from warroom.ui.modals import TextScreen  # dialogs load on first use

            async def save(text: str) -> str | None:
                """Recorded before the dialog closes: while the log cannot be written it stays open with the text."""
                _ev, why = await self.app.record_event_off_loop("note", Note(text).to_data())
                return why

            self._note = TextScreen(
                "Add a note to the decision log", "Note:", "what happened, what we decided", save=save
            )
            self.app.install_screen(self._note, NOTE_DIALOG)
        return self._note

    def measure(self) -> None:
        """A success metric measured outside Prometheus, entered by its owner (the report names who)."""
        from warroom.core.measurement import measurement_data
        from warroom.ui.measure import MeasureScreen

        app = self.app
        metrics = [(m.id, f"{m.name} ({m.target}, {m.check})") for m in app.launch.success_metrics]
        if not metrics:
            app.notify("this launch defines no success metrics", severity="warning")
            return

        def done(got: tuple[str, float, str, str] | None) -> None:
            if got is not None:
                app.record_event("measurement", measurement_data(*got))

        app.push_screen(MeasureScreen(metrics), done)

    def ack(self) -> None:
        app = self.app
        assert app.frame is not None
        table = app.console_screen.focused_table("alerts")
        alert = app.state.alerts.get(table.cursor_key or "") if table is not None else None
        if alert is None:
            firing = firing_unacked(app.frame)
            if not firing:
                app.notify("no firing alert waits for acknowledgement", severity="information")
                return
            alert = firing[0]
        if alert.acked_by is not None:
            app.notify(f"already acknowledged by {clean(alert.acked_by)}", severity="information")
            return
        if app.record_event("ack", Ack(alert.key).to_data()) is not None:
            app.notify(f"acknowledged: {clean(alert.title)}")

    def unsilence(self) -> None:
        """Ask the recording console to expire the silence an ack created (recorder/silences.py acts on it)."""
        app = self.app
        table = app.console_screen.focused_table("alerts")
        data, message = expire_request(app.state, table.cursor_key if table is not None else None)
        if data is not None and app.record_event("silence", data) is None:
            return
        app.notify(message, severity="information")

    # ---------------------------------------------------------------- sign-off and decision

    def signoff(self) -> None:
        app = self.app
        roles = app.perms.signing_roles
        if not roles:
            app.notify("none of your roles signs off in this launch", severity="warning")
            return
        table = app.console_screen.focused_table("signoffs")
        role = table.cursor_key if table else None
        app.run_worker(self._signoff([(r.id, r.title) for r in roles], role), exclusive=True, group="dialog")

    async def _signoff(self, roles: list[tuple[str, str]], role: str | None) -> None:
        """One dialog: it shows the snapshot, and its GO or NO-GO key (distinct keys) records the sign-off."""
        from warroom.ui.modals import VerdictChoice, VerdictScreen  # dialogs load on first use

        app = self.app
        reason, error = "", ""
        while True:  # the log could not record it (the database down, say): the dialog again, with what was typed
            screen = VerdictScreen(
                "Sign off", roles, self._criteria_summary(), role, records=True, reason=reason, error=error
            )
            choice = await app.push_screen_wait(screen)
            if not isinstance(choice, VerdictChoice):
                app.notify("sign-off not recorded")
                return
            title = app.launch.roles_by_id[choice.role].title
            if choice.role not in {r.id for r in app.perms.signing_roles}:
                app.notify(f"you do not hold the role {title}", severity="error")
                return
            data = {
                "role": choice.role,
                "verdict": choice.verdict,
                "reason": choice.reason,
                "snapshot": snapshot(app.state, app.now()),  # taken afresh at each attempt: what it is signed on
            }
            signed = await self._signed("signoff", data)
            if signed is None:
                return
            ev, why = await app.record_event_off_loop("signoff", signed)
            if ev is not None:
                app.notify(f"sign-off recorded: {title} {choice.verdict}, with a snapshot of every criterion")
                return
            if why is None or ("not recorded" not in why and "not confirmed" not in why):
                return  # refused outright (a role, a read-only console): said already, no use asking again
            reason, role, error = choice.reason, choice.role, why

    async def _signed(self, kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """The data signed by the user's ssh-agent when the config asks (in a worker thread, with a timeout);
        None if it must be and cannot be (the message says why). `signatures: off` returns it as it is."""
        app = self.app
        if app.launch.signatures == "off":
            return data
        import asyncio

        from warroom.trust.console import sign_event
        from warroom.trust.signing import SigningError

        app.notify("asking your ssh-agent to sign…", timeout=5)
        head = (app.state.seq, app.state.head)
        trust = getattr(app.driver, "trust", None)
        signers = trust.signers if trust is not None else None
        try:
            return await asyncio.to_thread(sign_event, app.launch, app.actor, kind, data, head, signers)
        except SigningError as e:
            if app.launch.signatures == "required":
                app.notify(f"not recorded: {e}", title="Signing failed", severity="error", timeout=30)
                return None
            app.notify(f"recorded unsigned: {e}", title="Not signed", severity="warning", timeout=20)
            return data

    def decision(self) -> None:
        if not self.app.perms.commander:
            self.app.notify("only the launch commander records the final decision", severity="warning")
            return
        self.app.run_worker(self._decision(), exclusive=True, group="dialog")

    async def _decision(self) -> None:
        from warroom.ui.modals import ConfirmScreen, VerdictChoice, VerdictScreen  # dialogs load on first use

        app = self.app
        v = view(app.state, app.now())
        summary = [Content.assemble("Verdict now: ", fmt.level(v.status))] + self._criteria_summary()
        choice = await app.push_screen_wait(
            VerdictScreen("Final decision", [("commander", "Launch Commander")], summary)
        )
        if not isinstance(choice, VerdictChoice):
            return
        lines: list[Content | str] = [
            Content.assemble("Record the FINAL decision: ", fmt.level(choice.verdict)),
            Content.assemble("Reason: ", plain(choice.reason or "(none)")),
        ]
        if choice.verdict == "GO" and v.status != "GO":
            lines.append(Content.styled(f"warning: the console's verdict is {v.status}", "bold $gate-warn"))
        if await app.push_screen_wait(ConfirmScreen("Confirm decision", lines)):
            decision = Decision(SignoffVerdict(choice.verdict), choice.reason).to_data()
            signed = await self._signed("decision", decision)
            if signed is not None:
                app.record_event("decision", signed)

    # ---------------------------------------------------------------- triggers

    def trigger_mode(self) -> None:
        from warroom.ui.modals import TriggerModeScreen  # dialogs load on first use

        app = self.app
        if not app.perms.may_set_triggers(app.launch):
            app.notify("only the commander or a role allowed to roll back may switch triggers", severity="warning")
            return
        triggers = [
            (c.id, c.name, c.trigger.when, app.state.criteria[c.id].trigger_mode)
            for c in app.launch.criteria
            if c.trigger is not None
        ]
        if not triggers:
            app.notify("this launch has no rollback triggers", severity="information")
            return
        table = app.panel("gates").table

        def done(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            cid, mode = result
            if app.state.criteria[cid].trigger_mode == mode:
                app.notify(f"{cid} is already {mode}")
                return
            app.record_event("trigger_mode", TriggerModeSet(cid, TriggerMode(mode)).to_data())

        app.push_screen(TriggerModeScreen(triggers, table.cursor_key, app.launch.rollback.auto_allowed), done)

    # ---------------------------------------------------------------- replay

    def replay_jump(self) -> None:
        from warroom.ui.modals import TextScreen  # dialogs load on first use

        def done(text: str | None) -> None:
            if text:
                self.app.replay_seek_text(text)

        self.app.push_screen(
            TextScreen("Jump to a moment", "Time (T+HH:MM, T+HH:MM:SS, T-5m, T+1h30m):", "T+00:37"), done
        )


class Recommendations:
    """A 'recommend' trigger that breached asks once per breach: bell + a dialog with the evidence.

    Whoever answers first (on any console on the log) answers for all: the answer is an event, and a console
    that reads someone else's answer closes its own prompt.
    """

    def __init__(self, app: WarroomApp) -> None:
        self.app = app
        self._answered: set[Breach] = set()
        self._prompted: set[Breach] = set()
        self._open: tuple[Breach, RecommendationScreen] | None = None

    def check(self, v: Verdict) -> None:
        app = self.app
        if app.mode == "replay":
            return
        for cv in v.criteria:
            c = cv.criterion
            if not (cv.trigger_breached and cv.trigger_mode == "recommend" and c.trigger is not None):
                continue
            since = app.state.criteria[c.id].tracker.since
            key = (c.id, since)
            if key in self._answered or key in self._prompted:
                continue
            self._prompted.add(key)
            app.bell()
            if app.mode != "live" or not app.perms.may_set_triggers(app.launch):
                app.notify(
                    f"rollback recommended: {c.name} {cv.reason}",
                    title="ROLLBACK RECOMMENDED",
                    severity="error",
                    timeout=60,
                )
                continue
            evidence = [
                Content.assemble(("Criterion: ", "$muted"), (clean(c.name), "bold"), f" ({c.id})"),
                Content.assemble(
                    ("Value: ", "$muted"),
                    (clean(cv.shown), "bold $gate-rollback"),
                    ("   trigger: ", "$muted"),
                    clean(c.trigger.when),
                    ("   go: ", "$muted"),
                    clean(c.go),
                ),
                Content.assemble(
                    ("Since: ", "$muted"),
                    fmt.t_rel(since, app.launch.t0),
                    f" ({fmt.age(None if since is None else v.now - since)} ago)",
                ),
                Content.assemble(("Why: ", "$muted"), clean(cv.reason)),
                Content.styled(
                    "Roll back now, hold (keep the launch as is), or freeze changes and keep watching?", "bold"
                ),
            ]
            app.run_worker(self._ask(key, c.id, cv.value, c.trigger.when, evidence), group="recommend")
            return  # one prompt at a time; the next repaint asks about the next breach

    async def _ask(self, key: Breach, cid: str, value: float | None, when: str, evidence: list[Content]) -> None:
        from warroom.ui.modals import RecommendationScreen  # dialogs load on first use

        app = self.app
        screen = RecommendationScreen(cid, evidence)
        self._open = (key, screen)
        choice = await app.push_screen_wait(screen)
        self._open = None
        if choice is None or key in self._answered:
            return
        app.record_event(
            "rollback",
            {
                "phase": RollbackPhase.RECOMMENDATION,
                "choice": choice,
                "criterion": cid,
                "since": key[1],
                "value": value,
                "threshold": when,
            },
        )
        if choice == "rollback":
            app.rollbacks.rollback(reason=f"recommended by trigger {cid} ({when})")

    def heard(self, events: list[Event]) -> None:
        """Answers read from the log (this console's or another's)."""
        for ev in events:
            p = ev.payload if ev.kind == "rollback" else None
            if isinstance(p, RollbackRec) and p.phase == RollbackPhase.RECOMMENDATION:
                self._answered_by(ev, p)

    def _answered_by(self, ev: Event, p: RollbackRec) -> None:
        key = (str(p.criterion), p.since)
        self._answered.add(key)
        pending = self._open
        if pending is not None and pending[0] == key and ev.actor != self.app.actor:
            self._open = None
            pending[1].dismiss(None)
            self.app.notify(f"{actor_label(ev.actor)} answered the recommendation: {p.choice}")
