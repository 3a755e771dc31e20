"""Active alerts from the Alertmanager v2 API: the alert feed, and counts criteria can judge.

Only active alerts count (not silenced, not inhibited): a silenced alert is a
decision someone already took. Label matchers are passed to Alertmanager as
`filter` parameters, so the matching semantics are Alertmanager's own.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from warroom.config import AlertmanagerSource
from warroom.core.events import parse_iso
from warroom.sources import auth as auth_mod
from warroom.sources.base import AUTH, BAD_QUERY, BAD_RESPONSE, AlertInfo, Query, Reading, Source, SourceFailure
from warroom.sources.httpclient import failure, make_client, status_failure

_MATCHER_RE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^,\s}]+)\s*')


def parse_matchers(text: str) -> list[str]:
    """'severity="critical", service=~"api.*"' or '{...}' -> ['severity="critical"', 'service=~"api.*"']."""
    s = text.strip()
    if s.startswith("{") and s.endswith("}"):
        s = s[1:-1]
    out: list[str] = []
    pos = 0
    while pos < len(s):
        m = _MATCHER_RE.match(s, pos)
        if not m:
            raise ValueError(f'cannot read label matcher at {s[pos : pos + 20]!r}; use e.g. severity="critical"')
        value = m.group(3) if m.group(3).startswith('"') else f'"{m.group(3)}"'
        out.append(f"{m.group(1)}{m.group(2)}{value}")
        pos = m.end()
        if pos < len(s):
            if s[pos] != ",":
                raise ValueError(f"expected ',' between matchers at {s[pos : pos + 20]!r}")
            pos += 1
    return out


class Alertmanager(Source):
    kind = "alertmanager"

    def __init__(self, name: str, cfg: AlertmanagerSource):
        super().__init__(name, cfg.interval, cfg.timeout)
        self.url = cfg.url.rstrip("/")
        self.creds = auth_mod.resolve(cfg.auth)
        self.matchers = [m for text in cfg.matchers for m in parse_matchers(text)]
        self.client = make_client(cfg, self.creds, {"Accept": "application/json"})
        # with ack silences a silence is an ack: the alert is still firing (and its end must still be seen)
        self.silenced_fire = cfg.ack_silence is not None

    @property
    def has_alerts(self) -> bool:
        return True

    async def _fetch(self, matchers: list[str], at: float, silenced: bool = False) -> list[dict[str, Any]] | Reading:
        if self.creds.problem:
            return Reading.fail(at, AUTH, self.creds.problem)
        params = [("active", "true"), ("silenced", "true" if silenced else "false"), ("inhibited", "false")]
        params += [("filter", m) for m in matchers]
        endpoint = f"{self.url}/api/v2/alerts"
        try:
            resp = await self.client.get(endpoint, params=tuple(params))  # tuple: covariant, unlike list
        except httpx.HTTPError as e:
            return failure(at, e, self.url, self.timeout)
        if resp.status_code == 400:
            return Reading.fail(at, BAD_QUERY, f"Alertmanager rejected the matchers: {resp.text.strip()[:160]}")
        if resp.status_code != 200:
            return status_failure(at, resp.status_code, self.url)
        try:
            data = resp.json()
        except ValueError:
            return Reading.fail(at, BAD_RESPONSE, f"{self.url} answered with something that is not JSON")
        if not isinstance(data, list) or not all(isinstance(a, dict) for a in data):
            return Reading.fail(at, BAD_RESPONSE, f"{self.url} did not answer with a list of alerts")
        return data

    async def read(self, query: Query, at: float) -> Reading:
        """The number of active alerts matching the source's and the criterion's matchers."""
        try:
            extra = parse_matchers(query.text) if query.text.strip() not in ("", "*", "{}") else []
        except ValueError as e:
            return Reading.fail(at, BAD_QUERY, str(e))
        data = await self._fetch(self.matchers + extra, at)
        if isinstance(data, Reading):
            return data
        return Reading(time.time(), float(len(data)))

    async def alerts(self, at: float) -> list[AlertInfo]:
        data = await self._fetch(self.matchers, at, silenced=self.silenced_fire)
        if isinstance(data, Reading):
            raise SourceFailure(data.error or "http", data.reason)
        out = []
        for a in data:
            labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
            ann = {str(k): str(v) for k, v in (a.get("annotations") or {}).items()}
            try:
                starts = parse_iso(str(a.get("startsAt", "")).replace("Z", "+00:00"))
            except ValueError:
                starts = None
            out.append(AlertInfo(str(a.get("fingerprint") or ""), labels, ann, starts))
        return out

    async def aclose(self) -> None:
        await self.client.aclose()
