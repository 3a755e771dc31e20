"""tests/waiting.py, the poller every test waits with: a timeout must tell the reader what and why."""

from __future__ import annotations

import asyncio
import time

import pytest
from waiting import until, wait_for


def test_the_first_truthy_value_is_returned_as_soon_as_it_holds() -> None:
    seen = iter([None, [], 0, ["ready"]])
    t = time.monotonic()
    assert wait_for("a list", lambda: next(seen), timeout=30) == ["ready"]
    assert time.monotonic() - t < 5  # three misses at 10, 20, 40 ms: not the deadline, not a fixed sleep


def test_a_timeout_says_what_was_awaited_and_the_last_value_seen() -> None:
    values = iter(range(1000))
    with pytest.raises(AssertionError) as e:
        wait_for("the count to be negative", lambda: next(values) < 0 and "never", timeout=0.2, detail=lambda: "ctx")
    said = str(e.value)
    assert said.startswith("timed out after 0.2 s waiting for the count to be negative; last seen: False")
    assert said.endswith("\nctx")


def test_errors_named_as_not_yet_are_retried_and_the_last_one_told() -> None:
    calls = iter([OSError("refused"), OSError("refused"), "up"])

    def check() -> str:
        got = next(calls)
        if isinstance(got, Exception):
            raise got
        return got

    assert wait_for("the server", check, timeout=30, ignoring=(OSError,)) == "up"

    def gone() -> str:
        raise ConnectionRefusedError("gone")

    with pytest.raises(AssertionError, match=r"last seen: ConnectionRefusedError\('gone'\)"):
        wait_for("the server", gone, timeout=0.1, ignoring=(OSError,))
    with pytest.raises(KeyError):  # anything else is a bug in the check, raised at once
        wait_for("a key", lambda: {}["x"], timeout=30, ignoring=(OSError,))


def test_until_awaits_the_given_pause_between_checks() -> None:
    pauses: list[float] = []

    async def pause(s: float) -> None:
        pauses.append(s)
        await asyncio.sleep(0)

    seen = iter([False, False, False, True])
    assert asyncio.run(until("the fourth check", lambda: next(seen), timeout=30, pause=pause, every=0.05)) is True
    assert pauses == [0.01, 0.02, 0.04]  # backing off from 10 ms, capped at `every`
