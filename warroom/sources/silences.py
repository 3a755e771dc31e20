"""Alertmanager silences (API v2): create one that matches an alert's labels exactly, and expire it.

Alertmanager has no acknowledgement of its own; karma and kthxbye users expect an ack to be a silence.
The recorder (recorder/silences.py) decides when; this is only the client.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from warroom.config import AlertmanagerSource
from warroom.sources import auth as auth_mod
from warroom.sources.httpclient import failure, make_client, status_failure


class SilenceFailed(Exception):
    """Alertmanager would not create or expire the silence; the message says why, in words."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def exact_matchers(labels: dict[str, str]) -> list[dict[str, object]]:
    """One equality matcher per label: the silence mutes this alert (and only alerts with all its labels)."""
    return [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(labels.items())]


class Silences:
    """A client for one Alertmanager source's silences."""

    def __init__(self, cfg: AlertmanagerSource) -> None:
        self.url = cfg.url.rstrip("/")
        self.timeout = cfg.timeout
        self.creds = auth_mod.resolve(cfg.auth)
        self.client = make_client(cfg, self.creds, {"Accept": "application/json"})

    async def create(self, labels: dict[str, str], starts: float, ends: float, by: str, comment: str) -> str:
        """The new silence's id."""
        if self.creds.problem:
            raise SilenceFailed(self.creds.problem)
        if not labels:
            raise SilenceFailed("the alert has no labels to match")
        body = {
            "matchers": exact_matchers(labels),
            "startsAt": _iso(starts),
            "endsAt": _iso(ends),
            "createdBy": by,
            "comment": comment,
        }
        try:
            r = await self.client.post(f"{self.url}/api/v2/silences", json=body)
        except httpx.HTTPError as e:
            raise SilenceFailed(failure(0.0, e, self.url, self.timeout).reason) from None
        if r.status_code != 200:
            detail = r.text.strip()[:160]
            raise SilenceFailed(status_failure(0.0, r.status_code, self.url).reason + (f": {detail}" if detail else ""))
        try:
            sid = r.json().get("silenceID")
        except (ValueError, AttributeError):
            sid = None
        if not isinstance(sid, str) or not sid:
            raise SilenceFailed(f"{self.url} did not answer with a silence id")
        return sid

    async def expire(self, sid: str) -> None:
        if self.creds.problem:
            raise SilenceFailed(self.creds.problem)
        try:
            r = await self.client.delete(f"{self.url}/api/v2/silence/{sid}")
        except httpx.HTTPError as e:
            raise SilenceFailed(failure(0.0, e, self.url, self.timeout).reason) from None
        if r.status_code != 200:
            raise SilenceFailed(status_failure(0.0, r.status_code, self.url).reason)

    async def aclose(self) -> None:
        await self.client.aclose()
