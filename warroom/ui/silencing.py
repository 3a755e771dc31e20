"""The console's side of ack silences: which silence the expire key means, and the event that asks for it.

The console never talks to Alertmanager: the leading recorder does (recorder/silences.py), so one request
is acted on once however many consoles are open. No Textual here.
"""

from __future__ import annotations

from typing import Any

from warroom.core.state import LaunchState
from warroom.core.text import clean


def expire_request(state: LaunchState, key: str | None) -> tuple[dict[str, Any] | None, str]:
    """(the `silence` event to append, or None; what to tell the user) for the highlighted alert, else the
    newest alert that has an active silence."""
    alert = state.alerts.get(key or "")
    if alert is None or alert.silence is None:
        silenced = sorted((a for a in state.alerts.values() if a.silence), key=lambda a: a.started, reverse=True)
        if not silenced:
            return None, "no alert has a silence from an ack"
        alert = silenced[0]
    return (
        {"state": "expire_requested", "alert": alert.key, "id": alert.silence},
        f"expiring silence {clean(alert.silence)} for {clean(alert.title)}",
    )
