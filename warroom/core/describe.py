"""One line of plain words for any event, for `warroom log`, the console's log panel and reports.

Everything in an event may come from whoever can append to the shared log, so
the line is passed through `warroom.core.text.clean`: safe to print anywhere.
"""

from __future__ import annotations

from warroom.core.events import Event
from warroom.core.records import Rollback, Unreadable
from warroom.core.text import clean


def describe(ev: Event) -> str:
    """The event as one safe, capped line of words."""
    return clean(_words(ev))


def _words(ev: Event) -> str:
    d = ev.data
    k = ev.kind
    if isinstance(ev.payload, Unreadable):
        return f"{k}: unreadable payload ({ev.payload.reason})"
    if k == "launch":
        return f"launch '{d.get('name')}' ({d.get('id')}) bound to this log from {d.get('path')}"
    if k == "session":
        return f"console {d.get('state', 'opened')} ({d.get('mode', 'live')}, pid {d.get('pid', '?')})"
    if k == "sample":
        if d.get("error"):
            return f"{d.get('criterion')}: no value ({d.get('error')}: {d.get('reason', '')})".rstrip(": )") + ")"
        return f"{d.get('criterion')} = {d.get('value')}"
    if k == "alert":
        labels = d.get("labels") or {}
        return f"alert {d.get('status', 'firing')}: {labels.get('alertname', '?')} ({_pairs(labels)})"
    if k in ("check", "uncheck"):
        return f"{k}ed item {d.get('item')}"
    if k == "signoff":
        why = f" — {d['reason']}" if d.get("reason") else ""
        return f"sign-off {d.get('role')}: {d.get('verdict')}{why}"
    if k == "decision":
        why = f" — {d['reason']}" if d.get("reason") else ""
        return f"final decision: {d.get('verdict')}{why}"
    if k == "note":
        return str(d.get("text", ""))
    if k == "ack":
        return f"acknowledged {d.get('alert')}"
    if k == "trigger_mode":
        return f"trigger {d.get('criterion')} -> {d.get('mode')}"
    if k == "rollback":
        rb = ev.payload
        phase = rb.phase if isinstance(rb, Rollback) and rb.phase is not None else d.get("phase")
        extra = {key: d[key] for key in ("index", "name", "exit_code", "status", "reason", "ok") if key in d}
        return f"rollback {phase} ({_pairs(extra)})" if extra else f"rollback {phase}"
    if k == "torn_recovered":
        return (
            f"recovered a torn last line: {d.get('bytes', '?')} bytes (sha256 {d.get('sha256', '?')}) "
            f"left by an interrupted write were moved to {d.get('kept_in', 'the .torn file')}"
        )
    if k == "recorder":
        return f"recorder {d.get('state')} (pid {d.get('pid', '?')})"
    if k == "backfill":
        pts = d.get("points")
        n = len(pts) if isinstance(pts, list) else 0
        return f"{d.get('criterion')}: {n:,} points backfilled from {d.get('source')} ({d.get('query')})"
    if k == "measurement":
        where = f" — {d['link']}" if d.get("link") else ""
        return f"success metric {d.get('metric')} = {d.get('value')} for {d.get('period') or 'its window'}{where}"
    return _pairs(d)


def _pairs(d: object) -> str:
    """A mapping as `key=value, ...`: values as text, not repr, so the one sanitiser sees the characters."""
    if not isinstance(d, dict):
        return str(d)
    return ", ".join(f"{k}={v}" for k, v in d.items())
