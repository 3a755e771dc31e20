"""The decision log: append (locked, fsync'd), read with crash recovery, verify, follow.

One JSON line per event, hash-chained (see events.py). Writers take an
exclusive flock on the log for the whole read-tail/write/fsync, so appends from
any number of processes never interleave and sequence numbers never repeat.
A writer killed mid-write leaves at most a torn last line without a newline;
the next writer moves those bytes to `<log>.torn` before appending, records
that it did (a `torn_recovered` event: byte count and SHA-256 of the bytes),
and readers report a torn tail and carry on with every complete event.

Opening for writing never writes through a surprise: the log's path may be a
symlink only to an existing regular file that is empty or already a warroom
log; a file that is not (a secret, a config, a FIFO), a dangling symlink, or a
log with a second hard link is refused with a message, untouched. Side files
follow sidefiles.py (named from the real path, O_NOFOLLOW, the log's mode).
Timestamps follow bounds.py.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from warroom.core.bounds import ImplausibleTime, clock_problem, follow_tail
from warroom.core.events import (
    GENESIS,
    SCHEMA_VERSION,
    Actor,
    BadLine,
    Event,
    decode,
    encode,
    event_of,
    parse_iso,
)
from warroom.core.records import Parsed
from warroom.store.base import OutcomeUnknown
from warroom.store.paths import Lock, lock_path, side_path
from warroom.store.sidefiles import (
    DEFAULT_MODE,
    UnsafePath,
    append_side,
    file_mode,
    make_blocking,
    one_regular_file,
)
from warroom.store.sidefiles import FileLock as FileLock  # re-exported: the recorder and rollback locks live there

_TAIL_FIRST = 1 << 12
_TIME_TAILS = frozenset(f".{ms:03d}Z" for ms in range(1000))  # a log's own time is 'YYYY-MM-DDTHH:MM:SS' + these
_SECONDS = frozenset(f"{s:02d}" for s in range(60))
_READ_CHUNK = 1 << 20
_HASH_SUFFIX = len(',"hash":"') + 64 + len('"}')
_FIRST_EVENT = b'{"v":' + str(SCHEMA_VERSION).encode() + b',"seq":1,"ts":"'
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class LogCorrupt(Exception):
    """The log's chain is broken: an earlier event was edited, removed, inserted or reordered."""

    def __init__(self, message: str, problem: VerifyProblem | None = None):
        super().__init__(message)
        self.problem = problem


@dataclass
class ReadResult:
    events: list[Event]
    torn: bytes = b""
    problem: VerifyProblem | None = None


@dataclass(frozen=True)
class VerifyProblem:
    seq: int
    line: int
    reason: str

    def __str__(self) -> str:
        return f"event seq {self.seq} (line {self.line}): {self.reason}"


@dataclass
class VerifyResult:
    count: int = 0
    problem: VerifyProblem | None = None
    torn: int = 0
    last_hash: str = GENESIS
    first_ts: float | None = None
    last_ts: float | None = None
    read: tuple[int, str] = (0, GENESIS)  # with verify's `read`: the last event iter_parsed would have given
    read_error: Exception | None = None  # ... and what it (or the feed) would have raised there
    marked: dict[int, str] = field(default_factory=dict)  # ... and the hashes of those at the seqs asked for

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(slots=True)
class _Tail:
    end: int = -1
    seq: int = 0
    hash: str = GENESIS
    ts: float = 0.0


class DecisionLog:
    """An open decision log for appending; safe to share a file between processes."""

    def __init__(self, path: str | Path, actor: Actor, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.actor = actor
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = open_log_for_writing(self.path)
        self._tail = _Tail()
        self.recovered_torn = 0
        self._torn_event: dict[str, Any] | None = None  # set by a recovery, appended before the next event

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append_many(
        self, items: Sequence[tuple[str, dict[str, Any] | None]], actor: Actor | None = None, *, fence: Any = None
    ) -> list[Event]:
        """Append several events under one lock, one write and one fsync.

        The recorder's samples of one poll arrive together; one fsync for all of
        them instead of one each keeps a 50-criteria poll from blocking the loop.
        `fence` (a lease) needs no check here: a flock is held until its holder dies, so it is never taken
        over from a live (even a stopped) holder.
        """
        if not items:
            return []
        return self._append_locked(items, actor)

    def append(self, kind: str, data: dict[str, Any] | None = None, actor: Actor | None = None) -> Event:
        """Append one event; returns once it is on disk.

        Under the lock: one fstat tells whether another process appended since
        our last write (then the tail is re-read); otherwise the tail we keep is
        current and nothing is read.
        """
        return self._append_locked([(kind, data)], actor)[0]

    def _append_locked(self, items: Sequence[tuple[str, dict[str, Any] | None]], actor: Actor | None) -> list[Event]:
        fd = self._fd
        now = self.clock()
        why = clock_problem(now)
        if why is not None:
            raise ImplausibleTime(errno.ERANGE, f"{self.path}: not recorded: {why}")
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            t = self._current_tail(fd)
            ts = follow_tail(now, t.ts)  # never earlier than the event before, unless that one is far ahead
            who = actor or self.actor
            todo = list(items)
            if self._torn_event is not None:
                todo.insert(0, ("torn_recovered", self._torn_event))
            batch = [(kind, data, self.actor if data is self._torn_event else who) for kind, data in todo]
            out, lines = encode_batch(batch, t.seq, t.hash, ts)
            seq, prev = (out[-1].seq, out[-1].hash) if out else (t.seq, t.hash)
            self._write(fd, t, b"".join(lines), seq, prev, ts, out[1:] if self._torn_event is not None else out)
            if self._torn_event is not None:
                self._torn_event = None
                out.pop(0)
            return out
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    # ---------------------------------------------------------------- the store interface (base.py)

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def side_base(self) -> Path:
        return self.path

    def events(self, after: int = 0) -> Iterator[Event]:
        return FileLog(self.path).events(after)

    def lines(self) -> Iterator[bytes]:
        return FileLog(self.path).lines()

    def head(self) -> tuple[int, str]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            t = self._current_tail(self._fd)
            return t.seq, t.hash
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def verify(self) -> VerifyResult:
        return verify(self.path)

    def follower(self) -> Follower:
        return Follower(self.path)

    def lease(self, name: str, holder: Actor | None = None) -> FileLock:
        """`<log>.<name>.lock` beside the log (the recorder's and the rollback's locks: paths.lock_path)."""
        return FileLock(lock_path(self.path, Lock(f".{name}.lock")), file_mode(self.path))

    def _current_tail(self, fd: int) -> _Tail:
        """Under the lock: the tail we keep, re-read only if someone else appended since our last write."""
        t = self._tail
        size = os.fstat(fd).st_size
        if size != t.end:
            t = self._tail = self._read_tail(size)
        return t

    def _write(
        self, fd: int, t: _Tail, blob: bytes, seq: int, last_hash: str, ts: float, events: Sequence[Event]
    ) -> None:
        """Write whole lines, fsync, then advance the tail; a write or fsync that fails is undone (`_undo`)."""
        try:
            written = os.write(fd, blob)
            while written < len(blob):
                written += os.write(fd, blob[written:])
            os.fsync(fd)
        except OSError as e:
            self._undo(fd, t, e, events)
        t.end, t.seq, t.hash, t.ts = t.end + len(blob), seq, last_hash, ts

    def _undo(self, fd: int, t: _Tail, e: OSError, events: Sequence[Event]) -> None:
        """Under the lock, after a write or fsync failed: cut the log back to where it ended, so what the person
        is told ("not recorded") is what every reader will find. After a failed fsync the lines may sit in the
        page cache, readable by every console and perhaps on disk after all; a follower never reads them (it
        takes the shared lock, `Follower.poll`), and once cut they are gone for all. If the cut cannot be made
        durable either, nobody can say whether they are recorded: "not confirmed", and the log tells once read
        (`OutcomeUnknown`, as for a database that went away). Always raises."""
        why = e.strerror or type(e).__name__
        try:
            os.ftruncate(fd, t.end)
            os.fsync(fd)
        except OSError as e2:
            raise OutcomeUnknown(
                e.errno or errno.EIO,
                f"{self.path}: not confirmed: the disk failed the write ({why}) and undoing it failed too "
                f"({e2.strerror or type(e2).__name__}); it may be recorded: the log tells, once read",
                events,
            ) from e
        raise OSError(e.errno or errno.EIO, f"{self.path}: not recorded: the disk failed the write ({why})") from e

    def _read_tail(self, size: int) -> _Tail:
        """Find the last complete event; set aside a torn tail left by a crashed writer.

        Reads backwards from the end in growing chunks (most events are a few
        hundred bytes, so one small read usually does).
        """
        if size == 0:
            return _Tail(0)
        chunk = _TAIL_FIRST
        while True:
            start = max(0, size - chunk)
            buf = os.pread(self._fd, size - start, start)
            body = buf[: buf.rfind(b"\n") + 1]
            if body.count(b"\n") >= 2 or start == 0:
                break
            chunk *= 4
        if not buf.endswith(b"\n"):
            cut = buf.rfind(b"\n") + 1
            torn = buf[cut:]
            where = self._set_aside(torn)
            os.ftruncate(self._fd, start + cut)
            os.fsync(self._fd)
            self.recovered_torn += 1
            self._torn_event = {
                "bytes": len(torn),
                "sha256": hashlib.sha256(torn).hexdigest(),
                "offset": start + cut,
                "kept_in": str(where),
            }
            size = start + cut
            buf = buf[:cut]
        if not buf:
            return _Tail(size)
        if buf.endswith(b"\n\n"):
            raise LogCorrupt(f"{self.path}: ends with a blank line; run 'warroom verify'")
        last = buf[buf.rfind(b"\n", 0, len(buf) - 1) + 1 : -1]
        try:
            ev = decode(last)
        except BadLine as e:
            raise LogCorrupt(f"{self.path}: last event is damaged ({e}); run 'warroom verify'") from None
        return _Tail(size, ev.seq, ev.hash, ev.ts)

    def _set_aside(self, torn: bytes) -> Path:
        """Keep a crashed writer's partial line in `<log>.torn` (durably, no wider than the log) before cutting it
        off the log; never through a symlink planted there."""
        where = torn_path(self.path)
        append_side(where, torn + b"\n", stat.S_IMODE(os.fstat(self._fd).st_mode))
        return where


def encode_batch(
    items: Sequence[tuple[str, dict[str, Any] | None, Actor]], seq: int, prev: str, ts: float
) -> tuple[list[Event], list[bytes]]:
    """The events (and their exact lines, each ending in a newline) that continue a chain at (seq, prev).

    The one encoder for every store, so a file and a database hold the same bytes for the same events.
    """
    out: list[Event] = []
    lines: list[bytes] = []
    for kind, data, by in items:
        payload = data if data is not None else {}
        seq += 1
        line, digest = encode(seq, ts, by, kind, payload, prev)
        out.append(Event(SCHEMA_VERSION, seq, ts, by, kind, payload, prev, digest))
        lines.append(line)
        prev = digest
    return out, lines


def torn_path(log_path: str | Path) -> Path:
    """Where a torn tail cut off the log is kept."""
    return side_path(log_path, ".torn")


def open_log_for_writing(path: Path) -> int:
    """Open (or create, mode 0640) the log for appending, refusing anything that is not plainly a warroom log.

    See the module docstring: what is refused is left exactly as it was.
    """
    if path.is_symlink():
        target = os.path.realpath(path)
        if not os.path.exists(target):
            raise UnsafePath(
                path, f"is a symbolic link to {target}, which does not exist; warroom does not create a log through one"
            )
    real = os.path.realpath(path)
    try:
        fd = os.open(real, _OPEN_FLAGS, DEFAULT_MODE)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(path, "changed into a symbolic link while being opened; not writing through it") from None
        if e.errno in (errno.ENXIO, errno.EISDIR):
            raise UnsafePath(path, "is not a regular file; give a file path for the decision log") from None
        raise
    try:
        st = one_regular_file(
            fd,
            path,
            not_regular="is not a regular file; give a file path for the decision log",
            links="its locks are keyed on one name, so a log must have exactly one "
            "(open it by its own name, or copy it)",
        )
        if st.st_size > 0:
            head = os.pread(fd, len(_FIRST_EVENT), 0)
            if head != _FIRST_EVENT[: len(head)] or (len(head) < len(_FIRST_EVENT) and st.st_size > len(head)):
                shown = f" (through the symbolic link {path} -> {real})" if real != os.path.abspath(path) else ""
                raise UnsafePath(
                    path,
                    f"is not a warroom decision log{shown}: it is not empty and does not start with a warroom event; "
                    "it was left untouched; give a new --log path",
                )
        make_blocking(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def iter_lines(path: str | Path, start: int = 0) -> Iterator[tuple[int, bytes, bool]]:
    """(offset, line without newline, complete) for each line from `start`, read in large chunks."""
    with open(path, "rb") as f:
        f.seek(start)
        offset = start
        rest = b""
        while True:
            chunk = f.read(_READ_CHUNK)
            if not chunk:
                break
            data = rest + chunk
            lines = data.split(b"\n")
            rest = lines.pop()
            for ln in lines:
                yield offset, ln, True
                offset += len(ln) + 1
        if rest:
            yield offset, rest, False


def iter_events(path: str | Path, on_torn: Callable[[bytes], None] | None = None) -> Iterator[Event]:
    """Stream the log's events, checking the chain; raises LogCorrupt at the first bad event."""
    for _end, ev in iter_events_from(path, on_torn=on_torn):
        yield ev


def iter_events_from(
    path: str | Path, start: int = 0, seq: int = 0, prev: str = GENESIS, on_torn: Callable[[bytes], None] | None = None
) -> Iterator[tuple[int, Event]]:
    """(byte offset just past the event's line, event) from byte `start`, the chain continuing from (seq, prev).

    Replay resumes folding from a checkpoint's offset without re-reading the
    file from the top; the chain is still checked from there on.
    """
    for end, _seq, d, h, ts in iter_parsed(path, start, seq, prev, on_torn):
        yield end, event_of(d, h, ts)


class NotPlain(Exception):
    """A line `lines_parsed` would not pass without a closer look (its `on_odd` says so): the sequential read says
    what it is."""


def _not_plain(line: bytes, seq: int, prev: str, n: int) -> tuple[dict[str, Any], float]:
    raise NotPlain(f"line {n}")


def iter_parsed(
    path: str | Path, start: int = 0, seq: int = 0, prev: str = GENESIS, on_torn: Callable[[bytes], None] | None = None
) -> Iterator[Parsed]:
    """Each verified line from byte `start` as (offset past it, seq, its parsed object, its hash, its time), the
    chain continuing from (seq, prev): one read, one sha256 and one parse per line, and no Event, so a fold can
    take a plain sample straight from the object (`LaunchState.apply_line`); `event_of` makes the Event.

    Any line the hot test (`lines_parsed`) does not pass goes to `decode`, so a bad line raises the LogCorrupt,
    with the words, it always did (and one it was too strict for is read as it always was).
    """
    with open(path, "rb") as f:
        f.seek(start)
        # the buffered reader's C line loop: cheaper than splitting chunks in Python
        yield from lines_parsed(f, start, seq, prev, on_torn, _decoded_parts)


def lines_parsed(
    lines: Iterable[bytes],
    offset: int,
    seq: int,
    prev: str,
    on_torn: Callable[[bytes], None] | None,
    on_odd: Callable[[bytes, int, str, int], tuple[dict[str, Any], float]] = _not_plain,
    hashed: bool = True,
    timed: bool = True,
) -> Iterator[Parsed]:
    """The one per-line chain test, over lines newline and all (a file's line iterator), the chain continuing from
    (seq, prev): what `iter_parsed` yields, and what the chain-check child (`store.chaincheck`) and the fold beside
    it run, each with its half of the work (`hashed=False`: the hash is the one the line claims; `timed=False`:
    no time is read, 0.0 stands in).

    The hot test is verify's: the hash of the line minus its suffix, the link, the seq, the suffix's shape (a
    comma before it, `"}` and the newline after: with the hash matching, that is the exact suffix `decode` wants)
    and the fields an Event needs. A line that fails it and has no newline is a torn last line (`on_torn`, then
    the end); any other goes to `on_odd` (which raises, or gives the object and time it read it as).
    """
    sha = hashlib.sha256
    loads = orjson.loads
    cut = _HASH_SUFFIX + 1  # with the newline
    n = seq  # the line number, counted as iter_events_from always did (from the seq it resumes at)
    digest = ""
    for line in lines:
        if hashed:
            digest = sha(line[:-cut] + b"}").hexdigest()
        try:
            d = loads(line)
            if hashed:
                if (
                    d["hash"] != digest
                    or d["prev"] != prev
                    or d["seq"] != seq + 1
                    or line[-cut] != 44  # ','
                    or line[-3:] != b'"}\n'
                    or type(d["v"]) is not int
                    or type(d["actor"]) is not dict
                    or "data" not in d
                    or "kind" not in d
                ):
                    raise ValueError
            else:
                digest = d["hash"]
                if line[-1] != 10:  # no newline: torn, as the hashed test finds it
                    raise ValueError
            ts = parse_iso(d["ts"]) if timed else 0.0
        except (ValueError, KeyError, TypeError, IndexError):
            if line[-1:] != b"\n":  # the last line, cut short by an interrupted write: not an event
                if on_torn:
                    on_torn(line)
                return
            d, ts = on_odd(line, seq, prev, n + 1)
        n += 1
        offset += len(line)
        prev = digest
        seq += 1
        yield offset, seq, d, digest, ts


def _read_time(line: bytes, d: dict[str, Any], seq: int, prev: str, n: int) -> float:
    """What `lines_parsed` makes of a complete line (without its newline) whose chain link verify has checked
    (`d` its object): its time; LogCorrupt where it would stop."""
    try:
        if (
            line[-_HASH_SUFFIX] != 44  # ','
            or line[-2:] != b'"}'
            or type(d["v"]) is not int
            or type(d["actor"]) is not dict
            or "data" not in d
            or "kind" not in d
        ):
            raise ValueError
        return parse_iso(d["ts"])
    except (ValueError, KeyError, TypeError, IndexError):
        return _decoded(line, seq, prev, n).ts


def _decoded_parts(line: bytes, seq: int, prev: str, n: int) -> tuple[dict[str, Any], float]:
    """`iter_parsed`'s word on a line the hot test did not pass: raises LogCorrupt, or gives it as read."""
    ev = _decoded(line[:-1], seq, prev, n)
    return orjson.loads(line), ev.ts


def _decoded(line: bytes, seq: int, prev: str, n: int) -> Event:
    """A line the hot test did not pass, read as iter_events_from always read one: raises LogCorrupt for a bad
    line or a broken link, with the same problem."""
    try:
        ev = decode(line)
    except BadLine as e:
        problem = VerifyProblem(seq + 1, n, str(e))
        raise LogCorrupt(str(problem), problem) from None
    if ev.seq != seq + 1 or ev.prev != prev:
        problem = chain_problem(ev.seq, seq + 1, n)
        raise LogCorrupt(str(problem), problem)
    return ev


def read_log(path: str | Path) -> ReadResult:
    """Every complete event; a torn last line is returned apart, a broken chain stops reading there."""
    out = ReadResult([])
    if not Path(path).exists():
        return out

    def torn(b: bytes) -> None:
        out.torn = b

    try:
        for ev in iter_events(path, on_torn=torn):
            out.events.append(ev)
    except LogCorrupt as e:
        out.problem = e.problem or verify(path).problem
    return out


def chain_problem(got: int, expected: int, line: int) -> VerifyProblem:
    """What a break in the chain means, named at the first sequence number that is wrong.

    `got` is the seq of a self-consistent event found on `line` where `expected`
    belongs, or equal to `expected` when the event's `prev` link does not match.
    """
    if got > expected:
        gone = f"event {expected} was" if got == expected + 1 else f"events {expected}..{got - 1} were"
        return VerifyProblem(expected, line, f"found seq {got} where {expected} belongs: {gone} deleted or moved")
    if got == expected - 1:
        return VerifyProblem(got, line, f"a second event claims seq {got}: an event was inserted")
    if got < expected:
        return VerifyProblem(
            expected, line, f"found seq {got} where {expected} belongs: an event was inserted or events were reordered"
        )
    if expected == 1:
        return VerifyProblem(1, line, "the first event does not start the chain: events before it were removed")
    return VerifyProblem(
        expected - 1,
        line - 1,
        f"event {expected - 1} no longer matches the hash event {expected} "
        "recorded for it: it was edited and re-hashed",
    )


Feed = Callable[[int, dict[str, Any], str, float], None]
"""What a verified line is handed to, as `iter_parsed` would give it: (seq, parsed object, hash, time)."""


def verify(
    path: str | Path, feed: Feed | None = None, *, read: bool = False, marks: frozenset[int] = frozenset()
) -> VerifyResult:
    """Check every line's hash and the chain (see `verify_chunks`), optionally reading the events on the way."""
    with open(path, "rb") as f:
        return verify_chunks(iter(lambda: f.read(_READ_CHUNK), b""), feed, read=read, marks=marks)


def verify_chunks(
    chunks: Iterable[bytes], feed: Feed | None = None, *, read: bool = False, marks: frozenset[int] = frozenset()
) -> VerifyResult:
    """Check every line's hash and the chain, reading the log as byte chunks (a file's, or a database's rows).

    The hot loop is as lean as a bare parse-and-hash loop: no Event objects, no
    per-line generator. `hash == sha256(line minus its hash suffix)` proves the
    rest of the line unchanged (the hash cannot sit inside what it hashes), so
    the suffix's shape needs no separate check. Anything unusual drops to
    `_line_problem`, which says what is wrong.

    With `read` (or a `feed`), the same pass also reads each line as `iter_parsed` would (its stricter test,
    its time), so `warroom verify` checks signatures and anchors without reading the log twice: `feed` gets
    each line `iter_parsed` would yield, up to where it would stop (`res.read`: the last one's seq and hash);
    an error the reading or the feed raises is kept in `res.read_error`, for the caller to raise where a
    separate read after the chain check would have raised it (only once the chain is known to be intact).
    The hash of each read event whose seq is in `marks` (an anchor's) is kept in `res.marked`, so a check of
    anchors alone needs no feed.
    """
    res = VerifyResult()
    prev = GENESIS
    seq = 0  # events accepted; the line being read is line seq + 1
    sha = hashlib.sha256
    loads = orjson.loads
    cut = _HASH_SUFFIX
    first: Any = None
    d: Any = None
    before = GENESIS
    rest = b""
    reading = read or feed is not None
    second = ""  # the 'YYYY-MM-DDTHH:MM:SS' of a time read already: with any '.mmmZ', any :SS, it reads too
    tails, seconds = _TIME_TAILS, _SECONDS
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            digest = sha(line[:-cut] + b"}").hexdigest()
            try:
                d = loads(line)
                if d["hash"] != digest or d["prev"] != prev or d["seq"] != seq + 1:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                res.problem = _line_problem(line, d if isinstance(d, dict) else None, digest, seq, prev, seq + 1)
                break
            if reading:  # iter_parsed's reading of the line, on top of the chain's test
                try:  # plainly read: its time in a second (or a minute) read before, in the log's own form
                    t = d["ts"]
                    plain = (
                        feed is None
                        and type(t) is str
                        and t[19:] in tails
                        and line[-cut] == 44  # ','
                        and line[-2:] == b'"}'
                        and type(d["v"]) is int
                        and type(d["actor"]) is dict
                        and "data" in d
                        and "kind" in d
                    )
                except (KeyError, IndexError, TypeError):
                    plain = False
                if plain and t[:19] != second:
                    if t[:17] == second[:17] and t[17:19] in seconds:
                        second = t[:19]
                    else:
                        plain = False
                if not plain:
                    try:
                        ts = _read_time(line, d, seq, prev, seq + 1)
                        if feed is not None:
                            feed(seq + 1, d, digest, ts)
                    except LogCorrupt:  # where iter_parsed stops: the reader reads no further
                        reading = False
                        res.read = (seq, prev)
                    except Exception as e:  # raised by a separate read after the chain check: kept for then
                        reading = False
                        res.read, res.read_error = (seq, prev), e
                    else:
                        t = d.get("ts")
                        if type(t) is str and t[19:] in tails and t[10:11] == "T" and t[13:14] + t[16:17] == "::":
                            second = t[:19]  # read: any other '.mmmZ' of it reads, and any other second of it
                if marks and reading and seq + 1 in marks:
                    res.marked[seq + 1] = digest
            before, prev = prev, digest
            seq += 1
            if first is None:
                first = d
        else:
            continue
        break
    else:
        res.torn = len(rest)
    if reading:
        res.read = (seq, prev)
    res.count = seq
    res.last_hash = prev
    if res.problem is not None and res.problem.seq <= seq:
        # the break shows an event we had accepted was itself changed: it is not intact either
        res.count, res.last_hash = res.problem.seq - 1, before
    if first is not None:
        last = d if res.problem is None else None
        try:
            res.first_ts = parse_iso(first["ts"])
            res.last_ts = parse_iso(last["ts"]) if last is not None else None
        except (KeyError, TypeError, ValueError):
            res.problem = res.problem or VerifyProblem(1, 1, "timestamps are not ISO 8601")
    return res


def _line_problem(line: bytes, d: dict[str, Any] | None, digest: str, seq: int, prev: str, n: int) -> VerifyProblem:
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError:
        return VerifyProblem(seq + 1, n, "not JSON: the line was damaged or edited by hand")
    if not isinstance(d, dict) or not isinstance(d.get("hash"), str):
        return VerifyProblem(seq + 1, n, "not an event (no hash)")
    if d["hash"] != digest:
        return VerifyProblem(seq + 1, n, "content does not match its hash: the event was edited")
    ev_seq, ev_prev = d.get("seq"), d.get("prev")
    if type(ev_seq) is not int or not isinstance(ev_prev, str) or not isinstance(d.get("ts"), str):
        return VerifyProblem(seq + 1, n, "not a valid event (seq, prev or ts missing or of the wrong type)")
    return chain_problem(ev_seq, seq + 1, n)


_SHARED_WAIT = 0.05  # seconds a follower waits for an append's fsync; a wake comes at the write, before it


def _shared_lock(fd: int) -> bool:
    """A shared lock on the log, so no append is between its write and its fsync; False if one still is after
    `_SHARED_WAIT` (a slow or failing disk): the caller, a console's loop, must not hang on another's disk."""
    deadline = time.monotonic() + _SHARED_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)


@dataclass
class Follower:
    """Reads events appended since the last call; used by live consoles to stay in sync.

    Keeps its place (byte offset, seq, hash, line) so each poll reads only what
    is new, and checks the chain across polls.
    """

    path: Path
    offset: int = 0
    seq: int = 0
    prev: str = GENESIS
    torn: bytes = field(default=b"")
    line: int = 0

    def poll(self) -> list[Event]:
        """What was appended since the last call; only what an append has made durable (see `_read_new`)."""
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        if size == self.offset:
            self.torn = b""
            return []
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            if not _shared_lock(fd):
                return []  # an append is still waiting on its disk: read at the next poll
            return self._read_new(os.fstat(fd).st_size)
        finally:
            os.close(fd)  # and the shared lock with it

    def _read_new(self, size: int) -> list[Event]:
        """Under a shared lock on the log, so no append is between its write and its fsync: a line is never read
        here that an append then undoes (`DecisionLog._undo`), nor one that is not yet on disk."""
        if size < self.offset:
            raise LogCorrupt(f"{self.path} shrank under us (was {self.offset} bytes, now {size})")
        if size == self.offset:
            self.torn = b""
            return []
        out: list[Event] = []
        self.torn = b""
        for off, line, complete in iter_lines(self.path, self.offset):
            if not complete:
                self.torn = line
                break
            n = self.line + 1
            try:
                ev = decode(line)
            except BadLine as e:
                problem = VerifyProblem(self.seq + 1, n, str(e))
                raise LogCorrupt(str(problem), problem) from None
            if ev.seq != self.seq + 1 or ev.prev != self.prev:
                problem = chain_problem(ev.seq, self.seq + 1, n)
                raise LogCorrupt(str(problem), problem)
            self.seq, self.prev, self.line = ev.seq, ev.hash, n
            self.offset = off + len(line) + 1
            out.append(ev)
        return out


@dataclass(frozen=True)
class FileLog:
    """A file log opened for reading only (nothing is created or recovered): the reader side of base.py."""

    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def events(self, after: int = 0) -> Iterator[Event]:
        for ev in iter_events(self.path):
            if ev.seq > after:
                yield ev

    def lines(self) -> Iterator[bytes]:
        """Every complete line (a torn tail is not an event); the chain is the caller's to check."""
        for _off, line, complete in iter_lines(self.path):
            if complete:
                yield line

    def head(self) -> tuple[int, str]:
        res = verify(self.path)
        return res.count, res.last_hash

    def verify(self) -> VerifyResult:
        return verify(self.path)

    def close(self) -> None:
        """Nothing is held open between reads."""


def event_to_json(ev: Event) -> dict[str, Any]:
    return {
        "v": ev.v,
        "seq": ev.seq,
        "ts": ev.ts_iso,
        "actor": ev.actor.to_json(),
        "kind": ev.kind,
        "data": ev.data,
        "prev": ev.prev,
        "hash": ev.hash,
    }
