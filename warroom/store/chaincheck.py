"""A log's lines checked in a child process, on the very bytes a fold in this process reads (issue 16).

Why: replay's index pass folds a long log and checks its chain. Checked in the same thread, every line costs a
sha256, a link and a shape test on top of its fold; on a second core a child does that part side by side. The
fold reads the file once and hands each chunk it read to the child through a pipe (`ChainCheck.feed`): the child
never reads the file itself, so what it checks is byte for byte what was folded, even if the file changes
meanwhile.

The child runs `iter_parsed`'s test on every line (`check_lines`: the one loop, `store.log.lines_parsed`, with
the hash of the line minus its suffix, the link, the seq, the suffix's shape, the fields an Event needs); the
fold's side, `iter_unhashed`, is that loop without hashing: it reads each line's time with `parse_iso` as
`iter_parsed` does, and stops at one it cannot read. Where the child says every
line passed, `iter_parsed` over those bytes yields exactly what `iter_unhashed` yielded: the same parse of the
same line, the hash the line claims (which is its hash), the seq counted, the same time. Until it says so nothing
the fold made is verified; where a line does not pass, the caller reads the log the sequential way
(`iter_parsed`), whose words for a bad line are the only ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import select
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from warroom.core.events import GENESIS
from warroom.store.log import NotPlain, Parsed, lines_parsed

_READ_CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20
_MAX_PENDING = 64 << 20  # bytes the fold may get ahead of the child before it waits for it
_ROOT = str(Path(__file__).resolve().parent.parent.parent)  # the child imports this very warroom
_CHILD = "import sys; sys.path.insert(0, sys.argv[1]); from warroom.store.chaincheck import main; main()"


class _Fed(io.RawIOBase):
    """A file's bytes, each chunk read handed to `feed` (the child) before a line of it is parsed here."""

    def __init__(self, f: BinaryIO, feed: Callable[[bytes], None]) -> None:
        self._f, self._feed = f, feed

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self._f.read(len(b))
        if chunk:
            self._feed(chunk)
            b[: len(chunk)] = chunk
        return len(chunk)


def iter_unhashed(
    path: str | Path, feed: Callable[[bytes], None], on_torn: Callable[[bytes], None]
) -> Iterator[Parsed]:
    """Each line as `iter_parsed` yields it (offset past it, seq, object, hash, time), none of it checked here:
    the hash is the one the line claims, the seq is counted (`lines_parsed` without hashing). Every chunk read
    goes to `feed` (the child that checks it) before its lines are yielded; a line it cannot read raises
    NotPlain."""
    with open(path, "rb", buffering=0) as raw:
        lines = io.BufferedReader(_Fed(raw, feed), _READ_CHUNK)
        yield from lines_parsed(lines, 0, 0, GENESIS, on_torn, hashed=False)


def check_lines(lines: Iterable[bytes]) -> tuple[bool, int, str, int]:
    """(every line passed, lines passed, the last one's hash, bytes of a torn last line) for a log's lines.

    The test is `iter_parsed`'s (`lines_parsed`), but for the time (`iter_unhashed` reads it); it stops at the
    first line that fails it (which that reader would then look at more closely: the caller's sequential pass
    does)."""
    seq, prev = 0, GENESIS
    torn: list[bytes] = []
    try:
        for _end, seq, _d, prev, _ts in lines_parsed(lines, 0, 0, GENESIS, torn.append, timed=False):  # noqa: B007
            pass
    except NotPlain:
        return False, seq, prev, 0
    return True, seq, prev, len(torn[0]) if torn else 0


class ChainCheck:
    """`check_lines` over the bytes fed to it, in a child process. Writing to it never blocks the fold for
    long: chunks wait here while the pipe is full, up to `_MAX_PENDING` bytes."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, _ROOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        assert self._proc.stdin is not None
        self._fd = self._proc.stdin.fileno()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        os.set_blocking(self._fd, False)
        self._pending: deque[memoryview] = deque()
        self._held = 0
        self.gone = False  # the child stopped reading: it found a problem, or died

    @property
    def pid(self) -> int:
        return self._proc.pid

    def feed(self, chunk: bytes) -> None:
        if self.gone:
            return
        self._pending.append(memoryview(chunk))
        self._held += len(chunk)
        self._flush(self._held - _MAX_PENDING)

    def stopped(self) -> bool:
        """The child is done before the end: the chain broke there (or the child died)."""
        return self.gone or self._proc.poll() is not None

    def _flush(self, must: int) -> None:
        """Write what the pipe takes now, and wait until at least `must` bytes are written."""
        pending, fd = self._pending, self._fd
        while pending:
            buf = pending[0]
            try:
                n = os.write(fd, buf)
            except BlockingIOError:
                if must <= 0:
                    return
                select.select([], [fd], [], 1.0)
                continue
            except OSError:  # a broken pipe: the child stopped reading
                self.gone = True
                pending.clear()
                self._held = 0
                return
            must -= n
            self._held -= n
            if n == len(buf):
                pending.popleft()
            else:
                pending[0] = buf[n:]

    def result(self) -> tuple[int, str, int] | None:
        """Everything fed: (lines, the last one's hash, bytes of a torn last line) if the child passed every line;
        None if it did not (or could not say: it died, or was killed)."""
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        self._flush(self._held)
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            out = proc.stdout.read()
            proc.wait()
            d = orjson.loads(out)
            if d["ok"] is not True:
                return None
            return int(d["count"]), str(d["head"]), int(d["torn"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        finally:
            self.close()

    def close(self) -> None:
        """End the child if it is still running (the pass was stopped), and reap it."""
        proc = self._proc
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(OSError):
            proc.wait()
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()


def main() -> None:
    """The child: check stdin, write the result as one JSON line. It stops reading at the first line that fails."""
    with open(0, "rb", buffering=_READ_CHUNK, closefd=False) as stdin:
        ok, count, head, torn = check_lines(stdin)
    os.write(1, orjson.dumps({"ok": ok, "count": count, "head": head, "torn": torn}))


__all__ = ["ChainCheck", "NotPlain", "check_lines", "iter_unhashed"]
