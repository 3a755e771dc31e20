"""The six panels. Each turns a Frame into rows; the RowTable repaints only what differs.

Every piece of text that came from outside (alert labels, annotations, values,
command output, notes, actor names) goes through `safe.clean`/`safe.plain`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, cast

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.css.scalar import Unit
from textual.visual import visualize
from textual.widget import Widget

from warroom.config import Launch
from warroom.core.state import AlertState, CriterionView, SourceView
from warroom.core.units import format_duration
from warroom.ui import details, fmt
from warroom.ui.drawn import same
from warroom.ui.frame import Frame, short_actor
from warroom.ui.header import Line
from warroom.ui.rowtable import Column, Row, RowTable
from warroom.ui.safe import clean, clean_lines, plain
from warroom.ui.strips import MemoStatic

if TYPE_CHECKING:
    from textual.css.styles import RulesMap

    from warroom.config.schema import Item
    from warroom.core.state import ItemState

W = TypeVar("W", bound=Widget)


class Block(MemoStatic):
    """A few lines that wrap (never cut with an ellipsis); relaid out only when what it says changes."""

    DEFAULT_CSS = "Block { height: auto; width: 1fr; text-wrap: wrap; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__("", id=id, classes=classes)
        self._shown: object = None

    def show(self, content: Content | str) -> None:
        """A layout only when the new text takes another number of lines: one relays out the whole screen (and
        repaints every panel whose place it touches), and details that change on a tick or every second (an
        item's state, an age) mostly keep their height."""
        if same(content, self._shown):
            return
        self._shown = content
        self.show_content(content, layout=self._resizes(content))

    def _resizes(self, content: Content | str) -> bool:
        """Whether showing `content` may change this block's size: not when it is hidden or its height is fixed
        (the wide and tall screen's details), nor when it wraps to as many lines as what it shows now."""
        if self.styles.display == "none":
            return False  # shown again, it is laid out then
        height = self.styles.height
        if height is not None and height.unit == Unit.CELLS:
            return False
        width = self.content_size.width
        if width <= 0:
            return True
        rules = cast("RulesMap", self.styles)  # what Textual's own get_content_height passes
        now = self._render().get_height(rules, width)
        return visualize(self, content, markup=False).get_height(rules, width) != now


class Panel(Vertical):
    """A bordered panel; `pid` names it for the tab bar and the number keys."""

    pid = ""
    title = ""
    key = ""

    def __init__(self) -> None:
        super().__init__(id=f"panel-{self.pid}", classes="panel")
        self.border_title = f"{self.key} {self.title}"
        self.frame: Frame | None = None  # the latest frame the screen gave it (its detail line reads it)
        self._parts: dict[str, Widget] = {}

    @property
    def table(self) -> RowTable:
        return self.part("RowTable", RowTable)

    def line(self, id: str) -> Line:
        return self.part(f"#{id}", Line)

    def part(self, selector: str, kind: type[W]) -> W:
        """`query_one`, remembered: a panel's widgets are made once in compose, and a repaint that searched the
        DOM for each of them spent more than it drew."""
        got = self._parts.get(selector)
        if not isinstance(got, kind) or not got.is_attached:
            got = self._parts[selector] = self.query_one(selector, kind)
        return got

    def show(self, f: Frame) -> None:
        raise NotImplementedError

    def _detail(self, f: Frame) -> None:
        """The highlighted row's details (a wide and tall screen shows more of them)."""

    def on_resize(self) -> None:
        if self.frame is not None:
            self._detail(self.frame)  # across the wide-and-tall line the detail changes form


# ---------------------------------------------------------------- go / no-go


class GatesPanel(Panel):
    pid, title, key = "gates", "Go / No-go", "1"

    def compose(self) -> ComposeResult:
        yield RowTable(
            [
                Column("name", "Criterion", flex=True, min_width=12, whole=True),
                Column("threshold", "Threshold", min_width=9),
                Column("actual", "Actual", min_width=8, align="right"),
                Column("state", "State", width=10),
                Column("trend", "Trend", min_width=12, priority=3, fill=True),
                Column("age", "Age", width=6, align="right", priority=2),
                Column("trigger", "Trigger", min_width=7),
            ],
            empty="no criteria in this launch",
        )
        yield Line(id="gate-detail", classes="detail brief")
        yield Block(id="gate-more", classes="more")
        yield Block(id="gate-sources", classes="sources")

    def show(self, f: Frame) -> None:
        spark = self.table.column_width("trend") or 12  # the sparkline fills its column: as many points as cells
        rows = [Row(cv.criterion.id, _gate_cells(cv, spark)) for cv in f.verdict.criteria]
        self.table.set_rows(rows)
        self._detail(f)
        feeding = {cv.criterion.source for cv in f.verdict.criteria}
        self.part("#gate-sources", Block).show(
            sources_line([s for s in f.verdict.sources if s.name in feeding or s.kind.startswith("notify")], f.t0)
        )

    def _detail(self, f: Frame) -> None:
        key = self.table.cursor_key
        cv = next((c for c in f.verdict.criteria if c.criterion.id == key), None)
        if cv is None:
            self.line("gate-detail").show("")
            self.part("#gate-more", Block).show("")
            return
        if details.roomy(self):
            self.part("#gate-more", Block).show(details.criterion_more(f, cv))
            return
        c = cv.criterion
        since = f.state.criteria[c.id].tracker.since
        text = Content.assemble((clean(c.name), "bold"), ": ", fmt.level(cv.level.value), " — ", clean(cv.reason))
        if since is not None:
            text += Content.styled(f" (since {fmt.t_rel(since, f.t0)})", "$muted")
        self.line("gate-detail").show(text)

    def on_row_table_highlighted(self, event: RowTable.Highlighted) -> None:
        if self.frame is not None:
            self._detail(self.frame)

    def on_row_table_resized(self, event: RowTable.Resized) -> None:
        if self.frame is not None:
            self.show(self.frame)  # the trend column's width changed: as many points as it now has cells


def _gate_cells(cv: CriterionView, spark: int) -> tuple[Content, ...]:
    c = cv.criterion
    var = fmt.level_var(cv.level.value)
    name = plain(c.name) if c.required else plain(c.name) + Content.styled(" (adv)", "$muted")
    actual = Content.styled(clean(cv.shown), f"${var}") if cv.value is not None else Content.styled("—", "$muted")
    if c.trigger is None:
        trig = Content.styled("—", "$muted")
    else:
        mode = fmt.TRIGGER_MODE.get(cv.trigger_mode, cv.trigger_mode)
        if cv.trigger_breached:
            trig = Content.styled(f"↺ {c.trigger.when} BREACHED {mode}", "bold $gate-rollback")
        else:
            trig = Content.assemble(
                clean(c.trigger.when), " ", (mode, "bold" if cv.trigger_mode == "auto" else "$muted")
            )
    return (
        name,
        plain(c.threshold_text),
        actual,
        fmt.level(cv.level.value),
        Content.styled(fmt.sparkline(cv.trend, spark), f"${var}"),
        Content(fmt.age_coarse(cv.age)),
        trig,
    )


# ---------------------------------------------------------------- checklist


ALERTS_MIN = 34  # the alert feed beside a wide checklist keeps this many columns


class ChecklistPanel(Panel):
    pid, title, key = "checklist", "Checklist", "2"

    def __init__(self) -> None:
        super().__init__()
        self._phase: str | None = "<none>"
        self._fitted = False
        self._rows: dict[tuple[object, ...], Row] = {}  # item rows by what they show (checklist_rows)
        self._rows_of: Launch | None = None

    def compose(self) -> ComposeResult:
        yield Line(id="checklist-overall")
        yield RowTable(
            [
                Column("item", "Item", flex=True, min_width=24, whole=True),
                Column("owner", "Owner", min_width=5, priority=2),
                Column("status", "Status", min_width=13),
                Column("when", "When", width=11, priority=3),
            ],
            show_header=False,
            empty="no checklist items",
        )
        yield Line(id="checklist-detail", classes="detail brief")
        yield Block(id="checklist-more", classes="more")

    def show(self, f: Frame) -> None:
        v = f.verdict
        self.line("checklist-overall").show(
            Content.assemble(
                ("Overall ", "bold"),
                fmt.progress(v.done, v.total, 12),
                (f"  {round(100 * v.done / v.total) if v.total else 0}%", "$muted"),
                ("   space: tick · ←/→: fold", "$muted"),
            )
        )
        if f.launch is not self._rows_of or len(self._rows) > 4 * len(f.launch.items_by_id) + 16:
            self._rows, self._rows_of = {}, f.launch  # another launch's items; or forget the ticks long undone
        rows = checklist_rows(f, self._rows)
        table = self.table
        if v.phase_id != self._phase:
            # on the first paint and when the phase changes: open what is due, fold the rest
            self._phase = v.phase_id
            table.set_rows(rows)
            table.set_collapsed({f"phase:{p.id}" for p in v.phases if not (p.current or (p.due and p.done < p.total))})
            if v.phase_id:
                table.move_cursor_to_key(f"phase:{v.phase_id}")
        else:
            table.set_rows(rows)
        self._fit()
        self._detail(f)

    def on_resize(self) -> None:
        self._fit()
        super().on_resize()

    def _fit(self) -> None:
        """On a wide screen take the width the items need (and owners and times when there is room),
        leaving the alerts beside it at least ALERTS_MIN; on a small one, the tab's full width (the TCSS)."""
        screen = self.screen
        row = self.parent
        if not (screen.has_class("-wide") and screen.has_class("-tall")) or not isinstance(row, Widget):
            if self._fitted:
                self.styles.width = None  # back to the TCSS's width
                self._fitted = False
            return
        across = row.size.width or _lower_row_width(screen)
        room = across - ALERTS_MIN
        table = self.table
        scrolls = len(table.visible_keys) + table.header_lines > max(1, table.size.height)
        frame = 4 + (2 if scrolls else 0)  # border and padding, and a scrollbar when the rows overflow
        need = self.table.natural_width(0) + frame
        full = self.table.natural_width(9) + frame
        half = across // 2
        width = max(40, min(max(need, min(full, half)), room))  # uncut items first; owners and times if they fit
        if not self._fitted or self.styles.width is None or self.styles.width.value != width:
            self.styles.width = width
            self._fitted = True

    def _detail(self, f: Frame) -> None:
        item_id = self.item_under_cursor()
        line = self.line("checklist-detail")
        if item_id is None:
            line.show("")
            more = details.group_more(f, self.table.cursor_key or "") if details.roomy(self) else ""
            self.part("#checklist-more", Block).show(more)
            return
        if details.roomy(self):
            self.part("#checklist-more", Block).show(details.item_more(f, item_id))
            return
        _p, _s, it = f.launch.items_by_id[item_id]
        ist = f.state.items[item_id]
        parts: list[Content | str] = [plain(it.text, "bold")]
        if it.owner:
            parts.append(plain(f" · owner {it.owner}"))
        if it.critical:
            parts.append(Content.styled(" · CRITICAL", "$gate-nogo"))
        if it.criterion:
            parts.append(plain(f" · ticks itself from criterion {it.criterion}"))
        elif ist.by:
            parts.append(
                plain(
                    f" · {'ticked' if ist.done else 'unticked'} by {short_actor(ist.by)} at {fmt.t_rel(ist.at, f.t0)}"
                )
            )
        line.show(Content.assemble(*parts))

    def on_row_table_highlighted(self, event: RowTable.Highlighted) -> None:
        if self.frame is not None:
            self._detail(self.frame)

    def item_under_cursor(self) -> str | None:
        key = self.table.cursor_key
        return key[5:] if key and key.startswith("item:") else None


def _lower_row_width(screen: Widget) -> int:
    """The checklist's and alerts' row before the first layout (the first frame is painted before it): the
    screen less the side column, at the width the rollback panel fitted it to, else the TCSS's."""
    total = screen.size.width
    side = screen.query_one("#col-side").styles.width
    fitted = side.cells if side is not None else None
    return total - (fitted if fitted is not None else _side_base(total))


def checklist_rows(f: Frame, cache: dict[tuple[object, ...], Row] | None = None) -> list[Row]:
    """Current phase first, then the rest in order; phases and sections fold. An item's row is taken from `cache`
    when what it shows is the same (a tick changes one item: the others were rebuilt only to be found equal)."""
    v, launch, st = f.verdict, f.launch, f.state
    progress = {p.id: p for p in v.phases}
    phases = list(launch.phases)
    order = sorted(range(len(phases)), key=lambda i: (phases[i].id != v.phase_id, i))
    by_id = {cv.criterion.id: cv for cv in v.criteria}
    rows: list[Row] = []
    for i in order:
        ph = phases[i]
        pp = progress[ph.id]
        pkey = f"phase:{ph.id}"
        tag = (
            Content.styled("● now", "bold $accent")
            if pp.current
            else (Content.styled("due", "$muted") if pp.due else Content.styled(f"at {_at(ph.at)}", "$muted"))
        )
        status = fmt.progress(pp.done, pp.total, 6)
        if pp.critical_open and pp.due:
            status += Content.styled(f" ‼{pp.critical_open}", "bold $gate-nogo")
        rows.append(Row(pkey, (plain(ph.name, "bold"), tag, status, Content()), group=True))
        for si, sec in enumerate(ph.sections):
            skey = f"section:{ph.id}:{si}"
            sdone = sum(1 for it in sec.items if it.id in v.items_done)
            rows.append(
                Row(
                    skey,
                    (
                        plain(sec.name, "$muted"),
                        Content(),
                        Content.styled(f"{sdone}/{len(sec.items)}", "$muted"),
                        Content(),
                    ),
                    parent=pkey,
                    group=True,
                )
            )
            for it in sec.items:
                done = it.id in v.items_done
                ist = st.items[it.id]
                cv = by_id.get(it.criterion) if it.criterion else None
                lvl = (cv.level.value if cv else "UNKNOWN") if it.criterion else ""
                shown = (it.id, skey, done, pp.due, lvl, ist.by if done else None, ist.at if done else None, f.t0)
                row = cache.get(shown) if cache is not None else None
                if row is None:
                    row = _item_row(it, skey, done, pp.due, lvl, ist, f.t0)
                    if cache is not None:
                        cache[shown] = row
                rows.append(row)
    return rows


def _item_row(it: Item, skey: str, done: bool, due: bool, lvl: str, ist: ItemState, t0: float) -> Row:
    box = Content.styled("[x] ", "bold $gate-go") if done else Content("[ ] ")
    text = box + plain(it.text)
    if it.critical:
        text += Content.styled(" CRIT", "bold $gate-nogo" if due and not done else "$muted")
    when = Content()
    if it.criterion:
        status = Content.assemble(("auto ", "$muted"), fmt.level(lvl, bold=False))
    elif done:
        status = Content.assemble(("✔ ", "$gate-go"), clean(_who(ist.by or "")))
        when = Content.styled(fmt.t_rel(ist.at, t0), "$muted")
    else:
        status = Content.styled("open", "$gate-unknown" if due else "$muted")
    return Row(f"item:{it.id}", (text, plain(it.owner or "", "$muted"), status, when), parent=skey)


def _at(offset: float) -> str:
    return ("T-" if offset < 0 else "T+") + format_duration(abs(offset))


# ---------------------------------------------------------------- alerts


class AlertsPanel(Panel):
    pid, title, key = "alerts", "Alerts", "3"

    def compose(self) -> ComposeResult:
        yield RowTable(
            [
                Column("sev", "Sev", width=6),
                Column("alert", "Alert", flex=True, min_width=16, wrap=True),
                Column("since", "Since", width=11, priority=1),
                Column("status", "Status", min_width=8),
                Column("source", "Source", min_width=6, priority=2),
            ],
            empty="no alerts",
        )
        yield Block(id="alert-sources", classes="sources")
        yield Line(id="alert-detail", classes="detail wrap brief")
        yield Block(id="alert-more", classes="more")

    def show(self, f: Frame) -> None:
        alerts = sorted(f.state.alerts.values(), key=lambda a: (a.started, a.key), reverse=True)
        feeds = [s for s in f.verdict.sources if s.alerts]
        blind = [s for s in feeds if s.state != "ok"]
        # an empty feed reads as "no alerts" only when every alert source was read
        empty = "no alerts" if not blind else "alerts UNKNOWN: " + "; ".join(clean(s.text(f.t0)) for s in blind)
        if empty != self.table.empty:
            self.table.empty = empty
            self.table.refresh()
        self.table.set_rows([Row(a.key, _alert_cells(a, f.t0)) for a in alerts])
        self.part("#alert-sources", Block).show(sources_line(feeds, f.t0))
        self._detail(f)

    def _detail(self, f: Frame) -> None:
        a = f.state.alerts.get(self.table.cursor_key or "")
        if a is None:
            self.line("alert-detail").show("")
            self.part("#alert-more", Block).show("")
            return
        if details.roomy(self):
            self.part("#alert-more", Block).show(details.alert_more(f, a))
            return
        labels = " ".join(f"{k}={v}" for k, v in sorted(a.labels.items()))
        notes = " · ".join(f"{k}: {v}" for k, v in sorted(a.annotations.items()))
        self.line("alert-detail").show(plain(" · ".join(x for x in (notes, labels) if x), "$muted"))

    def on_row_table_highlighted(self, event: RowTable.Highlighted) -> None:
        if self.frame is not None:
            self._detail(self.frame)


def _alert_cells(a: AlertState, t0: float) -> tuple[Content, ...]:
    if a.firing:
        status = (
            Content.styled("FIRING", "bold $gate-nogo")
            if a.acked_by is None
            else Content.assemble(("acked ", "$gate-warn"), clean(_who(a.acked_by)))
        )
        title = plain(a.title, "bold")
    else:
        status = Content.styled(f"resolved {format_duration((a.ended or a.started) - a.started)}", "$muted")
        title = plain(a.title, "$muted")
    return (fmt.severity(a.severity), title, Content(fmt.t_rel(a.started, t0)), status, plain(a.source, "$muted"))


def sources_line(sources: list[SourceView], t0: float) -> Content:
    """'sources: prom ok · alertmanager FAILING since T+00:12:00 — HTTP 401 ...' (failing ones first, in colour)."""
    if not sources:
        return Content("")
    parts: list[Content | str] = [Content.styled("sources: ", "$muted")]
    for i, s in enumerate(sorted(sources, key=lambda s: not s.failing)):
        if i:
            parts.append(Content.styled(" · ", "$muted"))
        if s.failing:
            parts.append(Content.styled(clean(s.text(t0)), "bold $gate-nogo"))
        elif s.state == "ok":
            parts.append(Content.styled(f"{clean(s.name)} ok", "$muted"))
        else:
            parts.append(Content.styled(f"{clean(s.name)} not read yet", "$gate-warn"))
    return Content.assemble(*parts)


def firing_unacked(f: Frame) -> list[AlertState]:
    return sorted(
        (a for a in f.state.alerts.values() if a.firing and a.acked_by is None), key=lambda a: a.started, reverse=True
    )


# ---------------------------------------------------------------- sign-offs


class SignoffsPanel(Panel):
    pid, title, key = "signoffs", "Sign-offs", "4"

    def compose(self) -> ComposeResult:
        yield RowTable(
            [
                Column("role", "Role", min_width=6),
                Column("state", "State", min_width=10),
                Column("by", "By", min_width=4, priority=1),
                Column("when", "When", width=11, priority=2),
                Column("reason", "Reason", flex=True, min_width=6, wrap=True),
            ],
            empty="no sign-offs required",
        )
        yield Line(id="signoff-detail", classes="detail brief")
        yield Block(id="signoff-more", classes="more")

    def show(self, f: Frame) -> None:
        rows = []
        for sv in f.verdict.signoffs:
            so = sv.signoff
            role = plain(sv.title) if sv.required else plain(sv.title) + Content.styled(" (opt)", "$muted")
            if so is None:
                rows.append(
                    Row(sv.role, (role, Content.styled("… pending", "$gate-unknown"), Content(), Content(), Content()))
                )
                continue
            state = fmt.level(so.verdict)
            if sv.stale:
                state += Content.styled(" STALE", "bold $gate-warn")
            rows.append(
                Row(sv.role, (role, state, plain(_who(so.by)), Content(fmt.t_rel(so.at, f.t0)), plain(so.reason)))
            )
        d = f.state.decision
        if d is not None:
            rows.append(
                Row(
                    "decision",
                    (
                        Content.styled("FINAL", "bold"),
                        fmt.level(d.verdict),
                        plain(_who(d.by)),
                        Content(fmt.t_rel(d.at, f.t0)),
                        plain(d.reason),
                    ),
                )
            )
        self.table.set_rows(rows)
        self._detail(f)

    def _detail(self, f: Frame) -> None:
        sv = next((s for s in f.verdict.signoffs if s.role == self.table.cursor_key), None)
        if details.roomy(self):
            self.part("#signoff-more", Block).show(details.signoff_more(f, sv) if sv is not None else "")
            return
        text: Content | str = ""
        so = sv.signoff if sv is not None else None
        if sv is not None and so is not None:
            text = Content.assemble(
                fmt.level(so.verdict), " by ", clean(short_actor(so.by)), f" at {fmt.t_rel(so.at, f.t0)}"
            )
            if sv.stale:
                text += Content.assemble((" · STALE: ", "bold $gate-warn"), clean(sv.stale_reason))
            elif so.snapshot:
                snap = ", ".join(f"{k} {v}" for k, v in so.snapshot.items())
                text += plain(f" · at sign-off: {snap}", "$muted")
        self.line("signoff-detail").show(text)

    def on_row_table_highlighted(self, event: RowTable.Highlighted) -> None:
        if self.frame is not None:
            self._detail(self.frame)


# ---------------------------------------------------------------- rollback


SIDE_MIN, SIDE_MAX = 36, 60  # the side column's TCSS bounds at 29%, which content may widen


class RollbackPanel(Panel):
    pid, title, key = "rollback", "Rollback", "5"

    def __init__(self) -> None:
        super().__init__()
        self._side_width: int | None = None
        self._siblings: dict[str, Panel] = {}

    def compose(self) -> ComposeResult:
        yield Block(id="rollback-status")
        yield RowTable(
            [
                Column("step", "Step", flex=True, min_width=12, whole=True, wrap=True),
                Column("status", "Status", min_width=8),
                Column("exit", "Exit", width=4, align="right", priority=1),
                Column("took", "Took", width=6, align="right", priority=2),
            ],
            empty="no rollback steps configured",
        )

    def show(self, f: Frame) -> None:
        launch = f.launch
        armed = launch.rollback.auto_allowed and any(
            cv.trigger_mode == "auto" for cv in f.verdict.criteria if cv.criterion.trigger is not None
        )
        self.part("#rollback-status", Block).show(rollback_status(f, armed))
        self.table.set_rows(rollback_rows(f, launch))

    def on_resize(self) -> None:
        self.fit_side()
        super().on_resize()

    def fit_side(self) -> bool:
        """On a wide screen the side column takes the width the rollback steps need, as far as the main column
        can spare it (the checklist's items whole, the alerts at ALERTS_MIN); never less than the TCSS's 29%.
        What is still too long wraps (the step column and the status lines), so nothing is cut. It reads the
        checklist's and the gates' rows too, so the screen calls it once their frame is drawn, whichever order
        the panels were drawn in (a width that depended on that order differed between live and replay).
        True when the width changed."""
        screen, side = self.screen, self.parent
        if not isinstance(side, Widget) or side.id != "col-side":
            return False
        if not (screen.has_class("-wide") and screen.has_class("-tall")):
            if self._side_width is not None:
                side.styles.width = side.styles.max_width = None  # back to the TCSS's width
                self._side_width = None
                return True
            return False
        if not self._siblings:  # made once in compose: searched for once, not on every frame
            self._siblings = {p.pid: p for p in screen.query(Panel)}
        panels = self._siblings
        total = screen.size.width
        base = _side_base(total)
        need = self.table.natural_width(2) + 6  # border, padding and a scrollbar
        checklist = panels["checklist"].table.natural_width(0) + 6 if "checklist" in panels else 0
        gates = panels["gates"].table.natural_width(0) + 6 if "gates" in panels else 0
        spare = total - max(checklist + ALERTS_MIN + 6, gates)  # the alerts keep a little more than their minimum
        width = max(base, min(need, spare, total // 2))
        if width == self._side_width:
            return False
        self._side_width = width
        side.styles.width = width
        side.styles.max_width = max(width, SIDE_MAX)
        return True


def _side_base(total: int) -> int:
    """The side column's width in the TCSS (29%, within its bounds) on a screen `total` cells wide."""
    return min(SIDE_MAX, max(SIDE_MIN, total * 29 // 100))


def rollback_status(f: Frame, armed: bool) -> Content:
    """What the last run did and who ran it (each on its own line: an actor is never cut to fit), whether
    auto-rollback is armed, and the keys. Lines wrap rather than being cut."""
    rb, launch = f.state.rollback, f.launch
    status_style = {"running": "bold $gate-warn", "failed": "bold $gate-nogo", "succeeded": "bold $gate-go"}
    head = Content.styled(rb.status.upper(), status_style.get(rb.status, "bold"))
    guard: list[Content | str] = [
        Content.styled("auto-rollback ", "$muted"),
        Content.styled("ARMED", "bold $gate-rollback") if armed else Content("not armed"),
    ]
    if launch.rollback.dry_run or f.info.dry_run:
        guard.append(Content.styled("  DRY RUN", "$gate-warn"))
    lines: list[Content] = []
    if rb.status == "idle":
        lines.append(Content.assemble(head, "  ", *guard))
    else:
        lines.append(
            Content.assemble(
                head,
                ("" if rb.procedure == "primary" else f" procedure {clean(rb.procedure)}"),
                (" " + clean(" ".join(f"{k}={v}" for k, v in rb.values.items())) if rb.values else ""),
            )
        )
        lines.append(
            Content.assemble(
                ("by ", "$muted"),
                (clean(rb.by or "?"), "bold"),
                (" automatically" if rb.automatic else ""),
                (" (dry run)" if rb.dry_run else ""),
                (f" at {fmt.t_rel(rb.started, f.t0)}" if rb.started else "", "$muted"),
            )
        )
        if rb.outcome:
            lines.append(plain(rb.outcome, "$gate-nogo" if rb.status == "failed" else "$muted"))
        if rb.verify:
            verify_style = {"passed": "$gate-go", "failed": "bold $gate-nogo"}.get(rb.verify, "$muted")
            lines.append(
                Content.assemble(("verify ", "$muted"), (clean(rb.verify), verify_style), " ", clean(rb.verify_detail))
            )
        lines.append(Content.assemble(*guard))
    keys = "R: roll back" + ("  B: choose the way back" if launch.rollback.alternatives else "")
    lines.append(Content.styled(keys, "$muted"))
    return Content("\n").join(lines)


def rollback_rows(f: Frame, launch: Launch) -> list[Row]:
    rb = f.state.rollback
    rows: list[Row] = []
    if rb.steps:
        for i, s in enumerate(rb.steps):
            style = {
                "ok": "$gate-go",
                "failed": "bold $gate-nogo",
                "timeout": "bold $gate-nogo",
                "interrupted": "bold $gate-nogo",
                "running": "bold $gate-warn",
            }.get(s.status, "$muted")
            took = format_duration(s.finished - s.started) if s.started and s.finished else ""
            key = f"step:{i}"
            rows.append(
                Row(
                    key,
                    (
                        plain(f"{i + 1}. {s.name}"),
                        Content.styled(s.status, style),
                        Content("" if s.exit_code is None else str(s.exit_code)),
                        Content(took),
                    ),
                    group=bool(s.output),
                )
            )
            for j, line in enumerate(s.output[-8:]):
                for k, part in enumerate(clean_lines(line)):
                    rows.append(
                        Row(
                            f"{key}:out:{j}:{k}",
                            (plain(part, "$muted"), Content(), Content(), Content()),
                            parent=key,
                            clip=True,
                        )
                    )
        return rows
    for i, step in enumerate(launch.rollback.steps):
        cmd = step.shell if step.shell is not None else " ".join(step.run or [])
        rows.append(
            Row(f"plan:{i}", (plain(f"{i + 1}. {step.name}"), Content.styled("ready", "$muted"), Content(), Content()))
        )
        rows.append(Row(f"plan:{i}:cmd", (plain(f"$ {cmd}", "$muted"), Content(), Content(), Content()), parent=None))
    rows.extend(_plan_extras(launch))
    return rows


def _blank_row(key: str, text: Content, parent: str | None = None, group: bool = False) -> Row:
    return Row(key, (text, Content(), Content(), Content()), parent=parent, group=group)


def _plan_extras(launch: Launch) -> list[Row]:
    """How the plan is checked, the other ways back, and the runbook's human actions under each stage."""
    rb = launch.rollback
    rows: list[Row] = []
    if rb.verify is not None:
        what = f"criterion {rb.verify.criterion} GO" if rb.verify.criterion else "a command"
        rows.append(
            _blank_row(
                "plan:verify", plain(f"then verify: {what} within {format_duration(rb.verify.within)}", "$muted")
            )
        )
    for alt in rb.alternatives:
        rows.append(
            _blank_row(
                f"alt:{alt.id}",
                plain(f"or {alt.id} (B)" + (f": {alt.description}" if alt.description else ""), "$muted"),
            )
        )
    for stage in rb.runbook:
        key = f"runbook:{stage.name}"
        title = f"runbook: {stage.name}" + (f" ({stage.within})" if stage.within else "")
        rows.append(_blank_row(key, plain(title, "$muted"), group=bool(stage.actions)))
        for j, action in enumerate(stage.actions):
            rows.append(_blank_row(f"{key}:{j}", plain(f"· {action}", "$muted"), parent=key))
    return rows


# ---------------------------------------------------------------- decision log


class LogPanel(Panel):
    pid, title, key = "log", "Decision log", "6"

    def compose(self) -> ComposeResult:
        yield RowTable(
            [
                Column("when", "When", width=11),
                Column("who", "Who", min_width=4, priority=1),
                Column("what", "What", flex=True, min_width=12),
            ],
            show_header=False,
            empty="nothing recorded yet",
        )
        yield Line(id="log-path", classes="detail wrap")

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[tuple[object, ...], Row] = {}  # one row per timeline entry, made once
        self._t0: float | None = None

    def show(self, f: Frame) -> None:
        self.line("log-path").show(
            plain(f"log: {f.info.log_path}" if f.info.log_path else f"replay · {f.info.note}", "$muted")
        )
        table = self.table
        at_end = table.cursor_key in (None, table.last_key)
        if f.t0 != self._t0 or len(self._rows) > 2 * max(len(f.state.timeline), 100):
            self._rows, self._t0 = {}, f.t0  # the times are relative to t0; and forget what scrolled away
        cache, rows = self._rows, []
        for e in f.state.timeline:
            k = (e.seq, e.ts, e.actor, e.kind, e.text)
            row = cache.get(k)
            if row is None:
                row = cache[k] = Row(
                    str(e.seq),
                    (
                        Content(fmt.t_rel(e.ts, f.t0)),
                        plain(_who(e.actor), "$muted"),
                        plain(e.text, "bold" if e.kind == "note" else ""),
                    ),
                )
            rows.append(row)
        if table.set_rows(rows) and at_end and rows:
            table.action_cursor_to(-1)


def _who(label: str) -> str:
    name = short_actor(label)
    return name.split("@", 1)[0] if "@" in name else name


PANEL_TYPES: tuple[type[Panel], ...] = (GatesPanel, ChecklistPanel, AlertsPanel, SignoffsPanel, RollbackPanel, LogPanel)
