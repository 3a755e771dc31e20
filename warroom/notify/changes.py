"""What is worth telling people: the notifiable signals of a launch, read off the fold's state and verdict.

No rule is re-implemented here: a breach is the fold's `criterion:ID` alert, a rollback trigger is the view's
`trigger_breached`, the verdict is the view's. Each signal has a value; a change is a signal whose value differs
from the one last announced. The memory of what was announced is the log itself (`notify` events with
state `queued`), so a recorder that takes over announces what changed since, and nothing twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from warroom.config import Launch
from warroom.core.events import Event
from warroom.core.state import LaunchState, Verdict
from warroom.core.text import clean
from warroom.core.units import format_duration

CLEAR = "clear"  # the value of a breach, alert or trigger signal that is not firing (and never was)


@dataclass(frozen=True)
class Change:
    """One thing to announce: which signal, its new value, the route it travels and the words."""

    signal: str
    value: str
    what: str  # a route name (config NOTIFY_ROUTES)
    text: str
    severity: str = "info"  # info, warning, error, critical (PagerDuty's words)
    action: str = ""  # PagerDuty: trigger, acknowledge or resolve ("" for messages with no incident)
    dedup: str = ""  # PagerDuty dedup_key: stable per criterion, alert or rollback

    def to_event(self, channels: list[str]) -> dict[str, object]:
        """The `notify` event that queues this change (flat; the channels it goes to)."""
        return {
            "state": "queued",
            "signal": self.signal,
            "value": self.value,
            "what": self.what,
            "text": self.text,
            "severity": self.severity,
            "action": self.action,
            "dedup": self.dedup,
            "channels": channels,
        }

    @classmethod
    def from_event(cls, d: Mapping[str, object]) -> Change:
        return cls(
            str(d.get("signal", "")),
            str(d.get("value", "")),
            str(d.get("what", "")),
            clean(d.get("text", "")),
            str(d.get("severity", "info")),
            str(d.get("action", "")),
            str(d.get("dedup", "")),
        )


def _default(signal: str) -> str:
    """The value a signal has before anything was announced: breaches start clear, the rest unannounced."""
    head = signal.split(":", 1)[0]
    return CLEAR if head in ("breach", "alert", "trigger") else ""


def announced(events: Iterable[Event]) -> dict[str, str]:
    """signal -> value last queued, from the log's `notify` events."""
    memory: dict[str, str] = {}
    for ev in events:
        if ev.kind == "notify" and ev.data.get("state") == "queued":
            memory[str(ev.data.get("signal", ""))] = str(ev.data.get("value", ""))
    return memory


def _t(launch: Launch, ts: float) -> str:
    off = ts - launch.t0
    sign = "-" if off < 0 else "+"
    return f"T{sign}{format_duration(abs(off))}"


def signals(state: LaunchState, v: Verdict, now: float, status_every: float | None) -> dict[str, Change]:
    """Every signal's current value, with the words that announce it."""
    launch = state.launch
    lid = launch.id
    name = clean(launch.name)
    out: dict[str, Change] = {}

    def put(c: Change) -> None:
        out[c.signal] = c

    reasons = "; ".join(clean(r) for r in v.reasons[:3])
    put(Change("verdict", v.status, "verdict", f"{name}: verdict {v.status} ({reasons})", _verdict_severity(v.status)))

    by_id = {cv.criterion.id: cv for cv in v.criteria}
    for c in launch.criteria:
        a = state.alerts.get(f"criterion:{c.id}")
        cname = clean(c.name)
        dedup = f"warroom/{lid}/criterion/{c.id}"
        if a is not None and a.firing:
            val = f"firing@{a.started:.3f}"
            put(
                Change(
                    f"breach:{c.id}", val, "breach", f"{name}: BREACH {clean(a.title)}", a.severity, "trigger", dedup
                )
            )
            if a.acked_by is not None:
                put(
                    Change(
                        f"ack:criterion:{c.id}",
                        val,
                        "breach",
                        f"{name}: breach of {cname} acknowledged by {clean(a.acked_by)}",
                        a.severity,
                        "acknowledge",
                        dedup,
                    )
                )
        else:
            put(Change(f"breach:{c.id}", CLEAR, "breach", f"{name}: cleared: {cname}", "info", "resolve", dedup))
        cv = by_id.get(c.id)
        tdedup = f"warroom/{lid}/rollback-trigger/{c.id}"
        if cv is not None and cv.trigger_breached:
            started = a.started if a is not None and a.firing else 0.0
            put(
                Change(
                    f"trigger:{c.id}",
                    f"breached@{started:.3f}",
                    "rollback",
                    f"{name}: ROLLBACK TRIGGERED by {cname} ({clean(cv.reason)}; mode {cv.trigger_mode})",
                    "critical",
                    "trigger",
                    tdedup,
                )
            )
        else:
            put(
                Change(
                    f"trigger:{c.id}",
                    CLEAR,
                    "rollback",
                    f"{name}: rollback trigger clear: {cname}",
                    "info",
                    "resolve",
                    tdedup,
                )
            )

    for key, a in state.alerts.items():
        if not key.startswith("am:"):
            continue
        fp = key[3:]
        dedup = f"warroom/{lid}/alert/{fp}"
        title = clean(a.title)
        if a.firing:
            val = f"firing@{a.started:.3f}"
            put(
                Change(
                    f"alert:{fp}",
                    val,
                    "alert",
                    f"{name}: alert firing: {title}",
                    _am_severity(a.severity),
                    "trigger",
                    dedup,
                )
            )
            if a.acked_by is not None:
                put(
                    Change(
                        f"ack:alert:{fp}",
                        val,
                        "alert",
                        f"{name}: alert acknowledged by {clean(a.acked_by)}: {title}",
                        _am_severity(a.severity),
                        "acknowledge",
                        dedup,
                    )
                )
        else:
            put(Change(f"alert:{fp}", CLEAR, "alert", f"{name}: alert resolved: {title}", "info", "resolve", dedup))

    rb = state.rollback
    rdedup = f"warroom/{lid}/rollback"
    if rb.started is not None:
        how = ", ".join(
            w
            for w in (
                "" if rb.procedure == "primary" else f"procedure {clean(rb.procedure)}",
                "automatically" if rb.automatic else "",
                "dry run" if rb.dry_run else "",
            )
            if w
        )
        why = f": {clean(rb.reason)}" if rb.reason else ""
        put(
            Change(
                "rollback:started",
                f"{rb.started:.3f}",
                "rollback",
                f"{name}: rollback STARTED by {clean(rb.by or '?')}" + (f" ({how})" if how else "") + why,
                "critical",
                "trigger",
                rdedup,
            )
        )
        if rb.finished is not None and rb.finished >= rb.started:
            ok = rb.status == "succeeded"
            took = format_duration(max(0.0, rb.finished - rb.started))
            outcome = "" if ok or not rb.outcome else f": {clean(rb.outcome)}"
            put(
                Change(
                    "rollback:finished",
                    f"{rb.finished:.3f}:{rb.status}",
                    "rollback",
                    f"{name}: rollback {'SUCCEEDED' if ok else 'FAILED'} after {took}{outcome}",
                    "info" if ok else "critical",
                    "resolve" if ok else "trigger",
                    rdedup,
                )
            )

    for role, so in state.signoffs.items():
        r = launch.roles_by_id.get(role)
        title = clean(r.title if r else role)
        why = f": {clean(so.reason)}" if so.reason else ""
        put(
            Change(
                f"signoff:{role}",
                f"{so.verdict}@{so.at:.3f}",
                "signoff",
                f"{name}: sign-off {title}: {so.verdict} by {clean(so.by)}{why}",
                "info" if so.verdict == "GO" else "warning",
            )
        )

    d = state.decision
    if d is not None:
        why = f": {clean(d.reason)}" if d.reason else ""
        put(
            Change(
                "decision",
                f"{d.verdict}@{d.at:.3f}",
                "decision",
                f"{name}: FINAL DECISION {d.verdict} by {clean(d.by)}{why}",
                "info" if d.verdict == "GO" else "critical",
            )
        )
        if d.verdict == "GO" and v.done == v.total:
            put(
                Change(
                    "completion",
                    "done",
                    "completion",
                    f"{name}: launch complete: final decision GO, all {v.total} checklist items done",
                    "info",
                )
            )

    if v.phase_id is not None:
        put(Change("phase", v.phase_id, "phase", f"{name}: phase {clean(v.phase_name)} began ({_t(launch, now)})"))

    if status_every is not None and status_every > 0:
        bucket = math.floor((now - launch.t0) / status_every)
        blocking = "; ".join(clean(r) for r in v.reasons[:3])
        put(
            Change(
                "status",
                str(bucket),
                "status",
                f"{name} status at {_t(launch, now)}: {v.status}, phase {clean(v.phase_name)}, "
                f"checklist {v.done}/{v.total}" + (f"; {blocking}" if blocking else ""),
                _verdict_severity(v.status),
            )
        )
    return out


def pending(current: dict[str, Change], memory: Mapping[str, str]) -> list[Change]:
    """The changes to announce: signals whose value differs from the one last announced, in a stable order.

    A signal that was never announced is announced unless it is at its default (a breach that never fired is
    not 'cleared'). Every criterion has its signals whatever its state; an Alertmanager alert leaves the
    fold's feed only after it resolved (FEED), so its clear is seen before it can go."""
    out: list[Change] = []
    for sig, c in current.items():
        if memory.get(sig, _default(sig)) != c.value and c.value != "":
            if c.value == CLEAR and sig not in memory:
                continue
            out.append(c)
    return out


def _verdict_severity(status: str) -> str:
    return {"GO": "info", "PENDING": "warning", "NO-GO": "error", "ROLLBACK": "critical"}.get(status, "warning")


def _am_severity(s: str) -> str:
    s = s.lower()
    return s if s in ("critical", "error", "warning", "info") else "warning"
