"""`warroom log copy SRC DST`: a launch's log from a file into PostgreSQL or back, the same bytes, verified.

The source must verify; the destination must be new (a missing or empty file, a launch with no events);
the lines are copied exactly, then the destination is verified on its own and must end at the source's
head (same count, same last hash). For archiving a launch after it, or moving a rehearsal into the
shared store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from warroom.core.events import decode
from warroom.store.log import LogCorrupt, chain_problem, open_log_for_writing
from warroom.store.open import open_reader, spec_of
from warroom.store.pg import PgSpec


class CopyRefused(Exception):
    """Why a copy was not made (or not trusted), for the user."""


@dataclass(frozen=True)
class Copied:
    events: int
    last_hash: str
    src: str
    dst: str


def launch_of(lines_first: bytes | None) -> str | None:
    """The launch id a log's first event names, if it is the launch event (for a URI given without '#')."""
    if lines_first is None:
        return None
    ev = decode(lines_first)
    lid = ev.data.get("id") if ev.kind == "launch" else None
    return lid if isinstance(lid, str) and lid else None


def copy_log(src_text: str, dst_text: str) -> Copied:
    src = open_reader(src_text)
    try:
        res = src.verify()
        if not res.ok:
            raise CopyRefused(f"{src.name} does not verify ({res.problem}); not copied")
        if res.count == 0:
            raise CopyRefused(f"{src.name} holds no events; nothing to copy")
        first = next(iter(src.lines()), None)
        dst = spec_of(dst_text, launch_of(first))
        n = _into_pg(dst, src.lines()) if isinstance(dst, PgSpec) else _into_file(dst, src.lines())
        if n != res.count:
            raise CopyRefused(f"copied {n} events but {src.name} holds {res.count}; the source changed meanwhile?")
        out = open_reader(dst)
        try:
            check = out.verify()
        finally:
            out.close()
        if not check.ok or (check.count, check.last_hash) != (res.count, res.last_hash):
            raise CopyRefused(f"the copy at {out.name} does not verify as its source does: {check.problem or 'head'}")
        return Copied(res.count, res.last_hash, src.name, out.name)
    finally:
        src.close()


def _into_pg(spec: PgSpec, lines: Iterable[bytes]) -> int:
    from warroom.core.events import current_actor
    from warroom.store.pg import PgLog

    log = PgLog(spec, current_actor("log copy"))
    try:
        return log.import_lines(iter(lines))
    finally:
        log.close()


def _into_file(path: Path, lines: Iterable[bytes]) -> int:
    if path.exists() and path.stat().st_size > 0:
        raise CopyRefused(f"{path} already holds a log; copy into a new file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_log_for_writing(path)
    n, prev, size = 0, None, 0
    buf: list[bytes] = []
    try:
        for line in lines:
            ev = decode(line)
            if ev.seq != n + 1 or (prev is not None and ev.prev != prev):
                problem = chain_problem(ev.seq, n + 1, n + 1)
                raise LogCorrupt(str(problem), problem)
            n, prev = ev.seq, ev.hash
            buf.append(line + b"\n")
            size += len(line) + 1
            if size >= 1 << 20:
                _write_all(fd, b"".join(buf))
                buf, size = [], 0
        _write_all(fd, b"".join(buf))
        os.fsync(fd)
    finally:
        os.close(fd)
    return n


def _write_all(fd: int, blob: bytes) -> None:
    done = 0
    while done < len(blob):
        done += os.write(fd, blob[done:])
