"""The console's screen: the header, the six panels and the tab bar, drawing whatever Frame it is given.

It knows nothing of logs, recorders or playheads: the app hands it frames
(from a live or a replay driver alike) and it passes each panel the frame.
Wide and tall terminals show every panel; narrower or lower ones show one at a
time with a tab bar (Textual's breakpoints set the classes, layout.tcss reads them).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from warroom.ui.frame import Frame
from warroom.ui.header import PANELS, HeaderBar, ReplayBar, TabBar
from warroom.ui.panels import PANEL_TYPES, Panel
from warroom.ui.rowtable import RowTable

PANEL_IDS = tuple(pid for pid, _title in PANELS)
TABS_BELOW = (120, 36)  # narrower or lower than this: one panel at a time


class ConsoleScreen(Screen[None]):
    """The console's main (default) screen; dialogs open above it."""

    # -narrow or -low: one panel at a time; -wide and -tall: all of them
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (TABS_BELOW[0], "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-low"), (TABS_BELOW[1], "-tall")]

    class ItemChosen(Message):
        """Enter on a checklist row: the app ticks it, as the tick key would."""

    class Ready(Message):
        """The panels are up: the app can start its driver and draw the first frame."""

    def __init__(self, *, replay: bool) -> None:
        super().__init__()
        self.replay = replay
        self.active_panel = "gates"

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        if self.replay:
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

    def on_mount(self) -> None:
        self._mark_active()
        self.post_message(self.Ready())

    def panel(self, pid: str) -> Panel:
        return self.query_one(f"#panel-{pid}", Panel)

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
        table = self.panel(pid).table
        # now, not only via Widget.focus (a queued callback): keys typed right after the panel key go here
        self.set_focus(table)
        if self.focused is not table:  # not focusable yet (its layout is not applied): once it is
            table.focus()

    def _mark_active(self) -> None:
        """The active panel and the slots holding it get -active (what a one-panel screen shows)."""
        active = self.panel(self.active_panel)
        slots = {id(n) for n in active.ancestors if isinstance(n, Widget) and n.has_class("slot")}
        for node in self.query(".slot, .panel"):
            node.set_class(node is active or id(node) in slots, "-active")
        self.query_one(TabBar).set(active=self.active_panel)

    def on_descendant_focus(self, event: Any) -> None:
        node = event.widget
        while node is not None and not isinstance(node, Panel):
            node = node.parent
        if isinstance(node, Panel) and node.pid != self.active_panel:
            self.active_panel = node.pid
            self.query_one(TabBar).set(active=node.pid)

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        if event.table is self.panel("checklist").table:
            self.post_message(self.ItemChosen())

    # ---------------------------------------------------------------- drawing

    def paint(self, frame: Frame, full: bool) -> None:
        """Draw a frame: the header, the gates and the replay bar always; the rest when `full` (its input changed)."""
        for panel in self.query(Panel):
            panel.frame = frame
        self.query_one(HeaderBar).show(frame)
        self.panel("gates").show(frame)
        if frame.position is not None:
            p = frame.position
            self.query_one(ReplayBar).set(p.t, p.start, p.end, frame.t0, p.speed, p.playing)
        if full:
            for pid in ("checklist", "alerts", "signoffs", "rollback", "log"):
                self.panel(pid).show(frame)
            self._tab_badges(frame)

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
