"""Processes a rollback step started outside its process group still belong to the step.

A step runs in its own session, so that killpg() stops it and what it started.
A descendant that calls setsid() (`setsid sleep 1000 &`, or a double fork into a
new session) leaves that group, and when its parent exits it is re-parented to
init and outlives the step's timeout. While a step runs, the runner's process
is a child subreaper (prctl(PR_SET_CHILD_SUBREAPER)): such orphans are
re-parented to it instead, `escaped()` finds them (with the step's live
descendants), `stop()` kills them with the step and `reap()` collects their
exit statuses so no zombie is left behind.

Linux only; elsewhere (no prctl, no /proc) this finds nothing and the step's
process group is all that is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
POLL = 0.05

_ACTIVE: set[int] = set()  # step pids being run by this process now (never treated as an orphan)
_depth = 0  # nested users of subreaper()
_was_subreaper = False


def _prctl(option: int, arg: int) -> int | None:
    """prctl(2) through libc; None where there is none (not Linux) or it fails."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.prctl
    except (OSError, AttributeError):
        return None
    if option == PR_GET_CHILD_SUBREAPER:
        out = ctypes.c_int(0)
        rc = fn(ctypes.c_int(option), ctypes.byref(out), 0, 0, 0)
        return int(out.value) if rc == 0 else None
    rc = fn(ctypes.c_int(option), ctypes.c_ulong(arg), 0, 0, 0)
    return 0 if rc == 0 else None


def is_subreaper() -> bool:
    return bool(_prctl(PR_GET_CHILD_SUBREAPER, 0))


@contextlib.contextmanager
def subreaper() -> Iterator[bool]:
    """Be a child subreaper while steps run (nested uses share it); yields False where that is not possible.

    The flag is process-wide, so it is only on while a step may run: other
    children of a long-lived console keep their ordinary parentage otherwise.
    """
    global _depth, _was_subreaper
    if _depth == 0:
        _was_subreaper = is_subreaper()
        ok = _was_subreaper or _prctl(PR_SET_CHILD_SUBREAPER, 1) is not None
    else:
        ok = is_subreaper()
    _depth += 1
    try:
        yield ok
    finally:
        _depth -= 1
        if _depth == 0 and not _was_subreaper:
            _prctl(PR_SET_CHILD_SUBREAPER, 0)


def track(pid: int) -> None:
    """A step process this process spawned and waits for itself (asyncio reaps it)."""
    _ACTIVE.add(pid)


def untrack(pid: int) -> None:
    _ACTIVE.discard(pid)


class Proc(NamedTuple):
    """One /proc entry: what the reaper and the group killer need to know of a process."""

    ppid: int
    state: str  # the kernel's state letter: R, S, D, Z (zombie), X (dead), ...
    pgid: int


def table() -> dict[int, Proc]:
    """pid -> its Proc, for every process in /proc (empty without /proc). The one /proc reader."""
    out: dict[int, Proc] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return out
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2:
            out[int(entry.name)] = Proc(int(fields[1]), fields[0].decode("ascii", "replace"), int(fields[2]))
    return out


def _live(state: str) -> bool:
    return state not in ("Z", "X")


def children(before: set[int] | None = None, procs: dict[int, Proc] | None = None) -> set[int]:
    """This process's children (live or zombie), less `before`."""
    procs = table() if procs is None else procs
    me = os.getpid()
    return {pid for pid, p in procs.items() if p.ppid == me} - (before or set())


def escaped(step_pid: int, before: set[int], procs: dict[int, Proc] | None = None) -> set[int]:
    """Live processes the step started, wherever they went: its descendants and the orphans re-parented to us.

    An orphan is a child of ours that was not one when the step started
    (`before`) and is not a step we run ourselves; with everything below it.
    """
    procs = table() if procs is None else procs
    roots = {step_pid} | (children(before, procs) - _ACTIVE - {step_pid})
    kids: dict[int, list[int]] = {}
    for pid, p in procs.items():
        kids.setdefault(p.ppid, []).append(pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(kids.get(pid, ()))
    found.discard(step_pid)  # the step itself is stopped (and reaped) by its runner
    return {pid for pid in found if pid in procs and _live(procs[pid].state)}


def reap(before: set[int]) -> int:
    """Collect the exit status of orphans re-parented to us that have ended; how many."""
    n = 0
    procs = table()
    for pid in children(before, procs) - _ACTIVE:
        if _live(procs[pid].state):
            continue
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                n += 1
    return n


def _kill(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


async def stop(step_pid: int, before: set[int], grace: float) -> tuple[int, int]:
    """SIGTERM what the step left outside its group, SIGKILL what is left after `grace`.

    Returns (how many were found, how many still live at the end). New
    processes forked meanwhile are found on each look.
    """
    seen: set[int] = set()
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        sent: set[int] = set()
        deadline = time.monotonic() + wait
        while True:
            left = escaped(step_pid, before)
            seen |= left
            _kill(left - sent, sig)  # once each; a fork that appeared since gets it too
            sent |= left
            if not left or time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL)
            reap(before)
        if not left:
            break
    reap(before)
    return len(seen), len(escaped(step_pid, before))
