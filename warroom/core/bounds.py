"""Bounds on what one event can claim, so one bad value cannot poison every later one.

Anyone who can append to a shared log can write a valid-hash event, and any
host can have a wrong clock. Unbounded, one event with ts 9999-12-31 pinned
every later append to that time (appends never go back in time), and one
sample with tick 10**15 made every later sample of its criterion a "repeat"
and stopped the recorder polling. So:

- at append, an earlier event more than `MAX_CLOCK_AHEAD` ahead of this host's
  clock is not followed (the new event keeps this host's time; the fold then
  sees time go back and says so), and a clock reading that is not finite or
  later than `LATEST_TS` is refused;
- the fold keeps an event whose time is beyond `LATEST_TS` or more than
  `MAX_SPAN` after the log's first event, or a sample whose poll slot (tick) or
  source time lies far after the moment it was recorded, as evidence only: it
  is shown, with the reason, and not applied;
- the recorder ignores such ticks when it reads the log back.
"""

from __future__ import annotations

import math

MAX_CLOCK_AHEAD = 3600.0  # seconds an earlier event may be ahead of our clock and still be followed
LATEST_TS = 4102444800.0  # 2100-01-01T00:00:00Z: a clock that says later is wrong
MAX_SPAN = 366 * 86400.0  # a launch log's events lie within a year of its first event
TICK_LEAD = 86400.0  # a sample's poll slot may lie at most this far after the time it was recorded
SOURCE_LEAD = MAX_SPAN  # a sample's source time may lie at most this far after it was recorded (a year)


class ImplausibleTime(OSError):
    """This host's clock gives a time no event may carry; an OSError, so it is reported like a failed write."""

    def __str__(self) -> str:
        return str(self.strerror)


def clock_problem(now: float) -> str | None:
    """Why this host's clock reading must not go into the log, or None."""
    if not math.isfinite(now):
        return f"this host's clock reads {now!r}"
    if now > LATEST_TS:
        return f"this host's clock reads {now:.0f} s after 1970, later than 2100-01-01; fix the clock"
    return None


def follow_tail(now: float, tail_ts: float) -> float:
    """The time for a new event: never before the event before it, unless that one is implausibly ahead."""
    if tail_ts > now and tail_ts - now <= MAX_CLOCK_AHEAD:
        return tail_ts
    return now


def ts_problem(ts: float, first_ts: float | None) -> str | None:
    """Why an event's time is implausible given the log's first event's time, or None."""
    if not math.isfinite(ts) or ts > LATEST_TS:
        return "its time is later than 2100-01-01"
    if first_ts is not None and ts - first_ts > MAX_SPAN:
        return "its time is more than a year after the log's first event"
    return None


def tick_problem(tick: int, interval: float, epoch: float, ts: float) -> str | None:
    """Why a sample's tick (poll slot `epoch + tick * interval`) is implausible for a sample recorded at `ts`."""
    if interval <= 0:
        return None
    slot = epoch + tick * interval
    if slot - ts > TICK_LEAD:
        return f"its poll slot (tick {tick}) lies more than a day after the moment it was recorded"
    return None


def source_time_problem(t: float, ts: float) -> str | None:
    """Why a sample's source time `t` is implausible for a sample recorded at `ts`, or None."""
    if not math.isfinite(t) or t > LATEST_TS or t - ts > SOURCE_LEAD:
        return "its source time lies more than a year after the moment it was recorded"
    return None


# ---------------------------------------------------------------- text from outside, capped like step output

ALERT_VALUE_CHARS = 1_000  # one label or annotation value (step output lines are cut at the same length)
ALERT_KEY_CHARS = 200
ALERT_ENTRIES = 64  # labels or annotations kept per alert
ALERT_CHARS = 16_000  # all labels and annotations of one alert together


def cap_text(text: str, limit: int) -> str:
    """`text` cut at `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f" … [{len(text) - limit} more characters cut]"


def cap_mapping(m: dict[str, str], budget: int = ALERT_CHARS) -> tuple[dict[str, str], int]:
    """Labels or annotations capped in count, key, value and total size; (the capped map, characters left over).

    A source is outside our control: a 1 MB label must not put a megabyte into the log at every poll.
    """
    out: dict[str, str] = {}
    used = 0
    for i, (k, v) in enumerate(m.items()):
        if i >= ALERT_ENTRIES:
            out["…"] = f"[{len(m) - ALERT_ENTRIES} more entries cut]"
            break
        key, value = cap_text(str(k), ALERT_KEY_CHARS), cap_text(str(v), ALERT_VALUE_CHARS)
        if used + len(key) + len(value) > budget:
            out["…"] = f"[{len(m) - i} more entries cut: over {budget} characters]"
            break
        out[key] = value
        used += len(key) + len(value)
    return out, budget - used
