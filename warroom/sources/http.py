"""Health endpoints over httpx: status code, latency, up (1/0), or a number picked from a JSON body.

All criteria on one source share one request per poll: the first read for a
scheduled time starts it, the others await the same response.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from warroom.config import HttpSource
from warroom.core.units import UNITS
from warroom.sources import auth as auth_mod
from warroom.sources.base import AUTH, BAD_QUERY, BAD_RESPONSE, NO_DATA, Query, Reading, Source, number_reading
from warroom.sources.httpclient import failure, make_client, status_failure

_PATH_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
MAX_BODY = 1 << 20  # a health endpoint answering more than 1 MiB is not a health endpoint


@dataclass(frozen=True)
class _Answer:
    t: float
    status: int | None = None
    latency: float | None = None
    body: bytes = b""
    failed: Reading | None = None


class Http(Source):
    kind = "http"

    def __init__(self, name: str, cfg: HttpSource):
        super().__init__(name, cfg.interval, cfg.timeout)
        self.cfg = cfg
        self.url = cfg.url
        self.creds = auth_mod.resolve(cfg.auth)
        self.client = make_client(cfg, self.creds, dict(cfg.headers), connections=4)
        self._inflight: dict[float, asyncio.Task[_Answer]] = {}

    async def _answer(self, at: float) -> _Answer:
        task = self._inflight.get(at)
        if task is None:
            for old in [k for k in self._inflight if k < at]:
                del self._inflight[old]
            task = asyncio.ensure_future(self._request(at))
            self._inflight[at] = task
        return await asyncio.shield(task)

    async def _request(self, at: float) -> _Answer:
        if self.creds.problem:
            return _Answer(at, failed=Reading.fail(at, AUTH, self.creds.problem))
        started = time.monotonic()
        try:
            async with self.client.stream(self.cfg.method, self.url) as resp:
                body = b""
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        return _Answer(
                            time.time(),
                            failed=Reading.fail(
                                time.time(), BAD_RESPONSE, f"{self.url} answered more than {MAX_BODY} bytes"
                            ),
                        )
                latency = time.monotonic() - started
                return _Answer(time.time(), resp.status_code, latency, body)
        except httpx.HTTPError as e:
            return _Answer(time.time(), failed=failure(time.time(), e, self.url, self.timeout))

    async def read(self, query: Query, at: float) -> Reading:
        ans = await self._answer(at)
        if ans.failed is not None:
            return ans.failed
        assert ans.status is not None and ans.latency is not None
        q = query.text
        if q == "status":
            return Reading(ans.t, float(ans.status))
        if q == "up":
            return Reading(ans.t, 1.0 if 200 <= ans.status < 400 else 0.0)
        if not 200 <= ans.status < 300:
            return status_failure(ans.t, ans.status, self.url)
        if q == "latency":
            family, factor = UNITS.get(query.unit, ("count", 1.0))
            return Reading(ans.t, ans.latency / factor if family == "time" else ans.latency)
        if q.startswith("json:"):
            return pick_json(ans.t, ans.body, q[5:], self.url)
        return Reading.fail(ans.t, BAD_QUERY, f"unknown http query {q!r}")

    async def aclose(self) -> None:
        for task in self._inflight.values():
            task.cancel()
        await self.client.aclose()


def pick_json(t: float, body: bytes, path: str, url: str) -> Reading:
    """The number at dotted `path` ('data.checks[0].latency') in a JSON body."""
    import json

    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Reading.fail(t, BAD_RESPONSE, f"{url} did not answer JSON ({body[:40]!r}...)")
    for name, index in _PATH_RE.findall(path):
        if index:
            if not isinstance(doc, list) or int(index) >= len(doc):
                return Reading.fail(t, NO_DATA, f"JSON has no element [{index}] on the way to {path}")
            doc = doc[int(index)]
        else:
            if not isinstance(doc, dict) or name not in doc:
                return Reading.fail(t, NO_DATA, f"JSON has no field '{name}' on the way to {path}")
            doc = doc[name]
    if doc is None:
        return Reading.fail(t, NO_DATA, f"JSON field {path} is null")
    if isinstance(doc, dict | list):
        return Reading.fail(t, BAD_RESPONSE, f"JSON field {path} is an {type(doc).__name__}, not a number")
    r = number_reading(t, doc, f"JSON field {path}")
    return r if r.value is None or math.isfinite(r.value) else Reading.fail(t, BAD_RESPONSE, "not finite")
