"""Binding a launch definition to a log: the log carries its own config so replay needs nothing else.

The first console on a new log appends a `launch` event holding the config
text (and the T-0 actually used, which the demo sets relative to its start).
Replay and report rebuild the Launch from that event.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from pathlib import Path

from warroom.config import ConfigError, ConfigProblem, Launch, parse_launch_cached
from warroom.core.events import Event
from warroom.store.base import LogReader, Store
from warroom.store.log import iter_events


def with_t0(launch: Launch, t0: float) -> Launch:
    """The same launch with T-0 moved (cached properties must not carry over, so rebuild)."""
    data = launch.model_dump(by_alias=True)
    data["launch"]["t0"] = datetime.fromtimestamp(t0, UTC)
    return Launch.model_validate(data)


def launch_event_data(launch: Launch, text: str, path: str) -> dict[str, object]:
    return {
        "id": launch.id,
        "name": launch.name,
        "path": path,
        "t0": launch.t0,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "config": text,
    }


def bind(log: Store, launch: Launch, text: str, path: str) -> tuple[Launch, Event | None]:
    """Record the launch in a new log, or check that an existing log is for this launch.

    Returns the launch in force (with the log's T-0) and the event appended, if any.
    """
    first = first_launch_event(log)
    if first is None:
        ev = log.append("launch", launch_event_data(launch, text, path))
        return launch, ev
    if first.data.get("id") != launch.id:
        raise ConfigError(
            [
                ConfigProblem(
                    log.name,
                    None,
                    "",
                    f"this log belongs to launch '{first.data.get('id')}', not '{launch.id}'",
                    "pass the matching config, or a new --log path",
                )
            ]
        )
    t0 = recorded_t0(first, launch, log.name)
    return (with_t0(launch, t0) if t0 != launch.t0 else launch), None


def first_launch_event(path: str | Path | LogReader) -> Event | None:
    """The log's launch event (within its first events); a file path or any store."""
    if isinstance(path, str | Path):
        if not Path(path).exists():
            return None
        events = iter_events(path)
    else:
        events = path.events()
    for ev in events:
        if ev.kind == "launch":
            return ev
        if ev.seq > 50:
            break
    return None


def launch_from_log(path: str | Path | LogReader) -> Launch:
    """The launch a log was recorded for, from its `launch` event (a file path or any store)."""
    where = path.name if not isinstance(path, str | Path) else str(path)
    return launch_from_event(first_launch_event(path), where)


def launch_from_event(ev: Event | None, where: str) -> Launch:
    """The launch a log's `launch` event (`first_launch_event`, read already) holds; `where` names the log.

    The config text is validated once per user and text (`parse_launch_cached`): a week-long log is read
    again and again, by verify, report and replay, and its config never changes."""
    if ev is None:
        raise ConfigError(
            [
                ConfigProblem(
                    where,
                    None,
                    "",
                    "no launch event in this log",
                    "was it written by warroom? pass the config with --config",
                )
            ]
        )
    launch = parse_launch_cached(str(ev.data.get("config", "")), f"{where}#launch")
    t0 = recorded_t0(ev, launch, where)
    return with_t0(launch, t0) if t0 != launch.t0 else launch


def recorded_t0(ev: Event, launch: Launch, path: str | Path) -> float:
    """The T-0 a log's launch event recorded (the config's if it recorded none); ConfigError if unusable
    (a string, a map, NaN: a log is input and may hold anything)."""
    raw = ev.data.get("t0", launch.t0)
    try:
        t0 = float(raw) if not isinstance(raw, bool) else float("nan")
    except (TypeError, ValueError, OverflowError):
        t0 = float("nan")
    if not math.isfinite(t0):
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    None,
                    "",
                    f"the launch event (seq {ev.seq}) has no usable T-0: {raw!r}",
                    "run 'warroom verify' on the log; it was not written by this version of warroom",
                )
            ]
        )
    return t0
