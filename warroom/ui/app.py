"""The war-room console. It draws only `view(state, now)`; its own actions go to the log and come back from it.

Live: a Follower reads new events from the decision log every quarter second
and folds them into the console's LaunchState; the console's actions (tick,
sign-off, note, ack, trigger mode, decision, rollback) are appended to the log
and reach the screen by being read back, so every console on the log shows
the same thing. Observer: the same, but nothing is ever written. Replay: the
state comes from a ReplaySource at the playhead, and `now` is the playhead.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Footer

from warroom.config import ConfigError, ConfigProblem, Launch
from warroom.core.events import SCHEMA_VERSION, Actor, Event
from warroom.core.state import LaunchState, Verdict, actor_label, snapshot, view
from warroom.store.launchlog import bind, first_launch_event, recorded_t0, with_t0
from warroom.store.log import DecisionLog, Follower, LogCorrupt
from warroom.ui import fmt, keymap
from warroom.ui.commands import WarroomCommands
from warroom.ui.frame import ConsoleInfo, Frame
from warroom.ui.header import PANELS, HeaderBar, ReplayBar, TabBar
from warroom.ui.panels import (
    PANEL_TYPES,
    ChecklistPanel,
    Panel,
    firing_unacked,
)
from warroom.ui.playhead import Playhead, ReplaySource, parse_moment_text
from warroom.ui.rowtable import RowTable
from warroom.ui.safe import clean, plain
from warroom.ui.session import Permissions, config_text, permissions
from warroom.ui.themes import choose as choose_theme
from warroom.ui.themes import gate_defaults, load_themes

if TYPE_CHECKING:
    from warroom.rollback.procvalues import Choices
    from warroom.ui.modals import RecommendationScreen

Mode = Literal["live", "observer", "replay"]
TABS_BELOW = (120, 36)  # narrower or lower than this: one panel at a time
PANEL_IDS = tuple(pid for pid, _title in PANELS)


class WarroomApp(App[int]):
    # absolute, so subclasses defined elsewhere (the replay command's) still find them
    CSS_PATH: ClassVar[list[str | Path]] = [
        Path(__file__).parent / "layout.tcss",  # type: ignore[assignment]
        Path(__file__).parent / "look.tcss",
    ]
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings()  # type: ignore[assignment]
    COMMANDS = App.COMMANDS | {WarroomCommands}
    TITLE = "warroom"

    def __init__(
        self,
        launch: Launch,
        *,
        log_path: Path | None,
        actor: Actor,
        mode: Mode = "live",
        theme: str | None = None,
        clock: Callable[[], float] = time.time,
        replay: ReplaySource | None = None,
        record: bool = True,
        config_text: str | None = None,
        config_path: str | None = None,
        dry_run: bool | None = None,
        poll_interval: float = 0.25,
    ):
        no_color = "NO_COLOR" in os.environ  # read before Textual takes it out of the environment
        super().__init__()
        if mode == "replay" and replay is None:
            raise ValueError("replay mode needs a ReplaySource")
        self.launch = launch
        self.log_path = Path(log_path) if log_path is not None else None
        self.actor = actor
        self.perms: Permissions = permissions(launch, actor, mode)
        self.mode: Mode = "observer" if mode == "live" and self.perms.observer else mode
        self.clock = clock
        self.replay = replay
        self.record = record and self.mode == "live"
        self.dry_run = dry_run
        self.poll_interval = poll_interval
        self._config_text = config_text
        self._config_path = config_path or ""
        self.state = LaunchState(launch)
        self.trust: Any = None  # warroom.trust.console.ConsoleTrust once the log is open
        self.frame: Frame | None = None
        self.dlog: DecisionLog | None = None
        self.follower: Follower | None = None
        self.playhead: Playhead | None = None
        self.recorder: Any = None
        self.watcher: Any = None  # auto-rollback, run by whichever console records
        self.recorder_status = ""
        self.startup_error: str | None = None
        self.active_panel = "gates"
        self._dirty = True
        self._last_second: int | None = None
        self._last_sig: tuple[Any, ...] | None = None
        self._answered: set[tuple[str, float | None]] = set()
        self._prompted: set[tuple[str, float | None]] = set()
        self._recommendation: tuple[tuple[str, float | None], RecommendationScreen] | None = None
        self._session_open = False
        self._follow_failed = False
        self._last_tick = time.monotonic()
        self._notes: list[tuple[str, str]] = []
        loaded = load_themes()
        for t in loaded.themes.values():
            self.register_theme(t)
        self._notes.extend(("warning", p) for p in loaded.problems)
        name, problem = choose_theme(theme, self.available_themes, no_color)
        if problem:
            self._notes.append(("warning", problem))
        self.theme = name

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is plain text: they quote alert titles, notes and errors from outside."""
        super().notify(
            clean(message, newlines=" · "), title=clean(title), severity=severity, timeout=timeout, markup=False
        )

    # ------------------------------------------------------------------ layout

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return gate_defaults(self.current_theme)

    def compose(self) -> ComposeResult:
        self._screen_mode(self.size.width, self.size.height)  # before the first layout, not after it
        yield HeaderBar(id="header")
        if self.mode == "replay":
            yield ReplayBar(id="replaybar")
        yield TabBar()
        with Container(id="body"):
            panels = {p.pid: p for p in (cls() for cls in PANEL_TYPES)}
            panels[self.active_panel].add_class("-active")
            with Vertical(id="col-main", classes="slot -active"):
                yield panels["gates"]
                with Horizontal(id="row-lower", classes="slot"):
                    yield panels["checklist"]
                    yield panels["alerts"]
            with Vertical(id="col-side", classes="slot"):
                yield panels["signoffs"]
                yield panels["rollback"]
                yield panels["log"]
        yield Footer(compact=True, show_command_palette=False)

    def on_resize(self, event: Any) -> None:
        self._apply_layout()

    @property
    def tabbed(self) -> bool:
        return self.screen.has_class("-tabs")

    def _screen_mode(self, w: int, h: int) -> None:
        screen = self.screen_stack[0] if self.screen_stack else self.screen
        tabs = w < TABS_BELOW[0] or h < TABS_BELOW[1]
        screen.set_class(tabs, "-tabs")
        screen.set_class(not tabs, "-wide")

    def _apply_layout(self) -> None:
        self._screen_mode(*self.size)
        active = self.panel(self.active_panel)
        slots = {id(n) for n in active.ancestors if isinstance(n, Widget) and n.has_class("slot")}
        for node in self.query(".slot, .panel"):
            node.set_class(node is active or id(node) in slots, "-active")
        self.query_one(TabBar).set(active=self.active_panel)

    def panel(self, pid: str) -> Panel:
        return self.query_one(f"#panel-{pid}", Panel)

    # ------------------------------------------------------------------ startup

    def on_mount(self) -> None:
        for severity, text in self._notes:
            self.notify(text, severity=severity)
        self._apply_layout()
        try:
            if self.mode == "replay":
                self._start_replay()
            else:
                self._start_follow()
        except (ConfigError, LogCorrupt, OSError) as e:
            self.startup_error = str(e)
            self.exit(2, return_code=2, message=Text(str(e)))
            return
        self.set_interval(self.poll_interval, self._tick)
        self._repaint(force=True)
        self.panel(self.active_panel).table.focus()

    def _start_follow(self) -> None:
        assert self.log_path is not None, "live and observer consoles need a log"
        if self.mode == "live":
            self.dlog = DecisionLog(self.log_path, self.actor, self.clock)
            text = self._config_text if self._config_text is not None else config_text(self.launch)
            launch, _ev = bind(self.dlog, self.launch, text, self._config_path)
        else:
            first = first_launch_event(self.log_path)
            launch = self.launch
            if first is not None and first.data.get("id") not in (None, launch.id):
                raise ConfigError(
                    [
                        ConfigProblem(
                            str(self.log_path),
                            None,
                            "",
                            f"this log belongs to launch '{first.data.get('id')}', not '{launch.id}'",
                            "pass the matching config, or another --log path",
                        )
                    ]
                )
            if first is not None:
                t0 = recorded_t0(first, launch, self.log_path)
                launch = with_t0(launch, t0) if t0 != launch.t0 else launch
        if launch is not self.launch:
            self.launch = launch
            self.perms = permissions(launch, self.actor, self.mode)
        self.state = LaunchState(self.launch)
        self.follower = Follower(self.log_path)
        from warroom.trust.console import ConsoleTrust  # signatures verified, head anchored (docs/trust.md)

        self.trust = ConsoleTrust(self.launch, self.state, self.log_path, self._config_path)
        self._apply(self.follower.poll())
        if (cut := self.trust.problem()) is not None:
            self.notify(cut, title="Log truncated or rewritten", severity="error", timeout=120)
        if self.follower.torn:
            self.notify(
                f"the log's last line was torn by an interrupted write ({len(self.follower.torn)} bytes); "
                "every complete event is shown, and the next write moves it to a .torn file and records that",
                title="Recovered after a crash",
                severity="warning",
                timeout=30,
            )
        if self.dlog is not None:
            self.dlog.append("session", {"state": "opened", "mode": self.mode, "pid": os.getpid()})
            self._session_open = True
            if self.dlog.recovered_torn and not self.follower.torn:
                self.notify("a torn last line from an interrupted write was set aside", severity="warning")
            self._poll()
            if self.record:
                # after the first frame: importing the sources takes a while and is not needed to draw
                self.call_after_refresh(self._start_recorder)

    def _start_replay(self) -> None:
        rp = self.replay
        assert rp is not None
        self.playhead = Playhead(rp.start, rp.end, rp.start)
        self.state = rp.state_at(rp.start)

    # ------------------------------------------------------------------ recorder

    def _start_recorder(self) -> None:
        from warroom.recorder.loop import Recorder
        from warroom.rollback.auto import AutoRollbackWatcher  # after the first frame: not needed to draw

        assert self.dlog is not None, "only a live console records, and it has opened the log"
        first = first_launch_event(self.log_path) if self.log_path else None
        epoch = first.ts if first is not None else self.clock()
        try:
            self.recorder = Recorder(self.launch, self.dlog, clock=self.clock, epoch=epoch)
        except (OSError, ValueError) as e:  # e.g. an unreadable credentials file: say so, keep the console up
            self.recorder_status = f"not recording: {e}"
            self.notify(self.recorder_status, severity="error", timeout=30)
            return
        self.recorder_status = "starting recorder"
        self.watcher = AutoRollbackWatcher(self.launch, self.dlog, self.actor, dry_run=self.dry_run, clock=self.clock)
        self._run_recorder()

    @work(exclusive=True, group="recorder", exit_on_error=False)
    async def _run_recorder(self) -> None:
        try:
            await self.recorder.run()
        except Exception as e:
            self.recorder_status = f"recorder stopped: {type(e).__name__}: {e}"
            self.notify(self.recorder_status, severity="error", timeout=30)
            self.recorder = None

    def _recorder_text(self) -> str:
        if self._follow_failed:
            return "LOG DAMAGED: not following (run 'warroom verify')"
        if self.recorder is not None:
            failure = getattr(self.recorder, "write_failure", None)
            if failure is not None:  # at once, not when the criteria go STALE: every observation is being lost
                return f"recording FAILING: {failure.reason}"
            return "recording" if self._is_leader() else "following"
        return self.recorder_status or ("following" if self.mode == "live" else "")

    # ------------------------------------------------------------------ the loop

    def now(self) -> float:
        return self.playhead.t if self.playhead is not None else self.clock()

    def _tick(self) -> None:
        if not self.is_running:  # shutting down: the widgets are going, a repaint would find none
            return
        if self.playhead is not None:
            mono = time.monotonic()
            moved = self.playhead.advance(mono - self._last_tick)
            self._last_tick = mono
            if moved:
                self._load_replay_state()
            return
        self._poll()

    def _poll(self) -> None:
        """Read what was appended since the last poll (by anyone, this console included) and repaint."""
        if self.follower is not None and not self._follow_failed:
            try:
                events = self.follower.poll()
            except (LogCorrupt, OSError) as e:
                self._follow_failed = True
                self.notify(
                    f"stopped following the log: {e}. Run 'warroom verify' on it.",
                    title="Log damaged",
                    severity="error",
                    timeout=60,
                )
                events = []
            self._apply(events)
        self._repaint()

    def _apply(self, events: list[Event]) -> None:
        if self.trust is not None and events:
            self.trust.feed(events)  # signature verdicts reach the fold as data, before it folds them
            self.trust.remember()
        for ev in events:
            self.state.apply(ev)
            if ev.kind == "rollback" and ev.data.get("phase") == "recommendation":
                self._recommendation_answered(ev)
        if events:
            self._dirty = True

    def _load_replay_state(self) -> None:
        assert self.replay is not None and self.playhead is not None
        self.state = self.replay.state_at(self.playhead.t)
        self._dirty = True
        self._repaint()

    def info(self) -> ConsoleInfo:
        roles = tuple(r.title for r in self.perms.roles)
        note = self.perms.why if self.mode == "observer" else ""
        if self.mode == "replay" and self.replay is not None:
            note = self.replay.integrity
        dry = bool(self.dry_run) if self.dry_run is not None else False
        return ConsoleInfo(self.mode, self._who, roles, self._recorder_text(), str(self.log_path or ""), note, dry)

    def _repaint(self, force: bool = False) -> None:
        """Recompute the view; touch only the panels whose input changed, and only the cells that did."""
        now = self.now()
        second = int(now)
        if not (force or self._dirty or second != self._last_second):
            return
        self._last_second = second
        v = view(self.state, now)
        frame = Frame(v, self.state, self.info())
        self.frame = frame
        sig = (
            v.status,
            v.phase_id,
            tuple(cv.level for cv in v.criteria),
            tuple(s.stale for s in v.signoffs),
            frame.info,
        )
        full = force or self._dirty or sig != self._last_sig
        self._dirty = False
        self._last_sig = sig
        self.query_one(HeaderBar).show(frame)
        self.panel("gates").show(frame)
        if self.playhead is not None:
            rp = self.replay
            assert rp is not None
            self.query_one(ReplayBar).set(
                self.playhead.t, rp.start, rp.end, self.launch.t0, self.playhead.speed, self.playhead.playing
            )
        if full:
            for pid in ("checklist", "alerts", "signoffs", "rollback", "log"):
                self.panel(pid).show(frame)
            self._tab_badges(frame)
            self._check_recommendations(v)
            self._check_auto_rollback(v)

    def _tab_badges(self, f: Frame) -> None:
        v = f.verdict
        bad = sum(1 for cv in v.criteria if cv.level.value in ("NO-GO", "ROLLBACK"))
        firing = sum(1 for a in f.state.alerts.values() if a.firing)
        pending = sum(1 for s in v.signoffs if s.required and (s.signoff is None or s.stale))
        rb = f.state.rollback.status
        self.query_one(TabBar).set(
            badges={
                "gates": f" ✖{bad}" if bad else "",
                "checklist": f" {v.done}/{v.total}",
                "alerts": f" !{firing}" if firing else "",
                "signoffs": f" …{pending}" if pending else "",
                "rollback": f" {rb.upper()}" if rb not in ("idle",) else "",
                "log": "",
            }
        )

    # ------------------------------------------------------------------ writing (live only)

    def refusal(self) -> str | None:
        if self.mode == "replay":
            return "replay is read-only: nothing can be changed"
        if self.mode == "observer" or self.dlog is None:
            return "OBSERVER console: read only" + (f" ({self.perms.why})" if self.perms.why else "")
        return None

    def record_event(self, kind: str, data: dict[str, Any]) -> Event | None:
        """Append one event for this console's actor and read it back onto the screen."""
        why = self.refusal() or self._authority_refusal(kind, data)
        if why is not None:
            self.notify(why, severity="warning")
            return None
        assert self.dlog is not None
        try:
            ev = self.dlog.append(kind, data)
        except (OSError, LogCorrupt) as e:
            self.notify(f"not recorded: {e}", title="Log write failed", severity="error", timeout=20)
            return None
        self._poll()
        return ev

    @property
    def _who(self) -> str:
        """This console's actor for the header: marked claimed when its roles rest on its --as name."""
        from warroom.core.authority import claims

        return dataclasses.replace(self.actor, claimed=claims(self.launch, self.actor)).label

    def _authority_refusal(self, kind: str, data: dict[str, Any]) -> str | None:
        """The fold's own authority rule, asked before writing: refused up front rather than recorded as refused."""
        from warroom.core.authority import SigVerdict, refusal

        probe = Event(SCHEMA_VERSION, self.state.seq + 1, self.now(), self.actor, kind, data)
        return refusal(self.launch, probe, SigVerdict(True, self.actor.user))  # a signature we made ourselves

    def _focused_table(self, pid: str) -> RowTable | None:
        table = self.panel(pid).table
        return table if self.focused is table else None

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in keymap.ACTIONS and len(self.screen_stack) > 1:
            return False  # a dialog is open: its keys, not the console's (ctrl+q still quits)
        return keymap.available(action, self.mode)

    async def action_quit_console(self) -> None:
        await self.action_quit()

    def action_help(self) -> None:
        from warroom.ui.modals import HelpScreen  # dialogs load on first use

        self.push_screen(HelpScreen(self.mode, str(self.log_path or "")))

    def action_reasons(self) -> None:
        from warroom.ui.modals import ReasonsScreen  # dialogs load on first use

        if self.frame is not None:
            v = self.frame.verdict
            self.push_screen(ReasonsScreen(v.status, v.clock, v.reasons))

    def action_show_panel(self, pid: str) -> None:
        if pid not in PANEL_IDS:
            return
        self.active_panel = pid
        self._apply_layout()
        table = self.panel(pid).table
        # now, not only via Widget.focus (a queued callback): keys typed right after the panel key go here
        table.screen.set_focus(table)
        if table.screen.focused is not table:  # not focusable yet (its layout is not applied): once it is
            table.focus()

    def on_descendant_focus(self, event: Any) -> None:
        node = event.widget
        while node is not None and not isinstance(node, Panel):
            node = node.parent
        if isinstance(node, Panel) and node.pid != self.active_panel:
            self.active_panel = node.pid
            self.query_one(TabBar).set(active=node.pid)

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        if event.table is self.panel("checklist").table:
            self.action_toggle_item()

    def action_toggle_item(self) -> None:
        if (why := self.refusal()) is not None:
            self.notify(why, severity="warning")
            return
        checklist = self.panel("checklist")
        assert isinstance(checklist, ChecklistPanel)
        item_id = checklist.item_under_cursor() if self._focused_table("checklist") else None
        if item_id is None:
            self.notify("highlight an item in the checklist first (key 2, then ↑/↓)", severity="warning")
            return
        _p, _s, item = self.launch.items_by_id[item_id]
        if item.criterion:
            self.notify(f"'{clean(item.text)}' ticks itself from criterion {item.criterion}", severity="warning")
            return
        done = self.state.items[item_id].done
        self.record_event("uncheck" if done else "check", {"item": item_id})

    def action_note(self) -> None:
        from warroom.ui.modals import TextScreen  # dialogs load on first use

        if (why := self.refusal()) is not None:
            self.notify(why, severity="warning")
            return

        def done(text: str | None) -> None:
            if text:
                self.record_event("note", {"text": text})

        self.push_screen(TextScreen("Add a note to the decision log", "Note:", "what happened, what we decided"), done)

    def action_measure(self) -> None:
        """A success metric measured outside Prometheus, entered by its owner (the report names who)."""
        from warroom.core.measurement import measurement_data
        from warroom.ui.measure import MeasureScreen

        if (why := self.refusal()) is not None:
            self.notify(why, severity="warning")
            return
        metrics = [(m.id, f"{m.name} ({m.target}, {m.check})") for m in self.launch.success_metrics]
        if not metrics:
            self.notify("this launch defines no success metrics", severity="warning")
            return

        def done(got: tuple[str, float, str, str] | None) -> None:
            if got is not None:
                self.record_event("measurement", measurement_data(*got))

        self.push_screen(MeasureScreen(metrics), done)

    def action_ack(self) -> None:
        if (why := self.refusal()) is not None:
            self.notify(why, severity="warning")
            return
        assert self.frame is not None
        table = self._focused_table("alerts")
        alert = self.state.alerts.get(table.cursor_key or "") if table is not None else None
        if alert is None:
            firing = firing_unacked(self.frame)
            if not firing:
                self.notify("no firing alert waits for acknowledgement", severity="information")
                return
            alert = firing[0]
        if alert.acked_by is not None:
            self.notify(f"already acknowledged by {clean(alert.acked_by)}", severity="information")
            return
        if self.record_event("ack", {"alert": alert.key}) is not None:
            self.notify(f"acknowledged: {clean(alert.title)}")

    def _criteria_summary(self) -> list[Content]:
        v = view(self.state, self.now())
        return [
            Content.assemble(fmt.level(cv.level.value), " ", plain(cv.criterion.name), " ", (clean(cv.shown), "$muted"))
            for cv in v.criteria
        ]

    def action_signoff(self) -> None:
        if (why := self.refusal()) is not None:
            self.notify(why, severity="warning")
            return
        roles = self.perms.signing_roles
        if not roles:
            self.notify("none of your roles signs off in this launch", severity="warning")
            return
        table = self._focused_table("signoffs")
        self._signoff_flow([(r.id, r.title) for r in roles], table.cursor_key if table else None)

    @work(exclusive=True, group="dialog")
    async def _signoff_flow(self, roles: list[tuple[str, str]], role: str | None) -> None:
        from warroom.ui.modals import ConfirmScreen, VerdictChoice, VerdictScreen  # dialogs load on first use

        choice = await self.push_screen_wait(VerdictScreen("Sign off", roles, self._criteria_summary(), role))
        if not isinstance(choice, VerdictChoice):
            return
        title = self.launch.roles_by_id[choice.role].title
        lines: list[Content | str] = [
            Content.assemble("Record sign-off for ", (clean(title), "bold"), ": ", fmt.level(choice.verdict)),
            Content.assemble("Reason: ", plain(choice.reason or "(none)")),
            Content.styled("with a snapshot of every criterion's value and state at this moment", "$muted"),
        ]
        if not await self.push_screen_wait(ConfirmScreen("Confirm sign-off", lines)):
            self.notify("sign-off not recorded")
            return
        if choice.role not in {r.id for r in self.perms.signing_roles}:
            self.notify(f"you do not hold the role {title}", severity="error")
            return
        data = {
            "role": choice.role,
            "verdict": choice.verdict,
            "reason": choice.reason,
            "snapshot": snapshot(self.state, self.now()),
        }
        signed = await self._signed("signoff", data)
        if signed is not None:
            self.record_event("signoff", signed)

    async def _signed(self, kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """The data signed by the user's ssh-agent when the config asks (in a worker thread, with a timeout);
        None if it must be and cannot be (the message says why). `signatures: off` returns it as it is."""
        if self.launch.signatures == "off":
            return data
        import asyncio

        from warroom.trust.console import sign_event
        from warroom.trust.signing import SigningError

        self.notify("asking your ssh-agent to sign…", timeout=5)
        head = (self.state.seq, self.state.head)
        signers = self.trust.signers if self.trust is not None else None
        try:
            return await asyncio.to_thread(sign_event, self.launch, self.actor, kind, data, head, signers)
        except SigningError as e:
            if self.launch.signatures == "required":
                self.notify(f"not recorded: {e}", title="Signing failed", severity="error", timeout=30)
                return None
            self.notify(f"recorded unsigned: {e}", title="Not signed", severity="warning", timeout=20)
            return data

    def action_decision(self) -> None:
        if (why := self.refusal()) is not None:
            self.notify(why, severity="warning")
            return
        if not self.perms.commander:
            self.notify("only the launch commander records the final decision", severity="warning")
            return
        self._decision_flow()

    @work(exclusive=True, group="dialog")
    async def _decision_flow(self) -> None:
        from warroom.ui.modals import ConfirmScreen, VerdictChoice, VerdictScreen  # dialogs load on first use

        v = view(self.state, self.now())
        summary = [Content.assemble("Verdict now: ", fmt.level(v.status))] + self._criteria_summary()
        choice = await self.push_screen_wait(
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
        if await self.push_screen_wait(ConfirmScreen("Confirm decision", lines)):
            signed = await self._signed("decision", {"verdict": choice.verdict, "reason": choice.reason})
            if signed is not None:
                self.record_event("decision", signed)

    def action_trigger_mode(self) -> None:
        from warroom.ui.modals import TriggerModeScreen  # dialogs load on first use

        if (why := self.refusal()) is not None:
            self.notify(why, severity="warning")
            return
        if not self.perms.may_set_triggers(self.launch):
            self.notify("only the commander or a role allowed to roll back may switch triggers", severity="warning")
            return
        triggers = [
            (c.id, c.name, c.trigger.when, self.state.criteria[c.id].trigger_mode)
            for c in self.launch.criteria
            if c.trigger is not None
        ]
        if not triggers:
            self.notify("this launch has no rollback triggers", severity="information")
            return
        table = self.panel("gates").table

        def done(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            cid, mode = result
            if self.state.criteria[cid].trigger_mode == mode:
                self.notify(f"{cid} is already {mode}")
                return
            self.record_event("trigger_mode", {"criterion": cid, "mode": mode})

        self.push_screen(TriggerModeScreen(triggers, table.cursor_key, self.launch.rollback.auto_allowed), done)

    # ------------------------------------------------------------------ rollback

    def action_rollback(self, reason: str = "") -> None:
        """Roll back: with alternatives in the config, first choose the way back (each shown with what it runs)."""
        if self.launch.rollback.alternatives:
            self.action_rollback_choose(reason)
        else:
            self._rollback_dialog("primary", reason)

    def action_rollback_choose(self, reason: str = "", failure: list[str] | None = None) -> None:
        """Choose a procedure; after a failed run (`failure`: its output) only the others are offered."""
        from warroom.rollback.runner import plan_text
        from warroom.ui.modals import ProcedureChoice, ProcedureScreen

        if self.mode == "replay":
            self.notify("replay is read-only: nothing can be changed", severity="warning")
            return
        if self.dlog is None:  # an observer console: the dialog says why it cannot roll back
            self._rollback_dialog("primary", reason)
            return
        procs = self.launch.rollback.procedures
        failed = self.state.rollback.procedure if failure else None
        choices = [
            ProcedureChoice(pid, p.description or "", plan_text(self.launch, self.dry_run, pid))
            for pid, p in procs.items()
            if pid != failed
        ]
        if not choices:
            return

        def done(pid: str | None) -> None:
            if pid is not None:
                self._rollback_dialog(pid, reason or (f"procedure {failed} failed" if failed else ""))

        self.push_screen(ProcedureScreen(choices, failure or []), done)

    def _rollback_dialog(self, procedure: str, reason: str = "") -> None:
        from warroom.rollback.runner import RollbackRunner

        if self.mode == "replay":
            self.notify("replay is read-only: nothing can be changed", severity="warning")
            return
        if self.dlog is None:  # an observer console: no log writer to run or record a rollback with
            self.notify(f"rollback refused: {self.refusal()}", severity="error")
            return
        role_ids = [r.id for r in self.perms.roles]
        runner: RollbackRunner | None
        runner = RollbackRunner(self.launch, self.dlog, self.actor, dry_run=self.dry_run)
        why = runner.refusal(role_ids, self.mode == "observer")
        if why is None and self.state.rollback.status == "running":
            rb = self.state.rollback
            why = f"a rollback is already running (started by {rb.by} at {fmt.t_rel(rb.started, self.launch.t0)})"
            runner = None  # never hand this to the runner: it would run if the lock happened to be free
        if why is not None:
            self.notify(f"rollback refused: {why}", severity="error")
            if self.mode == "live":  # an observer records nothing, not even this
                if runner is not None:
                    self._record_refusal(runner, role_ids)  # the runner records request + refusal its own way
                else:
                    self.record_event("rollback", {"phase": "refused", "reason": why})
            return
        if any(p.choices_command for p in self.launch.rollback.procedures[procedure].params):
            self._list_choices_then_ask(procedure, reason)
        else:
            self._ask_rollback(procedure, reason, {})

    @work(thread=True, exclusive=True, group="rollback-choices", exit_on_error=False)
    def _list_choices_then_ask(self, procedure: str, reason: str) -> None:
        """A choices command may take seconds (its timeout is 10 s by default): listed off the UI thread."""
        from warroom.rollback import procvalues

        params = self.launch.rollback.procedures[procedure].params
        listed = {p.name: procvalues.list_choices(p) for p in params if p.choices_command}
        self.call_from_thread(self._ask_rollback, procedure, reason, listed)

    def _ask_rollback(self, procedure: str, reason: str, listed: Mapping[str, Choices]) -> None:
        """The rollback dialog, its allowed values already listed; the runner checks them afresh before it runs."""
        from warroom.rollback import procvalues
        from warroom.rollback.runner import plan_text
        from warroom.ui.modals import AskedValue, RollbackScreen  # dialogs load on first use

        dry = bool(self.dry_run) or self.launch.rollback.dry_run
        proc = self.launch.rollback.procedures[procedure]
        plan = plan_text(self.launch, self.dry_run, procedure)
        asked = []
        for prm in proc.params:
            ch = listed.get(prm.name)
            hint = prm.description or "a value this procedure needs"
            asked.append(AskedValue(prm.name, hint, ch.values if ch else None, ch.error if ch else ""))
        screen = RollbackScreen(
            self.launch.id,
            plan,
            dry,
            reason,
            asked=asked,
            plan_for=lambda values: plan_text(self.launch, self.dry_run, procedure, values),
            check=lambda values: procvalues.check_values(proc, values, listed),
        )

        def done(result: str | None) -> None:
            if result is not None:
                self._run_rollback(result, procedure, screen.values)

        self.push_screen(screen, done)

    @work(group="rollback-refusal", exit_on_error=False)
    async def _record_refusal(self, runner: Any, role_ids: list[str]) -> None:
        try:
            await runner.run("rollback button pressed", automatic=False, roles=role_ids, observer=False)
        except Exception as e:
            self.notify(f"could not record the refusal: {type(e).__name__}: {e}", severity="error")
        self._poll()

    def _run_rollback(self, reason: str, procedure: str = "primary", values: dict[str, str] | None = None) -> None:
        self._rollback_worker(reason, procedure, values or {})

    @work(exclusive=True, group="rollback", exit_on_error=False)
    async def _rollback_worker(
        self, reason: str, procedure: str = "primary", values: dict[str, str] | None = None
    ) -> None:
        from warroom.rollback.runner import RollbackRunner

        assert self.dlog is not None, "action_rollback refuses on a console without a log writer"
        runner = RollbackRunner(self.launch, self.dlog, self.actor, dry_run=self.dry_run)
        try:
            ok = await runner.run(
                reason,
                automatic=False,
                roles=[r.id for r in self.perms.roles],
                observer=False,
                procedure=procedure,
                values=values,
            )
        except Exception as e:
            self.notify(f"rollback could not run: {type(e).__name__}: {e}", severity="error", timeout=30)
            self._poll()
            return
        self._poll()
        msg = "rollback finished OK" if ok else "rollback did not finish OK — see the rollback panel"
        if runner.record_error:  # the panel cannot show what the log could not take
            msg = f"rollback stopped: the decision log could not be written ({runner.record_error})" + (
                "" if runner.ended else "; its outcome is NOT recorded yet (the next console records it)"
            )
        self.notify(msg, severity="information" if ok else "error", timeout=30)
        if not ok and runner.started_run and self.launch.rollback.alternatives:
            self.action_rollback_choose(failure=self._failure_lines())

    def _failure_lines(self) -> list[str]:
        """What the failed run said: its outcome and the output of the step that failed (from the fold)."""
        rb = self.state.rollback
        lines = [f"procedure '{rb.procedure}' failed: {rb.outcome}"]
        for i, step in enumerate(rb.steps, 1):
            if step.status not in ("ok", "skipped", "pending"):
                lines.append(f"step {i} '{step.name}': {step.status} {step.detail}".rstrip())
                lines += [f"  | {line}" for line in step.output[-15:]]
        return lines

    def _check_auto_rollback(self, v: Verdict) -> None:
        """The recording console also watches 'auto' triggers (one watcher per log, like one recorder)."""
        w = self.watcher
        if w is None or self.recorder is None or not self._is_leader() or w.running:
            return
        self.run_worker(w.on_state(self.state, v.now, v), group="autorollback", exit_on_error=False)

    def _is_leader(self) -> bool:
        try:
            return bool(self.recorder.is_leader)
        except Exception:
            return False

    # ------------------------------------------------------------------ recommend mode

    def _check_recommendations(self, v: Verdict) -> None:
        """A 'recommend' trigger that breached asks once per breach: bell + modal with the evidence."""
        if self.mode == "replay":
            return
        for cv in v.criteria:
            c = cv.criterion
            if not (cv.trigger_breached and cv.trigger_mode == "recommend" and c.trigger is not None):
                continue
            since = self.state.criteria[c.id].tracker.since
            key = (c.id, since)
            if key in self._answered or key in self._prompted:
                continue
            self._prompted.add(key)
            self.bell()
            if self.mode != "live" or not self.perms.may_set_triggers(self.launch):
                self.notify(
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
                    fmt.t_rel(since, self.launch.t0),
                    f" ({fmt.age(None if since is None else v.now - since)} ago)",
                ),
                Content.assemble(("Why: ", "$muted"), clean(cv.reason)),
                Content.styled(
                    "Roll back now, hold (keep the launch as is), or freeze changes and keep watching?", "bold"
                ),
            ]
            self._ask_recommendation(key, c.id, cv.value, c.trigger.when, evidence)
            return  # one prompt at a time; the next repaint asks about the next breach

    @work(group="recommend")
    async def _ask_recommendation(
        self, key: tuple[str, float | None], cid: str, value: float | None, when: str, evidence: list[Content]
    ) -> None:
        from warroom.ui.modals import RecommendationScreen  # dialogs load on first use

        screen = RecommendationScreen(cid, evidence)
        self._recommendation = (key, screen)
        choice = await self.push_screen_wait(screen)
        self._recommendation = None
        if choice is None or key in self._answered:
            return
        self.record_event(
            "rollback",
            {
                "phase": "recommendation",
                "choice": choice,
                "criterion": cid,
                "since": key[1],
                "value": value,
                "threshold": when,
            },
        )
        if choice == "rollback":
            self.action_rollback(reason=f"recommended by trigger {cid} ({when})")

    def _recommendation_answered(self, ev: Event) -> None:
        since = ev.data.get("since")
        key = (str(ev.data.get("criterion")), float(since) if isinstance(since, int | float) else None)
        self._answered.add(key)
        pending = self._recommendation
        if pending is not None and pending[0] == key and ev.actor != self.actor:
            self._recommendation = None
            pending[1].dismiss(None)
            self.notify(f"{actor_label(ev.actor)} answered the recommendation: {ev.data.get('choice')}")

    # ------------------------------------------------------------------ replay

    def action_replay_play(self) -> None:
        if self.playhead is not None:
            self.playhead.toggle()
            self._last_tick = time.monotonic()
            self._dirty = True
            self._repaint()

    def action_replay_speed(self, factor: float) -> None:
        if self.playhead is not None:
            self.playhead.faster(float(factor))
            self._dirty = True
            self._repaint()

    def action_replay_step(self, direction: int) -> None:
        if self.playhead is None or self.replay is None:
            return
        mark = self.playhead.step(self.replay.marks(), int(direction))
        if mark is None:
            self.notify("no more decisions that way")
            return
        self.notify(f"{fmt.t_rel(mark[0], self.launch.t0)}: {clean(mark[1])}")
        self._load_replay_state()

    def action_replay_jump(self) -> None:
        from warroom.ui.modals import TextScreen  # dialogs load on first use

        if self.playhead is None:
            return

        def done(text: str | None) -> None:
            if text:
                self.replay_seek_text(text)

        self.push_screen(TextScreen("Jump to a moment", "Time (T+HH:MM, T+HH:MM:SS, T-5m, T+1h30m):", "T+00:37"), done)

    def replay_seek_text(self, text: str) -> bool:
        assert self.playhead is not None
        try:
            t = parse_moment_text(text, self.launch.t0)
        except ValueError as e:
            self.notify(str(e), severity="error")
            return False
        self.playhead.seek(t)
        self._load_replay_state()
        return True

    # ------------------------------------------------------------------ shutdown

    def close_session(self) -> None:
        if self._session_open and self.dlog is not None:
            self._session_open = False
            try:
                self.dlog.append("session", {"state": "closed", "mode": self.mode, "pid": os.getpid()})
            except (OSError, LogCorrupt):
                pass

    async def action_quit(self) -> None:
        self.close_session()
        self.exit(0)

    def on_unmount(self) -> None:
        self.close_session()
        if self.dlog is not None:
            self.dlog.close()
