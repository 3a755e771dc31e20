"""The console's screen: the header, the six panels and the tab bar, drawing whatever Frame it is given.

It knows nothing of logs, recorders or playheads: the app hands it frames
(from a live or a replay driver alike) and it passes each panel the frame.
Wide and tall terminals show every panel; narrower or lower ones show one at a
time with a tab bar (Textual's breakpoints set the classes, layout.tcss reads them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from warroom.ui.frame import Frame
from warroom.ui.header import PANELS, HeaderBar, ReplayBar, TabBar
from warroom.ui.panels import PANEL_TYPES, Panel, RollbackPanel
from warroom.ui.rowtable import RowTable

PANEL_IDS = tuple(pid for pid, _title in PANELS)
TABS_BELOW = (120, 36)  # narrower or lower than this: one panel at a time
# A full repaint (what a tick or a poll changed) paints the active panel (the one the key was pressed in) in
# this frame and the other panels on screen in the frame after. Textual redraws the rectangle around everything
# that changed in a frame: a tick changed the checklist (left) and the log's last lines (right), and the
# rectangle around both held every panel between them (157x28 cells at 160x48, 8-10 ms); and the panels a tick
# does not change (the gates, alerts, sign-offs, rollback) cost ~1 ms of rows built only to find them the same.


class KeysFooter(Footer):
    """Textual's footer, with its keys in the first frame and composed again only when they change.

    Textual's composes no keys until the screen first says its bindings changed (the focus moving), and
    then only after the next refresh: a screen's first frame has an empty footer, and its keys arrive two
    refreshes later. This one composes them with the screen (the app's and the screen's bindings are known
    by then), and, as the focus moves between tables that add no footer keys, is not rebuilt for the same
    keys again."""

    def __init__(self, *, compact: bool = False, show_command_palette: bool = True) -> None:
        super().__init__(compact=compact, show_command_palette=show_command_palette)
        self._bindings_ready = True
        self._keys: tuple[Any, ...] | None = None

    def _shown_keys(self, screen: Screen[Any]) -> tuple[Any, ...]:
        return tuple((b, on, tip) for _ns, b, on, tip in screen.active_bindings.values() if b.show)

    def compose(self) -> ComposeResult:
        self._keys = self._shown_keys(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self.is_attached and screen is self.screen and self._shown_keys(screen) == self._keys:
            return
        super().bindings_changed(screen)


class ConsoleScreen(Screen[None]):
    """The console's main (default) screen; dialogs open above it."""

    # -narrow or -low: one panel at a time; -wide and -tall: all of them
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (TABS_BELOW[0], "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-low"), (TABS_BELOW[1], "-tall")]

    class ItemChosen(Message):
        """Enter on a checklist row: the app ticks it, as the tick key would."""

    def __init__(self, *, replay: bool, size: Size | None = None, ready: Callable[[], None] | None = None) -> None:
        """`size` is the terminal's: the breakpoint classes go on now, so the first layout is already the
        one the terminal shows (set at the first resize, they restyled and laid out every widget again).
        `ready` is called once the panels are mounted, before the first layout: the driver started and
        the first frame painted there are what that layout draws (not an empty console drawn first)."""
        marks = (
            [
                *self._get_breakpoint_classes(size.width, self.HORIZONTAL_BREAKPOINTS),
                *self._get_breakpoint_classes(size.height, self.VERTICAL_BREAKPOINTS),
            ]
            if size is not None
            else []
        )
        super().__init__(classes=" ".join(marks) or None)
        self.replay = replay
        self._ready = ready
        self.active_panel = "gates"
        self._panels: dict[str, Panel] = {}
        self._frame: Frame | None = None  # the last frame painted
        self._stale: set[str] = set()  # panels not shown when a frame came: painted when they are shown
        self._marked: list[Widget] = []  # the slots and panels that the active one's classes go on

    def compose(self) -> ComposeResult:
        self._header = HeaderBar(id="header")
        yield self._header
        if self.replay:
            self._replaybar = ReplayBar(id="replaybar")
            yield self._replaybar
        self._tabbar = TabBar()
        yield self._tabbar
        with Container(id="body"):
            panels = self._panels = {p.pid: p for p in (cls() for cls in PANEL_TYPES)}
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
        yield KeysFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._mark_active()
        if self._ready is not None:
            self._ready()

    def panel(self, pid: str) -> Panel:
        return self._panels[pid]

    def shown(self, pid: str) -> bool:
        """Whether the panel is on screen: every one on a wide and tall terminal, else only the active one."""
        return pid == self.active_panel or (self.has_class("-wide") and self.has_class("-tall"))

    def focused_table(self, pid: str) -> RowTable | None:
        """The panel's table if it has the focus (an action on 'the highlighted row' needs one)."""
        table = self.panel(pid).table
        return table if self.focused is table else None

    # ---------------------------------------------------------------- which panel

    def show_panel(self, pid: str) -> None:
        if pid not in PANEL_IDS:
            return
        self.active_panel = pid
        self._mark_active()
        self._paint_stale()
        table = self.panel(pid).table
        # now, not only via Widget.focus (a queued callback): keys typed right after the panel key go here
        self.set_focus(table)
        if self.focused is not table:  # not focusable yet (its layout is not applied): once it is
            table.focus()

    def _mark_active(self) -> None:
        """The active panel and the slots holding it get -active (what a one-panel screen shows)."""
        active = self.panel(self.active_panel)
        slots = {id(n) for n in active.ancestors if isinstance(n, Widget) and n.has_class("slot")}
        if not self._marked:
            self._marked = list(self.query(".slot, .panel"))
        for node in self._marked:
            node.set_class(node is active or id(node) in slots, "-active")
        self._tabbar.set(active=self.active_panel)

    def on_descendant_focus(self, event: Any) -> None:
        node = event.widget
        while node is not None and not isinstance(node, Panel):
            node = node.parent
        if isinstance(node, Panel) and node.pid != self.active_panel:
            self.active_panel = node.pid
            self._tabbar.set(active=node.pid)
            self._paint_stale()

    def on_resize(self) -> None:
        self.call_after_refresh(self._paint_stale)  # a terminal grown past the breakpoints shows every panel

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        if event.table is self.panel("checklist").table:
            self.post_message(self.ItemChosen())

    # ---------------------------------------------------------------- drawing

    def paint(self, frame: Frame, full: bool) -> None:
        """Draw a frame: the header, the gates and the replay bar always; the rest when `full` (its input changed).
        A panel that is not on screen (a small terminal shows one) is painted when it is shown, not now."""
        first, self._frame = self._frame is None, frame
        for panel in self._panels.values():
            panel.frame = frame
        self._header.show(frame)
        if frame.position is not None:
            p = frame.position
            self._replaybar.set(p.t, p.start, p.end, frame.t0, p.speed, p.playing)
        later = False
        order: tuple[str, ...] = ("gates", "checklist", "alerts", "signoffs", "rollback", "log") if full else ("gates",)
        for pid in order:
            if not self.shown(pid):
                self._stale.add(pid)
            elif first or not full or pid == self.active_panel:  # the first frame is whole; a second's, the gates
                self._stale.discard(pid)
                self._panels[pid].show(frame)
            else:
                self._stale.add(pid)
                later = True
        if self._fit_side() and first and self.shown("checklist"):
            # the first frame, painted before the first layout (see `ready`): the checklist fits beside the side
            # column, which was just fitted to the checklist's items; once both are known, the checklist again
            self._panels["checklist"].show(frame)
        if later:
            self.call_after_refresh(self._paint_stale)
        if full:
            self._tab_badges(frame)

    def _paint_stale(self) -> None:
        """Bring the panels now on screen up to the last frame."""
        if self._frame is None:
            return
        stale = [p for p in self._panels if p in self._stale and self.shown(p)]  # in the panels' order, always
        for pid in stale:
            self._stale.discard(pid)
            self._panels[pid].show(self._frame)
        if stale:
            self._fit_side()

    def _fit_side(self) -> bool:
        """The side column's width, once the panels it reads are drawn (RollbackPanel.fit_side)."""
        rollback = self._panels.get("rollback")
        return isinstance(rollback, RollbackPanel) and rollback.fit_side()

    def _tab_badges(self, f: Frame) -> None:
        v = f.verdict
        bad = sum(1 for cv in v.criteria if cv.level.value in ("NO-GO", "ROLLBACK"))
        firing = sum(1 for a in f.state.alerts.values() if a.firing)
        pending = sum(1 for s in v.signoffs if s.required and (s.signoff is None or s.stale))
        rb = f.state.rollback.status
        self._tabbar.set(
            badges={
                "gates": f" ✖{bad}" if bad else "",
                "checklist": f" {v.done}/{v.total}",
                "alerts": f" !{firing}" if firing else "",
                "signoffs": f" {pending} due" if pending else "",  # not "…4": it reads as a cut label
                "rollback": f" {rb.upper()}" if rb not in ("idle",) else "",
                "log": "",
            }
        )
