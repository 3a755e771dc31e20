"""The header (verdict, clock, phase, mode, triggers, top reason), the tab bar and the replay bar.

Each line is its own small widget that repaints only when its text changes,
so the ticking clock costs a dozen cells a second, not the whole header.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from warroom.core.units import format_t_relative
from warroom.ui import fmt
from warroom.ui.drawn import same
from warroom.ui.frame import Frame
from warroom.ui.safe import clean
from warroom.ui.strips import MemoStatic


class Line(MemoStatic):
    """A one-line Static that ignores updates that would not change it (and draws each distinct line once)."""

    DEFAULT_CSS = "Line { height: 1; width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, content: Content | str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(content, id=id, classes=classes)
        self._shown: object = content

    def show(self, content: Content | str) -> None:
        if not same(content, self._shown):
            self._shown = content
            self.show_content(content, layout=False)


class WhyLine(Line):
    """The header's "why:" line, fitted to its own width each time it is drawn (a resize redraws it): the width
    is known then, and not always when the frame is shown (the first one comes before any layout)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._parts = ("", "")

    def show_reason(self, reason: str, hint: str) -> None:
        if (reason, hint) != self._parts:
            self._parts = (reason, hint)
            self.refresh()

    def render(self) -> Content:
        return why_line(self.content_size.width, *self._parts)


class VerdictBadge(Static):
    """The overall verdict, large: a block of colour with symbol and word (never colour alone)."""

    def __init__(self) -> None:
        super().__init__("", id="verdict", markup=False)
        self._status = ""

    def show(self, status: str) -> None:
        if status == self._status:
            return
        for s in ("GO", "NO-GO", "ROLLBACK", "PENDING"):
            self.set_class(s == status, f"-{s.lower()}")
        self._status = status
        sym, _var = fmt.LOOK.get(status, fmt.LOOK["PENDING"])
        self.update(Content(f"{sym} {status}"), layout=False)


class HeaderBar(Horizontal):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._status_key: object = None  # what the status and trigger lines were last built from
        self._trigger_key: object = None

    def compose(self) -> ComposeResult:
        # kept, not queried on every repaint (it repaints every second)
        self._badge, self._title, self._clock = VerdictBadge(), Line(id="title"), Line(id="clock")
        self._status, self._triggers, self._why = Line(id="status"), Line(id="triggers"), WhyLine(id="why")
        yield self._badge
        with Vertical(id="header-lines"):
            with Horizontal(id="header-top"):
                yield self._title
                yield self._clock
            yield self._status
            yield self._triggers
            yield self._why

    def show(self, f: Frame) -> None:
        v, info, launch = f.verdict, f.info, f.launch
        self._badge.show(v.status)
        self._title.show(
            Content.assemble((clean(launch.name), "bold"), " · ", ("phase ", "$muted"), (clean(v.phase_name), "bold"))
        )
        self._clock.show(Content.styled(v.clock, "bold"))
        status, triggers = self._status, self._triggers
        width = status.size.width or max(20, self.app.size.width - 18)
        # built again only when what they say changed (the header is shown on every tick and every second)
        status_key = (width, info)
        if status_key != self._status_key:
            self._status_key = status_key
            status.show(fit(width, *(_status_line(f, n) for n in range(5))))
        trigger_key = (width, launch.rollback.auto_allowed, _trigger_modes(f))
        if trigger_key != self._trigger_key:
            self._trigger_key = trigger_key
            triggers.show(fit(width, _trigger_line(f), _trigger_line(f, compact=True)))
        top = v.reasons[0] if v.reasons else ""
        more = len(v.reasons) - 1
        hint = f"  +{more} more (r)" if more > 0 else "  (r)" if info.mode != "replay" else ""
        self._why.show_reason(clean(top), hint)


def why_line(width: int, reason: str, hint: str) -> Content:
    """ "why: <reason><hint>" in `width` cells: a long reason (free text, a commander's NO-GO) is cut with an
    ellipsis where the line has room for it, so the hint that more reasons wait behind r stays on screen (the
    Line's own ellipsis cut the hint off, or left it ending in a clipped "(r)"). `reason` is already sanitised."""
    head = Content.styled("why: ", "$muted")
    text = Content(reason)
    room = width - head.cell_length - len(hint)
    if text.cell_length > room and room >= 8:
        text = text.truncate(room, ellipsis=True)
    return Content.assemble(head, text, Content.styled(hint, "$muted") if hint else "")


def fit(width: int, *forms: Content) -> Content:
    """The first form that fits in `width` cells (the last one, cut, if none does): a considered
    abbreviation instead of an ellipsis."""
    for form in forms:
        if form.cell_length <= width:
            return form
    return forms[-1]


def _status_line(f: Frame, compact: int = 0) -> Content:
    """The mode, recorder and actor line; `compact` 1 drops the log path (the log panel shows it),
    2 also names only the first role with a count of the others, 3 the actor without account and host,
    4 only the count of roles."""
    info = f.info
    parts: list[Content | str] = []
    if info.mode == "replay":
        parts.append(Content.styled(" REPLAY ", "bold reverse"))
        parts.append(Content.styled(f" log {clean(info.note)}", "$muted"))
    elif info.mode == "observer":
        parts.append(Content.styled(" OBSERVER ", "bold reverse"))
        parts.append(Content(f" read only{': ' + clean(info.note) if info.note else ''} · {clean(info.actor)}"))
    else:
        parts.append(Content.styled(" LIVE ", "bold reverse"))
        rec = info.recorder or "following"
        style = "bold" if rec == "recording" else "$muted"
        if rec.startswith("recording FAILING"):
            style = "bold $gate-nogo"
        parts.append(Content.assemble(" ", (clean(rec), style)))
        roles = ", ".join(info.roles)
        if compact >= 2 and len(info.roles) > 1:
            roles = f"{info.roles[0]} +{len(info.roles) - 1} roles"
        if compact >= 4 and len(info.roles) > 1:
            roles = f"{len(info.roles)} roles"
        actor = _bare_actor(info.actor) if compact >= 3 else info.actor
        parts.append(Content(f" · {clean(actor)}" + (f" as {clean(roles)}" if roles else "")))
        if info.dry_run:
            parts.append(Content.styled(" · rollback DRY RUN", "$gate-warn"))
    if info.log_path and not compact:
        parts.append(Content.styled(f" · log {clean(info.log_path)}", "$muted"))
    return Content.assemble(*parts)


def _bare_actor(label: str) -> str:
    """'demo [claimed, account root]@vm' -> 'demo [claimed]': the name and whether it is claimed, for a narrow
    header (the log panel and `warroom log` keep the account and host)."""
    name, sep, rest = label.partition(" [")
    if not sep:
        return label.partition("@")[0] or label
    inside = rest.partition("]")[0]
    return f"{name} [{inside.partition(',')[0]}]"


def _trigger_line(f: Frame, compact: bool = False) -> Content:
    """Auto-rollback and each trigger's mode; `compact` says 'rec' for recommend, 'auto-rb' for
    auto-rollback and 'unarmed', so every trigger keeps its name at 80 columns."""
    launch = f.launch
    modes = _trigger_modes(f)
    if not modes:
        return Content.styled("no rollback triggers defined", "$muted")
    armed = launch.rollback.auto_allowed and any(m == "auto" for _c, m, _b in modes)
    parts: list[Content | str] = [
        Content.styled("auto-rb " if compact else "auto-rollback ", "$muted"),
        Content.styled("ARMED", "bold $gate-rollback") if armed else Content("unarmed" if compact else "not armed"),
        Content.styled(" · " if compact else " · triggers ", "$muted"),
    ]
    for i, (cid, mode, breached) in enumerate(modes):
        if i:
            parts.append(Content.styled(" · ", "$muted"))
        style = "bold $gate-rollback" if breached else ("bold" if mode == "auto" else "")
        word = "rec" if compact and mode == "recommend" else fmt.TRIGGER_MODE.get(mode, mode)
        parts.append(Content.styled(f"{cid} {word}" + (" BREACHED" if breached else ""), style))
    return Content.assemble(*parts)


def _trigger_modes(f: Frame) -> list[tuple[str, str, bool]]:
    """Each trigger's criterion, mode and whether it is breached: what the trigger line says."""
    return [
        (cv.criterion.id, cv.trigger_mode, cv.trigger_breached)
        for cv in f.verdict.criteria
        if cv.criterion.trigger is not None
    ]


PANELS: tuple[tuple[str, str], ...] = (
    ("gates", "Go/No-go"),
    ("checklist", "Checklist"),
    ("alerts", "Alerts"),
    ("signoffs", "Sign-offs"),
    ("rollback", "Rollback"),
    ("log", "Log"),
)


SHORT_PANELS: tuple[tuple[str, str], ...] = (
    ("gates", "Go"),
    ("checklist", "List"),
    ("alerts", "Alerts"),
    ("signoffs", "Sign"),
    ("rollback", "Back"),
    ("log", "Log"),
)


class TabBar(Line):
    """One line of panel names for small terminals; the number keys switch."""

    def __init__(self) -> None:
        super().__init__(id="tabbar")
        self.active = "gates"
        self.badges: dict[str, str] = {}

    def set(self, active: str | None = None, badges: dict[str, str] | None = None) -> None:
        if active is not None:
            self.active = active
        if badges is not None:
            self.badges = badges
        width = self.size.width or self.app.size.width
        for titles in (PANELS, SHORT_PANELS):  # the short names when the full ones would not fit
            parts: list[Content | str] = [" "]
            for n, (pid, title) in enumerate(titles, 1):
                label = f"{n} {title}{self.badges.get(pid, '')} "
                style = "bold reverse" if pid == self.active else ""
                parts.append(Content.styled(label, style).stylize(f"@click=app.show_panel('{pid}')"))
            line = Content.assemble(*parts)
            if line.cell_length <= width:
                break
        self.show(line)


class ReplayBar(Line):
    """Where the playhead is, how fast it moves, and the keys that move it."""

    def set(self, t: float, start: float, end: float, t0: float, speed: float, playing: bool) -> None:
        span = max(1e-9, end - start)
        pos = fmt.bar(round((t - start) / span * 1000), 1000, 20)
        state = "▶ playing" if playing else "‖ paused"
        self.show(
            Content.assemble(
                (" REPLAY ", "bold reverse"),
                " ",
                (state, "bold"),
                f" ×{speed:g}  ",
                (format_t_relative(t - t0), "bold"),
                f" {pos} ",
                (format_t_relative(end - t0), "$muted"),
                " ",
                ("   p play · [ ] decisions · +/- speed · g jump", "$muted"),
            )
        )
