"""The bodies each channel is sent: Slack `text` + `blocks`, PagerDuty Events v2, our signed JSON.

Pure functions of a queued change and its log event; the text was cleaned when it was queued and is cleaned
again here (it came back from a shared log), and Slack's control characters are escaped so a label cannot
mention @channel or forge a link.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from warroom.config import Launch
from warroom.core.events import iso
from warroom.core.text import clean
from warroom.notify.changes import Change

SIGNATURE_HEADER = "X-Warroom-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PD_SUMMARY_MAX = 1024  # PagerDuty rejects a longer summary


def slack_escape(text: str) -> str:
    """Slack mrkdwn's three control characters (<, >, &), as Slack's docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def idempotency_key(seq: int, digest: str) -> str:
    """The queued event's seq and hash: the same message has the same key whoever sends it, however often."""
    return f"{seq}-{digest}"


def slack_body(launch: Launch, c: Change, seq: int, ts: float) -> dict[str, Any]:
    text = slack_escape(clean(c.text))
    context = slack_escape(clean(f"warroom · {launch.id} · {c.what} · log seq {seq} · {iso(ts)}"))
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def pagerduty_body(launch: Launch, c: Change, routing_key: str, seq: int) -> dict[str, Any]:
    action = c.action or "trigger"
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": c.dedup}
    if action == "trigger":
        body["payload"] = {
            "summary": clean(c.text, limit=PD_SUMMARY_MAX),
            "source": f"warroom/{launch.id}",
            "severity": c.severity if c.severity in ("critical", "error", "warning", "info") else "warning",
            "component": c.signal.split(":", 1)[-1],
            "group": launch.id,
            "class": c.what,
            "custom_details": {"signal": c.signal, "log_seq": seq},
        }
    return body


def webhook_body(launch: Launch, c: Change, seq: int, digest: str, ts: float) -> bytes:
    return orjson.dumps(
        {
            "launch": launch.id,
            "name": clean(launch.name),
            "what": c.what,
            "signal": c.signal,
            "value": c.value,
            "text": clean(c.text),
            "severity": c.severity,
            "seq": seq,
            "hash": digest,
            "ts": iso(ts),
            "idempotency_key": idempotency_key(seq, digest),
        }
    )


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (and the tests do): recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header)
