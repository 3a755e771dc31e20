"""What a wide and tall console shows under each panel's rows: the highlighted row in full.

At 160x48 and up the panels have room to spare, and a commander wants the
context behind a row without opening anything: a criterion's thresholds,
trigger, source and recent range; a checklist item's owner and its details;
an alert's annotations and labels; a role's members and duties. Small
terminals keep their one-line details (the panels' `Line`s); these blocks are
hidden there by the TCSS. Every outside string goes through `safe`.
"""

from __future__ import annotations

import math

from textual.content import Content
from textual.widget import Widget

from warroom.config import Launch
from warroom.core.state import AlertState, CriterionView, SignoffView, poll_interval, stale_limit
from warroom.core.units import format_duration, format_value
from warroom.ui import fmt
from warroom.ui.frame import Frame, short_actor
from warroom.ui.safe import clean, plain

BULLET = "· "
# Each block has a fixed height (layout.tcss: the panel above it must not jump as the cursor moves), so each
# says what it has in at most this many lines.
CRITERION_LINES, ITEM_LINES, ALERT_LINES, SIGNOFF_LINES = 4, 5, 10, 5


def roomy(widget: Widget) -> bool:
    """The console shows every panel at once (wide and tall): the panels have room for more."""
    screen = widget.screen
    return screen.has_class("-wide") and screen.has_class("-tall")


def _lines(*lines: Content | None) -> Content:
    return Content("\n").join(line for line in lines if line is not None)


def _muted(text: str) -> Content:
    return plain(text, "$muted")


# ---------------------------------------------------------------- criteria


def criterion_more(f: Frame, cv: CriterionView) -> Content:
    """The criterion's state and reason, what it is, where it comes from, its thresholds and its recent range."""
    c = cv.criterion
    since = f.state.criteria[c.id].tracker.since
    head = Content.assemble((clean(c.name), "bold"), ": ", fmt.level(cv.level.value), " — ", clean(cv.reason))
    if since is not None:
        head += Content.styled(f" (since {fmt.t_rel(since, f.t0)})", "$muted")
    every = poll_interval(f.launch, c)
    stale = stale_limit(f.launch, c)
    where = f"source {c.source}" + (f", every {format_duration(every)}" if every else "")
    where += f", stale after {format_duration(stale)}" if stale else ""
    bands = [f"GO {c.go}"]
    if c.warn:
        bands.append(f"warn {c.warn}")
    if c.clear:
        bands.append(f"clear {c.clear}")
    confirm = f"NO-GO after {c.breach_samples} sample{'s' if c.breach_samples != 1 else ''}"
    if c.breach_hold:
        confirm += f" held {format_duration(c.breach_hold)}"
    bands.append(confirm)
    rules = _muted(" · ".join(bands) + (" · advisory (does not gate)" if not c.required else ""))
    if c.trigger is not None:
        t = c.trigger
        held = f" held {format_duration(t.hold)}" if t.hold else ""
        mode = fmt.TRIGGER_MODE.get(cv.trigger_mode, cv.trigger_mode)
        rules += Content.assemble(
            _muted(f" · rollback trigger {t.when} for {t.samples} sample{'s' if t.samples != 1 else ''}{held}: "),
            (mode, "bold $gate-rollback" if cv.trigger_breached else "bold"),
            (" BREACHED" if cv.trigger_breached else "", "bold $gate-rollback"),
        )
    seen = _range(cv, every)
    return _lines(
        head,
        _muted(c.description) if c.description else None,
        rules,
        _muted(where + (f" · {seen}" if seen else "")),
    )


def _range(cv: CriterionView, every: float) -> str:
    nums = [v for v in cv.trend if v is not None and math.isfinite(v)]
    if not nums:
        return ""
    c = cv.criterion
    bounds = c.fixed_bounds
    span = f" (~{format_duration(every * len(cv.trend))})" if every else ""
    low, high = format_value(min(nums), c.unit, bounds), format_value(max(nums), c.unit, bounds)
    gaps = len(cv.trend) - len(nums)
    return f"last {len(cv.trend)} samples{span}: low {low}, high {high}" + (f", {gaps} without a value" if gaps else "")


# ---------------------------------------------------------------- checklist


def owner_text(launch: Launch, role_id: str | None) -> str:
    """'Security Lead (security)': the owning role by its title and who holds it."""
    if not role_id:
        return ""
    role = launch.roles_by_id.get(role_id)
    if role is None:
        return role_id
    return role.title + (f" ({', '.join(role.members)})" if role.members else "")


def item_more(f: Frame, item_id: str) -> Content:
    """The item whole, its owner, whether and by whom it is done, and its details."""
    _p, sec, it = f.launch.items_by_id[item_id]
    ist = f.state.items[item_id]
    head = plain(it.text, "bold")
    if it.critical:
        head += Content.styled(" · CRITICAL", "bold $gate-nogo")
    facts: list[str] = [f"section {sec.name}"]
    if it.owner:
        facts.append(f"owner {owner_text(f.launch, it.owner)}")
    status: Content
    if it.criterion:
        cv = next((c for c in f.verdict.criteria if c.criterion.id == it.criterion), None)
        name = cv.criterion.name if cv else it.criterion
        status = Content.assemble(
            _muted(f"ticks itself from criterion {name}: "), fmt.level(cv.level.value if cv else "UNKNOWN")
        )
    elif ist.by:
        verb = "ticked" if ist.done else "unticked"
        status = _muted(f"{verb} by {short_actor(ist.by)} at {fmt.t_rel(ist.at, f.t0)}")
    else:
        status = _muted("open: nobody has ticked it")
    room = ITEM_LINES - 2
    details = [_muted(BULLET + d) for d in it.details[: room if len(it.details) <= room else room - 1]]
    if len(it.details) > len(details):
        details.append(_muted(f"and {len(it.details) - len(details)} more details (in the config)"))
    return _lines(head, Content.assemble(_muted(" · ".join(facts) + " · "), status), *details)


def group_more(f: Frame, key: str) -> Content:
    """A phase or section under the cursor: when it starts, and what in it is still open (critical first)."""
    parts = key.split(":")
    phase = next((p for p in f.launch.phases if len(parts) > 1 and p.id == parts[1]), None)
    if phase is None:
        return Content("")
    sections = list(phase.sections)
    if parts[0] == "section" and len(parts) > 2 and parts[2].isdigit() and int(parts[2]) < len(sections):
        sections = [sections[int(parts[2])]]
        name = f"{phase.name} › {sections[0].name}"
    else:
        name = phase.name
    start = ("T-" if phase.at < 0 else "T+") + format_duration(abs(phase.at))
    items = [it for sec in sections for it in sec.items]
    open_items = sorted((it for it in items if it.id not in f.verdict.items_done), key=lambda it: not it.critical)
    head = Content.assemble(
        (clean(name), "bold"), _muted(f" · from {start} · {len(items) - len(open_items)}/{len(items)} done")
    )
    if not open_items:
        return _lines(head, Content.styled("all done", "$gate-go"))
    room = ITEM_LINES - 1
    shown = open_items[: room if len(open_items) <= room else room - 1]
    rows = [
        Content.assemble(
            _muted(BULLET),
            plain(it.text),
            (" CRIT" if it.critical else "", "bold $gate-nogo"),
            _muted(f" · {owner_text(f.launch, it.owner)}" if it.owner else ""),
        )
        for it in shown
    ]
    more = _muted(f"and {len(open_items) - len(shown)} more open") if len(open_items) > len(shown) else None
    return _lines(Content.assemble(head, _muted(" · open:")), *rows, more)


# ---------------------------------------------------------------- alerts


def alert_more(f: Frame, a: AlertState) -> Content:
    """How long the alert has fired and who acknowledged it, then its labels and annotations."""
    head = fmt.severity(a.severity)  # its title is whole in its row above (the column wraps)
    if a.firing:
        when = f"firing since {fmt.t_rel(a.started, f.t0)} (for {format_duration(f.now - a.started)})"
    else:
        when = f"resolved at {fmt.t_rel(a.ended, f.t0)} after {format_duration((a.ended or a.started) - a.started)}"
    facts = [when, f"source {a.source}"]
    if a.acked_by:
        facts.append(
            f"acked by {short_actor(a.acked_by)}" + (f" at {fmt.t_rel(a.acked_at, f.t0)}" if a.acked_at else "")
        )
    if a.silence:
        facts.append(f"silenced ({a.silence})")
    notes = [Content.assemble(plain(f"{k}: ", "bold $muted"), plain(v)) for k, v in sorted(a.annotations.items())]
    labels = " ".join(f"{k}={v}" for k, v in sorted(a.labels.items()))
    tail = [_muted(f"labels: {labels}"), *notes] if labels else notes  # labels first: short, and they route it
    return _lines(head + _muted(" " + " · ".join(facts)), *tail[: ALERT_LINES - 1])


# ---------------------------------------------------------------- sign-offs


def signoff_more(f: Frame, sv: SignoffView) -> Content:
    """Who may sign for the role and what it answers for; then the sign-off itself and what it saw."""
    role = f.launch.roles_by_id.get(sv.role)
    head = Content.assemble((clean(sv.title), "bold"), _muted(" · required" if sv.required else " · optional"))
    who = _muted(f"members: {', '.join(role.members) or 'none'}") if role is not None else None
    duties = _muted(f"duties: {'; '.join(role.duties)}") if role is not None and role.duties else None
    so = sv.signoff
    if so is None:
        signed: Content | None = Content.styled("not signed yet", "$gate-unknown")
        snap = None
    else:
        signed = Content.assemble(
            fmt.level(so.verdict), " by ", clean(short_actor(so.by)), f" at {fmt.t_rel(so.at, f.t0)}"
        )
        if so.reason:
            signed += _muted(f": {so.reason}")
        if sv.stale:
            signed += Content.assemble((" · STALE: ", "bold $gate-warn"), clean(sv.stale_reason))
        snap = _muted("at sign-off: " + ", ".join(f"{k} {v}" for k, v in so.snapshot.items())) if so.snapshot else None
    return _lines(head, signed, snap, who, duties)  # what was signed first; duties (often long) last
