"""The one small interface every metric source implements, and the records it returns.

A source answers `read(query, at)` with a `Reading`: a value, or the kind of
failure and a reason in words. It never raises for a failure of the system it
watches (that is a reading too); it only raises for bugs. Sources know nothing
of the log, the fold or the UI; the recorder schedules them.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from warroom.core.bounds import ALERT_KEY_CHARS, ALERT_VALUE_CHARS, cap_mapping, cap_text
from warroom.core.records import ErrorKind

# Error kinds a reading can carry (core.records.ErrorKind).  "no-data" is judged NO-DATA; every other kind is
# SOURCE-ERROR.
NO_DATA = ErrorKind.NO_DATA
TIMEOUT = ErrorKind.TIMEOUT
CONNECTION = ErrorKind.CONNECTION
HTTP = ErrorKind.HTTP
BAD_QUERY = ErrorKind.BAD_QUERY
BAD_RESPONSE = ErrorKind.BAD_RESPONSE
AUTH = ErrorKind.AUTH
ERROR_KINDS = tuple(ErrorKind)
# Failures that say the source itself is unreachable; a source failing only these backs off.
UNREACHABLE = frozenset({TIMEOUT, CONNECTION})


@dataclass(frozen=True, slots=True)
class Query:
    """What one criterion asks of its source: the query text and the unit the value must be in."""

    criterion: str
    text: str
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Reading:
    """One observation: `value` or (`error` kind + `reason`), at source time `t` (epoch seconds)."""

    t: float
    value: float | None = None
    error: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None

    @classmethod
    def fail(cls, t: float, kind: str, reason: str) -> Reading:
        return cls(t, None, kind, reason)


@dataclass(frozen=True, slots=True)
class AlertInfo:
    """An alert that is firing now, as a source reports it."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: float | None = None

    def to_event(self, status: str, t: float, source: str) -> dict[str, Any]:
        """The `alert` event's payload, its text capped (bounds.cap_mapping) as step output is."""
        labels, left = cap_mapping(self.labels)
        annotations, _ = cap_mapping(self.annotations, max(left, 2 * ALERT_VALUE_CHARS))
        return {
            "fingerprint": cap_text(str(self.fingerprint), ALERT_KEY_CHARS),
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "starts_at": self.starts_at,
            "t": t,
            "source": source,
        }


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable id for a label set (Alertmanager supplies its own; simulated alerts use this)."""
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def number_reading(t: float, raw: Any, what: str) -> Reading:
    """A value from a number or numeric string; NaN is no data, +-Inf and non-numbers are bad responses.

    Prometheus sends NaN and Inf as the strings "NaN", "+Inf", "-Inf".
    """
    if isinstance(raw, bool):
        return Reading(t, 1.0 if raw else 0.0)
    try:
        v = float(raw)
    except (TypeError, ValueError):
        return Reading.fail(t, BAD_RESPONSE, f"{what} is not a number: {str(raw)[:60]!r}")
    if math.isnan(v):
        return Reading.fail(t, NO_DATA, f"{what} is NaN (no samples, or 0/0)")
    if math.isinf(v):
        sign = "+" if v > 0 else "-"
        return Reading.fail(t, BAD_RESPONSE, f"{what} is {sign}Inf (a division by zero?), not a usable value")
    return Reading(t, v)


class Source:
    """Base class: a named source polled every `interval` seconds, each read cut off at `timeout`."""

    kind = "source"

    def __init__(self, name: str, interval: float, timeout: float):
        self.name = name
        self.interval = interval
        self.timeout = timeout

    async def read(self, query: Query, at: float) -> Reading:
        """Measure `query` as of scheduled time `at`; failures are readings, never exceptions."""
        raise NotImplementedError

    def start_reads(self, queries: Sequence[Query], at: float) -> list[asyncio.Future[Reading]]:
        """Start every read of one poll as of `at`, a future each (here a task running `read`; a source that
        asks them together, as Prometheus does, needs no task per query). Called in the event loop."""
        return [asyncio.ensure_future(self.read(q, at)) for q in queries]

    async def alerts(self, at: float) -> list[AlertInfo] | None:
        """Alerts firing now, or None if this source has no alert feed."""
        return None

    @property
    def has_alerts(self) -> bool:
        return False

    async def aclose(self) -> None:
        """Release clients and threads."""


class SourceFailure(Exception):
    """Raised by `alerts()` when the feed could not be read; the recorder keeps the last known set."""

    def __init__(self, kind: str, reason: str):
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason
