"""The wall: a full-screen observer view for the war room, read from three metres away.

The verdict in block letters with its symbol, the T-clock and the current
phase in large digits, one tile per required criterion, and a strip with the
phase progress, firing alerts, the sign-off tally and the first reason when
not GO. It draws a `Frame` and nothing else, so it shows exactly what every
console shows. It never acts: it has no key that writes, and `WallApp` only
reads the decision log (like an observer console); it never polls a source.

State is told by word and symbol as well as colour, so monochrome and
NO_COLOR walls read the same.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Digits, Static

from warroom.config import ConfigError, Launch
from warroom.core.state import CriterionView, LaunchState, Verdict, view
from warroom.store.log import Follower, LogCorrupt
from warroom.ui import bigtext, fmt
from warroom.ui.frame import ConsoleInfo, Frame
from warroom.ui.safe import clean, plain
from warroom.ui.themes import choose as choose_theme
from warroom.ui.themes import gate_defaults, load_themes

GRAND = (150, 40)  # at least this wide and high: letters twice the size


class VerdictBanner(Static):
    """The verdict and its symbol in block letters, on a band of the verdict's colour."""

    def __init__(self) -> None:
        super().__init__("", id="wall-verdict", markup=False)
        self.status = ""
        self._scale = 0

    def show(self, status: str) -> None:
        scale = 2 if self.app.size.width >= GRAND[0] and self.app.size.height >= GRAND[1] else 1
        if (status, scale) == (self.status, self._scale):
            return
        self.status, self._scale = status, scale
        for s in ("GO", "NO-GO", "ROLLBACK", "PENDING"):
            self.set_class(s == status, f"-{s.lower()}")
        sym, _var = fmt.LOOK.get(status, fmt.LOOK["PENDING"])
        word = f"{sym} {status}"
        if bigtext.width(word, scale) > self.app.size.width - 2:
            scale = 1
        self.update(Content("\n".join(bigtext.render(word, scale))))


class Tile(Vertical):
    """One required criterion: name, value (large on a big wall), state word and symbol, trend."""

    def __init__(self, cid: str) -> None:
        super().__init__(classes="tile")
        self.cid = cid
        self._last: tuple[Any, ...] = ()
        self._cv: CriterionView | None = None
        # made here, not in compose: the first show() may come before the children are mounted
        self._label = Static("", classes="tile-name", markup=False)
        self._digits = Digits("", classes="tile-digits")
        self._value = Static("", classes="tile-value", markup=False)
        self._state = Static("", classes="tile-state", markup=False)

    def compose(self) -> ComposeResult:
        yield from (self._label, self._digits, self._value, self._state)

    def on_resize(self) -> None:
        self.call_after_refresh(self._reshow)  # laid out at last: the trend fills the width the tile really has

    def _reshow(self) -> None:
        if self._cv is not None:
            self.show(self._cv, 0)

    def show(self, cv: CriterionView, inner: int) -> None:
        """`inner`: the tile's width inside its border (an estimate until it is laid out); the trend takes what
        the state word leaves of it."""
        self._cv = cv
        inner = self._state.content_size.width or inner
        key = (cv.level, cv.shown, cv.trend, inner, cv.criterion.name)
        if key == self._last:
            return
        self._last = key
        level = cv.level.value
        for s in ("GO", "WARN", "NO-GO", "ROLLBACK", "UNKNOWN"):
            self.set_class(s == level, f"-{s.lower()}")
        var = fmt.level_var(level)
        shown = clean(cv.shown)
        self.border_title = clean(cv.criterion.name)
        self._label.update(plain(cv.criterion.name, "bold"))
        self._digits.update(shown)
        self._value.update(
            Content.assemble((shown, f"bold ${var}"), ("  " + clean(cv.criterion.threshold_text), "$muted"))
        )
        word = fmt.level(level)
        spark = fmt.sparkline(cv.trend, max(4, inner - word.cell_length - 2))
        self._state.update(Content.assemble(word, "  ", (spark, f"${var}")))


class WallScreen(Screen[None]):
    """The wall itself; `source()` gives the newest Frame (a console's, or WallApp's own fold of the log)."""

    CSS_PATH = Path(__file__).parent / "wall.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (200, "-grand")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall"), (60, "-towering")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,w", "close", "Back to the console", show=False),
    ]

    def __init__(self, source: Callable[[], Frame | None], *, closable: bool = True) -> None:
        super().__init__(id="wall")
        self.source = source
        self.closable = closable
        self._frame: Frame | None = None
        self._tiles: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("", id="wall-title", markup=False)
        yield VerdictBanner()
        with Horizontal(id="wall-clocks"):
            with Horizontal(id="wall-clock-box"):
                yield Static("T", id="wall-t", markup=False)
                yield Digits("", id="wall-clock")
            with Horizontal(id="wall-phase-box"):
                yield Static("PHASE", id="wall-phase-label", markup=False)
                yield Digits("", id="wall-phase-digits")
                yield Static("", id="wall-phase-name", markup=False)
        yield Grid(id="wall-tiles")
        with Vertical(id="wall-strip"):
            yield Static("", id="wall-progress", markup=False)
            yield Static("", id="wall-why", markup=False)

    def on_mount(self) -> None:
        self.set_interval(0.25, self.refresh_from_source)
        self.call_after_refresh(self.refresh_from_source)

    def on_resize(self) -> None:
        self._frame = None  # sizes changed: redraw everything at the new scale
        self.refresh_from_source()

    def action_close(self) -> None:
        if self.closable:
            self.dismiss(None)

    def refresh_from_source(self) -> None:
        frame = self.source()
        if frame is None or frame is self._frame or not self.is_mounted:
            return
        self._frame = frame
        self.show(frame)

    def show(self, f: Frame) -> None:
        v = f.verdict
        self.query_one("#wall-title", Static).update(
            Content.assemble(
                (clean(f.launch.name), "bold"),
                ("  ·  wall  ·  read only", "$muted"),
                ("  ·  " + (clean(f.info.note) if f.info.note else "from the decision log"), "$muted"),
            )
        )
        self.query_one(VerdictBanner).show(v.status)
        self.query_one("#wall-clock", Digits).update(v.clock.removeprefix("T"))
        index = next((i for i, p in enumerate(v.phases, 1) if p.current), 0)
        self.query_one("#wall-phase-digits", Digits).update(str(index) if index else "-")
        self.query_one("#wall-phase-name", Static).update(
            Content.assemble((clean(v.phase_name), "bold"), (f"\nphase {index} of {len(v.phases)}", "$muted"))
        )
        self._show_tiles(v)
        self.query_one("#wall-progress", Static).update(strip_line(f))
        why = Content()
        if v.status != "GO" and v.reasons:
            why = Content.assemble(("WHY  ", "bold"), clean(v.reasons[0]))
            if len(v.reasons) > 1:
                why += Content.styled(f"   (+{len(v.reasons) - 1} more)", "$muted")
        self.query_one("#wall-why", Static).update(why)

    def _show_tiles(self, v: Verdict) -> None:
        required = [cv for cv in v.criteria if cv.criterion.required]
        ids = tuple(cv.criterion.id for cv in required)
        grid = self.query_one("#wall-tiles", Grid)
        if ids != self._tiles:
            self._tiles = ids
            grid.remove_children()
            grid.mount_all([Tile(cid) for cid in ids])
        width = self.size.width
        columns = max(1, min(len(ids) or 1, width // 26 if width < 200 else width // 44))
        grid.styles.grid_size_columns = columns
        inner = (width - 2 - (columns - 1)) // columns - 6  # borders and padding
        for tile, cv in zip(grid.query_children(Tile), required, strict=False):
            tile.show(cv, inner)


def strip_line(f: Frame) -> Content:
    """Phase progress · alerts firing · sign-off tally, in words and symbols."""
    v = f.verdict
    current = next((p for p in v.phases if p.current), None)
    parts: list[Content | str | tuple[str, str]] = []
    if current is not None:
        parts += [("PHASE ", "bold"), fmt.progress(current.done, current.total, 10), "   "]
    parts += [("ALL ", "bold"), fmt.progress(v.done, v.total, 10), "   "]
    firing = sum(1 for a in f.state.alerts.values() if a.firing)
    unacked = sum(1 for a in f.state.alerts.values() if a.firing and a.acked_by is None)
    parts.append(
        Content.styled(f"✖ {firing} ALERTS FIRING", "bold $gate-nogo")
        if firing
        else Content.styled("✔ no alerts firing", "$gate-go")
    )
    if firing:
        parts.append(Content.styled(f" ({unacked} not acked)", "$muted"))
    required = [s for s in v.signoffs if s.required]
    go = sum(1 for s in required if s.signoff is not None and not s.stale and s.signoff.verdict == "GO")
    nogo = sum(1 for s in required if s.signoff is not None and not s.stale and s.signoff.verdict == "NO-GO")
    stale = sum(1 for s in required if s.signoff is not None and s.stale)
    pending = sum(1 for s in required if s.signoff is None)
    parts += [
        "   ",
        ("SIGN-OFFS ", "bold"),
        (f"✔ {go} GO", "$gate-go"),
        " · ",
        (f"✖ {nogo} NO-GO", "$gate-nogo" if nogo else ""),
        " · ",
        (f"… {pending} pending", "$gate-unknown"),
    ]
    if stale:
        parts += [" · ", (f"▲ {stale} stale", "$gate-warn")]
    parts.append(Content.styled(f" of {len(required)}", "$muted"))
    return Content.assemble(*parts)


class WallApp(App[int]):
    """`warroom wall`: the wall on a decision log, read (never written) every quarter second."""

    CSS_PATH: ClassVar[list[str | Path]] = [
        Path(__file__).parent / "look.tcss",  # type: ignore[assignment]
    ]
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit", show=False)]
    TITLE = "warroom wall"

    def __init__(
        self,
        launch: Launch,
        log_path: Path,
        *,
        theme: str | None = None,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.25,
    ) -> None:
        no_color = "NO_COLOR" in os.environ  # read before Textual takes it out of the environment
        super().__init__()
        self.launch = launch
        self.log_path = log_path
        self.clock = clock
        self.poll_interval = poll_interval
        self.state = LaunchState(launch)
        self.follower: Follower | None = None
        self.startup_error: str | None = None
        self._frame: Frame | None = None
        self._second: int | None = None
        self._dirty = True
        self._notes: list[str] = []
        loaded = load_themes()
        for t in loaded.themes.values():
            self.register_theme(t)
        self._notes.extend(loaded.problems)
        name, problem = choose_theme(theme, self.available_themes, no_color)
        if problem:
            self._notes.append(problem)
        self.theme = name

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return gate_defaults(self.current_theme)

    def on_mount(self) -> None:
        for note in self._notes:
            self.notify(note, severity="warning", markup=False)
        try:
            self.follower = Follower(self.log_path)
            self._read()
        except (ConfigError, LogCorrupt, OSError) as e:
            self.startup_error = str(e)
            self.exit(2, return_code=2, message=Text(str(e)))
            return
        self.set_interval(self.poll_interval, self._read)
        self.push_screen(WallScreen(self.frame, closable=False))

    def _read(self) -> None:
        if self.follower is None:
            return
        try:
            events = self.follower.poll()
        except (LogCorrupt, OSError) as e:
            self.notify(f"stopped following the log: {e}", severity="error", timeout=60, markup=False)
            self.follower = None
            return
        for ev in events:
            self.state.apply(ev)
        self._dirty = self._dirty or bool(events)

    def frame(self) -> Frame | None:
        """A new Frame when the log moved or the clock ticked a second; the same one otherwise."""
        now = self.clock()
        if self._frame is not None and not self._dirty and int(now) == self._second:
            return self._frame
        self._dirty, self._second = False, int(now)
        info = ConsoleInfo("observer", "wall", (), "", str(self.log_path), f"log {self.log_path}")
        self._frame = Frame(view(self.state, now), self.state, info)
        return self._frame
