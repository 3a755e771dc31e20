"""Prometheus history: `query_range` (chunked under the server's point limit) and instant queries at past moments.

Used by `warroom backfill` and the success-metric measurements, never by the live recorder (which asks instant
queries through `prometheus.py`). Plain httpx, one client per source: a backfill asks a few large requests, and
the client's own connection pool is all it needs. Every failure is a `RangeFailure` with a reason a person can act
on; a result that is not one series becomes per-point errors, exactly as a live poll would have judged it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from warroom.config import PrometheusSource
from warroom.sources import auth as auth_mod
from warroom.sources.base import BAD_QUERY, BAD_RESPONSE, NO_DATA

MAX_POINTS = 11_000  # Prometheus refuses a range query with more than 11,000 points per series


class RangeFailure(Exception):
    """A range or instant query that got no usable answer (connection, HTTP status, refused query)."""


@dataclass(frozen=True, slots=True)
class Point:
    """One moment of a range: a value, or an error kind and reason (value None)."""

    t: float
    value: float | None
    error: str | None = None
    reason: str = ""


class PromHistory:
    """Range and past-instant queries against one Prometheus source."""

    def __init__(self, name: str, cfg: PrometheusSource, timeout: float | None = None):
        self.name = name
        self.url = cfg.url.rstrip("/")
        creds = auth_mod.resolve(cfg.auth)
        self.problem = creds.problem
        tls = self.url.startswith("https:")
        self.client = httpx.AsyncClient(
            headers=creds.basic_header(),
            verify=(cfg.ca_file or cfg.tls_verify) if tls else False,  # building a TLS context costs 0.1 s
            timeout=max(float(cfg.timeout), timeout or 30.0),
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        if self.problem:
            raise RangeFailure(self.problem)
        try:
            r = await self.client.get(f"{self.url}{path}", params=params)
        except httpx.TimeoutException:
            raise RangeFailure(f"no answer from {self.url} within {self.client.timeout.read:g}s") from None
        except httpx.HTTPError as e:
            raise RangeFailure(f"cannot reach {self.url}: {type(e).__name__}: {e}") from None
        try:
            body = orjson.loads(r.content)
        except orjson.JSONDecodeError:
            raise RangeFailure(f"{self.url} answered HTTP {r.status_code} with something that is not JSON") from None
        if r.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            why = body.get("error", "") if isinstance(body, dict) else ""
            raise RangeFailure(f"Prometheus answered HTTP {r.status_code}" + (f": {why}" if why else ""))
        data = body.get("data")
        if not isinstance(data, dict):
            raise RangeFailure(f"{self.url} answered without a data object")
        return data

    async def range(
        self, query: str, start: float, end: float, step: float, tick0: int = 0, stride: int = 1
    ) -> list[list[Any]]:
        """Every point from `start` to `end` each `step`, in order, as `[tick, t, value]` or `[tick, t, None, error
        kind, reason]` (no data, or not one usable value), where the i-th point's tick is tick0 + i * stride."""
        n = round((end - start) / step) + 1
        if n > MAX_POINTS:
            raise ValueError(f"{n} points in one range query; chunk it (limit {MAX_POINTS})")
        data = await self._get(
            "/api/v1/query_range",
            {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )
        result = data.get("result")
        kind = data.get("resultType")
        if kind is not None and kind != "matrix":
            raise RangeFailure(f"query_range answered a {kind}, not a matrix")
        rows: list[list[Any] | None] = [None] * n
        series = [s.get("values") or () for s in result if isinstance(s, dict)] if isinstance(result, list) else []
        for values in series:
            for pair in values:
                i = round((float(pair[0]) - start) / step)
                if not 0 <= i < n:
                    continue
                t = start + i * step
                if rows[i] is not None:
                    rows[i] = [tick0 + i * stride, t, None, BAD_QUERY, _several(len(series))]
                    continue
                try:
                    v = float(pair[1])
                except (TypeError, ValueError):
                    rows[i] = [tick0 + i * stride, t, None, BAD_RESPONSE, f"value is not a number: {pair[1]!r:.60}"]
                    continue
                if v != v:  # NaN
                    rows[i] = [tick0 + i * stride, t, None, NO_DATA, "value is NaN (no samples, or 0/0)"]
                elif v in _INF:
                    rows[i] = [tick0 + i * stride, t, None, BAD_RESPONSE, "value is Inf (a division by zero?)"]
                else:
                    rows[i] = [tick0 + i * stride, t, v]
        return [
            r if r is not None else [tick0 + i * stride, start + i * step, None, NO_DATA, _NO_POINT]
            for i, r in enumerate(rows)
        ]

    async def series(
        self, query: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[float]]]:
        """Each series' labels (without __name__ and alertstate) and the times it had a point (ALERTS history)."""
        data = await self._get(
            "/api/v1/query_range",
            {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        )
        out = []
        for s in data.get("result") or ():
            if not isinstance(s, dict):
                continue
            labels = {str(k): str(v) for k, v in (s.get("metric") or {}).items() if k not in ("__name__", "alertstate")}
            out.append((labels, [float(p[0]) for p in s.get("values") or ()]))
        return out

    async def instant(self, query: str, at: float) -> Point:
        """The query's value evaluated at a past moment (baselines, success-metric periods)."""
        data = await self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        result = data.get("result")
        if data.get("resultType") == "scalar" and isinstance(result, list) and len(result) == 2:
            return _point(at, result[1])
        if not isinstance(result, list) or not result:
            return Point(at, None, NO_DATA, "query returned an empty vector (no matching series)")
        if len(result) > 1:
            return Point(at, None, BAD_QUERY, f"query returned {len(result)} series where one was expected")
        pair = result[0].get("value") if isinstance(result[0], dict) else None
        if not isinstance(pair, list) or len(pair) != 2:
            return Point(at, None, BAD_RESPONSE, "result has no [time, value] pair")
        return _point(at, pair[1])


_INF = (math.inf, -math.inf)
_NO_POINT = "no data in Prometheus at this moment (query_range)"


def _several(n: int) -> str:
    return f"query returned {n} series where one was expected (aggregate it, e.g. with sum())"


def _point(t: float, raw: Any) -> Point:
    """NaN is no data, +-Inf and non-numbers are bad responses: the live source's rules."""
    try:
        v = float(raw)
    except (TypeError, ValueError):
        return Point(t, None, BAD_RESPONSE, f"value is not a number: {str(raw)[:60]!r}")
    if math.isnan(v):
        return Point(t, None, NO_DATA, "value is NaN (no samples, or 0/0)")
    if math.isinf(v):
        return Point(t, None, BAD_RESPONSE, "value is Inf (a division by zero?), not a usable value")
    return Point(t, v)
