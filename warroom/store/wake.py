"""Being told that a log moved, instead of finding out at the next poll.

A console follows its log on a timer. Waiting for the timer costs every
follower up to one interval per event it shows (a tick on one console reached
the others 0.3 s to 2 s later under load); polling faster costs CPU while
nothing happens. A `Wake` is a file descriptor that turns readable when the log
may have moved, for the console's loop to wait on:

- a file log: inotify on the file (Linux), readable after any process writes to it;
- PostgreSQL: the follower's connection socket, where its LISTEN's notifications arrive.

The descriptor only wakes; the follower still reads and checks what was appended, and the timer stays as the
fallback (a platform without inotify, a notification lost across a reconnect).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from warroom.store.base import Follow
from warroom.store.pg import PgFollower

IN_MODIFY = 0x002
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC


class FileWake:
    """inotify on one file: readable after it is written (by any process on this host)."""

    def __init__(self, path: Path) -> None:
        self.fd = -1
        try:
            # the C library this process already has loaded; ctypes.util.find_library("c") would run
            # ldconfig in a subprocess (~20 ms, on the console's way to its first frame)
            libc = ctypes.CDLL(None, use_errno=True)
            fd = int(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
        except (OSError, AttributeError):  # not Linux: the timer alone follows
            return
        if fd < 0:
            return
        if libc.inotify_add_watch(fd, os.fsencode(path), IN_MODIFY) < 0:
            os.close(fd)
            return
        self.fd = fd

    def fileno(self) -> int | None:
        return self.fd if self.fd >= 0 else None

    def token(self) -> tuple[int | None, int]:
        """Changes when the descriptor must be waited on afresh."""
        return self.fileno(), 0

    def drain(self) -> None:
        """Take the pending notifications (what changed is the follower's to read)."""
        try:
            while os.read(self.fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class PgWake:
    """The PostgreSQL follower's socket (its notifications arrive there; reading them is the follower's `poll`)."""

    def __init__(self, follower: PgFollower) -> None:
        self.follower = follower

    def fileno(self) -> int | None:
        return self.follower.fileno()

    def token(self) -> tuple[int | None, int]:
        """Changes when the descriptor must be waited on afresh (a reconnect may reuse the old number)."""
        return self.follower.fileno(), self.follower.connects

    def drain(self) -> None:
        """Nothing: the follower's next poll consumes what arrived."""

    def close(self) -> None:
        """The follower owns its connection."""


Wake = FileWake | PgWake


def wake_for(follower: Follow) -> Wake | None:
    """The descriptor to wait on for this follower, or None when only polling will do."""
    if isinstance(follower, PgFollower):
        return PgWake(follower)
    path = getattr(follower, "path", None)
    if isinstance(path, Path) and path.exists():
        w = FileWake(path)
        if w.fileno() is not None:
            return w
    return None


__all__ = ["FileWake", "PgWake", "Wake", "wake_for"]
