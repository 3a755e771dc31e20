"""The war-room console. It draws only `view(state, now)`; its own actions go to the log and come back from it.

The app is a screen plus a driver. The driver makes frames: a LiveDriver
follows the decision log every quarter second (and, on a live console, records
and watches auto triggers), a ReplayDriver folds a recorded log up to its
playhead. The ConsoleScreen draws whichever frames it is given. What each
action does is in `flows` / `rollback_flow`; whether this console may do it at
all is decided here, once, for keys, palette entries and clicks alike.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import actions
from textual.actions import ActionParseResult
from textual.app import App
from textual.binding import BindingType
from textual.dom import DOMNode
from textual.screen import Screen

from warroom.config import ConfigError, Launch
from warroom.core.events import SCHEMA_VERSION, Actor, Event
from warroom.core.state import LaunchState
from warroom.store.base import OutcomeUnknown, Store, write_failure
from warroom.store.log import LogCorrupt
from warroom.store.pg import PgSpec
from warroom.store.wake import Wake
from warroom.ui import fmt, keymap
from warroom.ui.commands import WarroomCommands
from warroom.ui.driver import Driver, LiveDriver, Mode, ReplayDriver
from warroom.ui.flows import Flows, Recommendations
from warroom.ui.frame import Frame
from warroom.ui.panels import Panel
from warroom.ui.playhead import Playhead, ReplaySource
from warroom.ui.rollback_flow import RollbackFlow
from warroom.ui.safe import clean
from warroom.ui.screen import ConsoleScreen
from warroom.ui.session import Permissions
from warroom.ui.themes import choose as choose_theme
from warroom.ui.themes import gate_defaults, load_themes

__all__ = ["Mode", "WarroomApp"]

WAKE_GAP = 0.05  # seconds: the log is read at most this often when appends wake the console

# Actions whose refusal names what was refused (the rest say only why).
_REFUSED_AS = {"rollback": "rollback refused: ", "rollback_choose": "rollback refused: "}


def _collect_from_now() -> None:
    """`warroom run` starts with the cyclic garbage collector off (see warroom.cli.QUIET_START); once the first
    frame is drawn, what was made until then is frozen (it lives as long as the console) and collection resumes.
    A console started with the collector on (tests, another caller) is left as it is."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _load_dialogs() -> None:
    """Import the dialogs (loaded on first use, so not before the first frame), before anyone asks for one."""
    import warroom.ui.modals  # noqa: F401


class WarroomApp(App[int]):
    CSS_PATH: ClassVar[list[str | Path]] = [  # type: ignore[assignment]
        Path(__file__).parent / "layout.tcss",
        Path(__file__).parent / "look.tcss",
    ]
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings()  # type: ignore[assignment]
    COMMANDS = App.COMMANDS | {WarroomCommands}
    TITLE = "warroom"

    def __init__(
        self,
        launch: Launch,
        *,
        log_path: Path | PgSpec | None,
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
        at: str | None = None,
        speed: float | None = None,
    ):
        """A live or observer console on `log_path`, or (mode "replay") one driven by `replay`, opened at `at`
        and playing at `speed` if given."""
        no_color = "NO_COLOR" in os.environ  # read before Textual takes it out of the environment
        super().__init__()
        self.driver: Driver
        if mode == "replay":
            if replay is None:
                raise ValueError("replay mode needs a ReplaySource")
            self.driver = ReplayDriver(launch, replay, actor=actor, at=at, speed=speed)
        else:
            if log_path is None:
                raise ValueError("live and observer consoles need a log")
            self.driver = LiveDriver(
                launch,
                log_path=log_path,
                actor=actor,
                mode=mode,
                clock=clock,
                record=record,
                config_text=config_text,
                config_path=config_path,
                dry_run=dry_run,
            )
        self.poll_interval = poll_interval
        self.frame: Frame | None = None  # the last frame drawn
        self.startup_error: str | None = None
        self.flows = Flows(self)
        self.rollbacks = RollbackFlow(self)
        self.recommendations = Recommendations(self)
        self._dirty = True
        self._caught_up = 0.0  # monotonic time of the last read of the log
        self._wake_token: tuple[int | None, int] = (None, 0)  # the descriptor the loop waits on (see _watch)
        self._last_second: int | None = None
        self._last_sig: tuple[Any, ...] | None = None
        self._notes: list[tuple[str, str]] = []
        loaded = load_themes()
        for t in loaded.themes.values():
            self.register_theme(t)
        self._notes.extend(("warning", p) for p in loaded.problems)
        name, problem = choose_theme(theme, self.available_themes, no_color)
        if problem:
            self._notes.append(("warning", problem))
        self._start_with_theme(name)

    def _start_with_theme(self, name: str) -> None:
        """The theme set before anything is styled, as Textual's own default theme is: the stylesheet made in
        App.__init__ takes its variables now. Setting `self.theme` here instead had its watcher queue a
        re-parse of every stylesheet for when the app starts, and the screen's were then parsed once more.
        The rest is what the watcher does (the theme's classes, the ANSI colour mapping); nothing is
        subscribed to the theme's signal yet."""
        if name == self.theme:
            return
        self.set_reactive(App.theme, name)
        self.stylesheet.set_variables(self.get_css_variables())
        dark = self.current_theme.dark
        classes = {c: False for c in self.classes if c.startswith("-theme-")}
        classes |= {f"-theme-{name}": True, "-dark-mode": dark, "-light-mode": not dark}
        self.update_classes(classes, update=False)
        self._refresh_truecolor_filter(self.ansi_theme)

    # ------------------------------------------------------------------ what the driver holds

    @property
    def mode(self) -> Mode:
        return self.driver.mode

    @property
    def launch(self) -> Launch:
        return self.driver.launch

    @property
    def actor(self) -> Actor:
        return self.driver.actor

    @property
    def perms(self) -> Permissions:
        return self.driver.perms

    @property
    def state(self) -> LaunchState:
        return self.driver.state

    @property
    def dlog(self) -> Store | None:
        return self.driver.dlog

    @property
    def dry_run(self) -> bool | None:
        return self.driver.dry_run

    @property
    def log_path(self) -> Path | PgSpec | None:
        return self.driver.log_path

    @property
    def playhead(self) -> Playhead | None:
        return self.driver.playhead if isinstance(self.driver, ReplayDriver) else None

    @property
    def _last_tick(self) -> float:
        """When a replay's playhead last moved by wall time (tests compare it with how far it moved)."""
        return self.driver.last_tick if isinstance(self.driver, ReplayDriver) else 0.0

    def now(self) -> float:
        return self.driver.now()

    # ------------------------------------------------------------------ the screen

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

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return gate_defaults(self.current_theme)

    def get_default_screen(self) -> Screen[Any]:
        return ConsoleScreen(replay=self.mode == "replay", size=self.size, ready=self._console_ready)

    @property
    def console_screen(self) -> ConsoleScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, ConsoleScreen)
        return screen

    def panel(self, pid: str) -> Panel:
        return self.console_screen.panel(pid)

    # ------------------------------------------------------------------ the loop

    def on_mount(self) -> None:
        for severity, text in self._notes:
            self.notify(text, severity=severity)

    def _console_ready(self) -> None:
        """Start the driver once the screen has its panels, then draw and tick (before the first layout)."""
        try:
            events = self.driver.start(self)
        except (ConfigError, LogCorrupt, OSError) as e:
            self.startup_error = str(e)
            self.exit(2, return_code=2, message=Text(str(e)))
            return
        self.recommendations.heard(events)
        self.set_interval(self.poll_interval, self._tick)
        self._repaint(force=True)
        self.panel(self.console_screen.active_panel).table.focus()
        self._watch()
        self.call_after_refresh(_collect_from_now)
        self.set_timer(0.5, self._prepare_dialogs)  # once the first frame is up: the first dialog opens at once

    def _prepare_dialogs(self) -> None:
        """The dialogs' code loaded and, on a console that may write, the note dialog composed (installed,
        not shown): a note is the dialog opened most, and opening it is then a push of a screen made already."""
        _load_dialogs()
        if not self.is_running or self.refusal() is not None:
            return
        note = self.flows.note_dialog()
        if not note.is_running:
            self._get_screen(note)  # push_screen's own first step: the screen registered, its widgets mounted

    def _tick(self) -> None:
        if not self.is_running:  # shutting down: the widgets are going, a repaint would find none
            return
        self.catch_up()

    def catch_up(self) -> None:
        """Let the driver move on (read what was appended, by anyone; or move the playhead) and repaint."""
        self._caught_up = time.monotonic()
        changed, events = self.driver.step()
        self.recommendations.heard(events)
        self._dirty = self._dirty or changed
        self._repaint()
        self._watch()

    # ------------------------------------------------------------------ woken by the log (store/wake.py)

    def _wake(self) -> Wake | None:
        return self.driver.wake if isinstance(self.driver, LiveDriver) else None

    def _watch(self) -> None:
        """Wait in the loop on the driver's wake descriptor, so an append (by any console) is read at once rather
        than at the next timer tick; again after a reconnect gave it a new one."""
        wake = self._wake()
        token = wake.token() if wake is not None and self.is_running else (None, 0)
        if token == self._wake_token:
            return
        loop = asyncio.get_running_loop()
        if self._wake_token[0] is not None:
            loop.remove_reader(self._wake_token[0])
        self._wake_token = token
        if token[0] is not None:
            loop.add_reader(token[0], self._woken)

    def _woken(self) -> None:
        """The log may have moved: read it now, but not more often than every WAKE_GAP (a burst of appends is
        one repaint, as one timer tick would make it). The descriptor is left alone until that read."""
        wake = self._wake()
        if wake is not None:
            wake.drain()
        if self._wake_token[0] is not None:
            asyncio.get_running_loop().remove_reader(self._wake_token[0])
            self._wake_token = (None, 0)
        wait = self._caught_up + WAKE_GAP - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self._tick)
        else:
            self.call_later(self._tick)

    def _repaint(self, force: bool = False) -> None:
        """Recompute the view; touch only the panels whose input changed, and only the cells that did."""
        now = self.driver.now()
        second = int(now)
        if not (force or self._dirty or second != self._last_second):
            return
        self._last_second = second
        frame = self.driver.frame(now)
        self.frame = frame
        v = frame.verdict
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
        self.console_screen.paint(frame, full)
        if full:
            self.recommendations.check(v)
            self.driver.watch(v)

    # ------------------------------------------------------------------ writing (live only)

    def refusal(self) -> str | None:
        """Why this console may not write, or None if it may."""
        if self.mode == "replay":
            return "replay is read-only: nothing can be changed"
        if self.mode == "observer" or self.dlog is None:
            return "OBSERVER console: read only" + (f" ({self.perms.why})" if self.perms.why else "")
        return None

    def record_event(self, kind: str, data: dict[str, Any]) -> Event | None:
        """Append one event for this console's actor and read it back onto the screen."""
        why = self.refusal() or self._authority_refusal(kind, data)
        if why is not None or not isinstance(self.driver, LiveDriver):
            self.notify(why or "this console does not write", severity="warning")
            return None
        down = getattr(self.driver.follower, "problem", None)  # a shared store this console cannot reach just now
        if down:  # said at once, rather than after the append's seconds of trying on the message loop
            self.notify(
                f"not recorded: the database cannot be reached ({clean(down)})",
                title="Log write failed",
                severity="error",
                timeout=20,
            )
            return None
        try:
            ev = self.driver.append(kind, data)
        except (OSError, LogCorrupt) as e:
            self._write_failed(e)
            return None
        self.catch_up()
        return ev

    async def record_event_off_loop(self, kind: str, data: dict[str, Any]) -> tuple[Event | None, str | None]:
        """`record_event` for a dialog that keeps its text until recorded: (the event, None) or (None, why not).
        A shared store's append runs in a thread, so a database that is down or slow never stalls the console
        (it may wait up to seconds before it says "not recorded"); a file's append is an fsync, made here."""
        from warroom.store.log import DecisionLog

        why = self.refusal() or self._authority_refusal(kind, data)
        if why is not None or not isinstance(self.driver, LiveDriver):
            self.notify(why or "this console does not write", severity="warning")
            return None, why or "this console does not write"
        driver = self.driver
        prior = driver.earlier(kind, data)  # the same, tried before, and not confirmed: never recorded twice
        if prior is not None:
            sent, recorded = prior
            if recorded is None:
                said = (
                    "still not confirmed: the database has not said whether the last try was recorded, and saving "
                    "again could record it twice; the console says which once the database is back"
                )
                self.notify(said, title="Log write failed", severity="warning", timeout=20)
                return None, said
            driver.forget(sent)
            if recorded:
                self.catch_up()
                return sent, None  # recorded after all, as the console said: done
        try:
            if isinstance(driver.dlog, DecisionLog):  # one flock per open file: not for two threads at once
                ev = driver.append(kind, data)
            else:
                ev = await asyncio.to_thread(driver.append, kind, data)
        except (OSError, LogCorrupt) as e:
            return None, self._write_failed(e)
        self.catch_up()
        return ev, None

    def _write_failed(self, e: OSError | LogCorrupt) -> str:
        """Say why an append failed; one the store could not confirm is settled once the log is read (driver)."""
        if isinstance(e, OutcomeUnknown) and isinstance(self.driver, LiveDriver):
            self.driver.not_confirmed(e)
        said = clean(write_failure(e))
        self.notify(said, title="Log write failed", severity="error", timeout=20)
        return said

    def _authority_refusal(self, kind: str, data: dict[str, Any]) -> str | None:
        """The fold's own authority rule, asked before writing: refused up front rather than recorded as refused."""
        from warroom.core.authority import SigVerdict, refusal

        probe = Event(SCHEMA_VERSION, self.state.seq + 1, self.now(), self.actor, kind, data)
        return refusal(self.launch, probe, SigVerdict(True, self.actor.user))  # a signature we made ourselves

    # ------------------------------------------------------------------ the gate

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which actions this console has: none of its own while a dialog is open (ctrl+q still quits), and only
        its mode's (replay has no writing keys, live and observer no playhead). Textual asks this for every footer
        label as well as before every action, so it hides; refusing with a reason is `run_action`'s part."""
        if action in keymap.ACTIONS and len(self.screen_stack) > 1:
            return False
        return keymap.available(action, self.mode)

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Every key, palette entry and click comes here: an action that writes, on a console that may not
        write, is refused with the reason before its dialog opens."""
        where, name, _params = actions.parse(action) if isinstance(action, str) else action
        mine = where == "app" or (where == "" and default_namespace in (None, self))
        if mine and name in keymap.WRITES and self.check_action(name, ()) and (why := self.refusal()) is not None:
            prefix = _REFUSED_AS.get(name, "")
            self.notify(prefix + why, severity="error" if prefix else "warning")
            return True
        return await super().run_action(action, default_namespace, namespaces)

    # ------------------------------------------------------------------ actions (each key's, see keymap)

    async def action_quit_console(self) -> None:
        await self.action_quit()

    def action_help(self) -> None:
        from warroom.ui.modals import HelpScreen  # dialogs load on first use

        self.push_screen(HelpScreen(self.mode, str(self.log_path or "")))

    def action_wall(self) -> None:
        from warroom.ui.wall import WallScreen  # loads on first use

        self.push_screen(WallScreen(lambda: self.frame))

    def action_reasons(self) -> None:
        from warroom.ui.modals import ReasonsScreen  # dialogs load on first use

        if self.frame is not None:
            v = self.frame.verdict
            self.push_screen(ReasonsScreen(v.status, v.clock, v.reasons))

    def action_show_panel(self, pid: str) -> None:
        self.console_screen.show_panel(pid)

    async def on_console_screen_item_chosen(self, _event: ConsoleScreen.ItemChosen) -> None:
        await self.run_action("toggle_item")

    def action_toggle_item(self) -> None:
        self.flows.toggle_item()

    def action_note(self) -> None:
        self.flows.note()

    def action_measure(self) -> None:
        self.flows.measure()

    def action_ack(self) -> None:
        self.flows.ack()

    def action_unsilence(self) -> None:
        self.flows.unsilence()

    def action_signoff(self) -> None:
        self.flows.signoff()

    def action_decision(self) -> None:
        self.flows.decision()

    def action_trigger_mode(self) -> None:
        self.flows.trigger_mode()

    def action_rollback(self, reason: str = "") -> None:
        self.rollbacks.rollback(reason)

    def action_rollback_choose(self, reason: str = "") -> None:
        self.rollbacks.choose(reason)

    # ------------------------------------------------------------------ replay

    def _replay(self) -> ReplayDriver | None:
        return self.driver if isinstance(self.driver, ReplayDriver) else None

    def action_replay_play(self) -> None:
        if (d := self._replay()) is not None:
            d.toggle()
            self._dirty = True
            self._repaint()

    def action_replay_speed(self, factor: float) -> None:
        if (d := self._replay()) is not None:
            d.faster(float(factor))
            self._dirty = True
            self._repaint()

    def action_replay_step(self, direction: int) -> None:
        if (d := self._replay()) is None:
            return
        mark = d.step_mark(int(direction))
        if mark is None:
            self.notify("no more decisions that way")
            return
        self.notify(f"{fmt.t_rel(mark[0], self.launch.t0)}: {clean(mark[1])}")
        self._dirty = True
        self._repaint()

    def action_replay_jump(self) -> None:
        if self._replay() is not None:
            self.flows.replay_jump()

    def replay_seek_text(self, text: str) -> bool:
        """Move the playhead to a moment typed as T+00:37, T-5m, ...; a bad one is refused with a hint."""
        d = self._replay()
        assert d is not None, "only a replay console has a playhead"
        if not d.seek_text(text):
            return False
        self._dirty = True
        self._repaint()
        return True

    # ------------------------------------------------------------------ shutdown

    def close_session(self) -> None:
        if isinstance(self.driver, LiveDriver):
            self.driver.close_session()

    async def action_quit(self) -> None:
        self.close_session()
        self.exit(0)

    def on_unmount(self) -> None:
        if self._wake_token[0] is not None:
            asyncio.get_running_loop().remove_reader(self._wake_token[0])
            self._wake_token = (None, 0)
        self.driver.close()
