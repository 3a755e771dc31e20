"""What a decision-log backend provides: the file (log.py) and PostgreSQL (pg.py) both implement it.

Both keep every event as its exact JSON line with its (seq, prev, hash) and decode through
`core.events.decode`, so an event reads the same, byte for byte, from either store, and a log copied
from one to the other verifies on both.

Reading (`LogReader`): the events from a seq on, chain-checked (LogCorrupt at the first break); the raw
lines; verify; the head. Writing (`Store`): append (returns once the event is durable: fsync'd or
committed), a follower for live consoles, and leases: one recorder and one rollback at a time.
A lease's `term` is a fencing token where the backend needs one (see docs/store.md): an append made
with `fence=lease` is refused once that lease has been taken over.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from warroom.core.events import Actor, Event

if TYPE_CHECKING:
    from warroom.store.log import VerifyResult


class StoreUnavailable(OSError):
    """The store cannot be written or read just now (the database is down or unreachable); nothing was recorded."""


class OutcomeUnknown(OSError):
    """An append whose statement reached the database, which went away before it answered: it may have been
    recorded or not, and nobody can tell until the database is back. `events` are what was sent: the log holds
    them (seq and hash alike) if it was recorded."""

    def __init__(self, errno_: int, strerror: str, events: Sequence[Event]) -> None:
        super().__init__(errno_, strerror)
        self.events = list(events)


def write_failure(e: Exception) -> str:
    """What a failed append tells a person: "not recorded: why", or, for an outcome unknown, that it may be."""
    said = (e.strerror if isinstance(e, OSError) else None) or str(e)
    if isinstance(e, OutcomeUnknown) or "not recorded" in said:
        return said
    return f"not recorded: {said}"


class Fenced(OSError):
    """An append made under a lease that another process has since taken over: refused, nothing was recorded."""


class Lease(Protocol):
    """One holder at a time across every process (and host, for a shared store) using the log."""

    def try_acquire(self) -> bool: ...

    @property
    def held(self) -> bool: ...

    def holder_text(self) -> str: ...

    def release(self) -> None: ...


class Follow(Protocol):
    """Events appended since the last call, in order, chain-checked across calls."""

    seq: int

    def poll(self) -> list[Event]: ...


class LogReader(Protocol):
    @property
    def name(self) -> str:
        """How the log is shown to a person (a path, or a URI without any password)."""
        ...

    def events(self, after: int = 0) -> Iterator[Event]: ...

    def lines(self) -> Iterator[bytes]:
        """Every complete event's exact line, without its newline, in seq order (for copies)."""
        ...

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last event; (0, GENESIS) for an empty log."""
        ...

    def verify(self) -> VerifyResult: ...

    def close(self) -> None: ...


class Store(LogReader, Protocol):
    actor: Actor

    @property
    def side_base(self) -> Path:
        """The local path this host's side files are named from (the rollback's crash marker): the log file
        itself, or for a shared store a file name in this host's data directory."""
        ...

    def append(self, kind: str, data: dict[str, Any] | None = None, actor: Actor | None = None) -> Event: ...

    def append_many(
        self, items: Sequence[tuple[str, dict[str, Any] | None]], actor: Actor | None = None, *, fence: Any = None
    ) -> list[Event]: ...

    def follower(self) -> Follow: ...

    def lease(self, name: str, holder: Actor | None = None) -> Lease: ...
