"""The one poller the tests wait with: until a condition holds, under a deadline, and say why when it never does.

The tests run beside other CPU-heavy work (CI, other benches), so a deadline is generous and only bounds a
failure: the poll starts fast and backs off, returning as soon as the condition holds, so a generous deadline
costs nothing when things work. A timeout fails with what was awaited and the last value (or error) seen.
`wait_for` blocks (threads, subprocesses, servers); `until` awaits (a Textual pilot's pause, asyncio).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from typing import TypeVar, cast

T = TypeVar("T")

# A timeout here means something is wrong, not that the machine is slow: minutes, not seconds, would still pass.
TIMEOUT = 60.0


def wait_for(
    what: str,
    check: Callable[[], T],
    timeout: float = TIMEOUT,
    *,
    every: float = 0.2,
    ignoring: tuple[type[BaseException], ...] = (),
    detail: Callable[[], object] | None = None,
) -> T:
    """The first truthy value `check()` returns, polling at most `every` s apart (from 10 ms, backing off).

    `ignoring`: exceptions that mean "not yet" (a server still starting); the last one is told on timeout.
    `detail`: more to tell on timeout (a process's output, a screen), called only then.
    """
    polls = _polls(what, check, timeout, every, ignoring, detail)
    try:
        while True:
            time.sleep(next(polls))
    except StopIteration as done:
        return cast(T, done.value)


async def until(
    what: str,
    check: Callable[[], T],
    timeout: float = TIMEOUT,
    *,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
    every: float = 0.2,
    ignoring: tuple[type[BaseException], ...] = (),
    detail: Callable[[], object] | None = None,
) -> T:
    """`wait_for` in a coroutine: between checks it awaits `pause(seconds)` (a pilot's, to let the app run)."""
    polls = _polls(what, check, timeout, every, ignoring, detail)
    try:
        while True:
            await pause(next(polls))
    except StopIteration as done:
        return cast(T, done.value)


def _polls(
    what: str,
    check: Callable[[], T],
    timeout: float,
    every: float,
    ignoring: tuple[type[BaseException], ...],
    detail: Callable[[], object] | None,
) -> Generator[float, None, T]:
    """The poll itself, for both drivers: yields how long to pause, returns the value, raises on the deadline."""
    deadline = time.monotonic() + timeout
    pause = min(0.01, every)
    last: object = None
    while True:
        try:
            got = check()
        except ignoring as e:
            last = e
        else:
            if got:
                return got
            last = got
        if time.monotonic() >= deadline:
            break
        yield pause
        pause = min(pause * 2, every)
    said = f"timed out after {timeout:g} s waiting for {what}; last seen: {_short(last)}"
    if detail is not None:
        said += f"\n{detail()}"
    raise AssertionError(said)


def _short(value: object, limit: int = 2000) -> str:
    """A value cut to what a failure message can carry (a whole log's events would drown it); text, such as a
    screen, as it reads."""
    text = f"\n{value}" if isinstance(value, str) and "\n" in value else repr(value)
    return text if len(text) <= limit else f"{text[: limit // 2]} ... {text[-limit // 2 :]}"
