"""Many instant-vector PromQL queries asked as one, and the bookkeeping that keeps that safe.

Each request through requests/urllib3 costs ~0.7 ms of CPU under the GIL, so 50
criteria polled one request each take ~11x the slowest query on loopback. Asked
as one query, `label_replace(q0,"__warroom_id","0","","") or
label_replace(q1,...)` (nested as a balanced tree), they cost about one request: `or` keeps every series
of its left side and every series of its right side whose label set is not on
the left, and the id label makes every member's series distinct from every
other member's, so nothing is dropped and each series says whose it is.

Pure code (no I/O, no clock): composing the query, splitting the answer per
member, blaming a member for a parse error, recognising which answers prove a
query is an instant vector, and the persistent split of members into chunks.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

LABEL = "__warroom_id"
# What a query's answers have shown it to be.  Only VECTOR and MAYBE go into a batch.
VECTOR = "vector"  # an instant vector (a non-empty one was seen, or a batch holding it type-checked)
MAYBE = "maybe"  # only empty answers so far: an instant vector, or a range vector with no data
NEVER = "never"  # scalar, string, range vector, carries our label, or broke a batch: always asked alone

# A batch's encoded query keeps the request line under what common proxies accept (nginx, Apache: 8 KiB).
MAX_QUERY_BYTES = 7500
_POSITION_RE = re.compile(r"(\d+):(\d+): parse error")


@dataclass(frozen=True)
class Batch:
    """One query standing for `members`; member i's part starts at byte `starts[i]` of the UTF-8 text;
    `encoded` is the text as a URL or form value (what its size is judged by, and what is sent)."""

    text: str
    members: tuple[str, ...]
    starts: tuple[int, ...]
    encoded: str


def compose(members: Sequence[str]) -> Batch:
    """The `or` of every member with its id label, as a balanced tree: `(a or b) or (c or d)`.

    Prometheus evaluates a chain `a or b or c ...` with a left side that grows by a
    member at every step (200 members took 70 ms as a chain, 23 ms as a tree). The
    newline after each member ends a `# comment` it may end with (else it would
    comment out the rest of the batch). Few characters that a URL must escape: each
    escape costs urllib3 CPU on every request. The chunks stay the same from poll to
    poll, so a batch is composed and encoded once (quoting is a loop over every byte).
    """
    return _compose(tuple(members))


@lru_cache(maxsize=256)
def _compose(members: tuple[str, ...]) -> Batch:
    tagged = [f'label_replace({q}\n,"{LABEL}","{i}","","")' for i, q in enumerate(members)]
    parts: list[str] = []
    starts: list[int] = []
    at = 0

    def emit(text: str) -> None:
        nonlocal at
        parts.append(text)
        at += len(text.encode())

    def tree(lo: int, hi: int) -> None:
        if hi - lo == 1:
            starts.append(at)
            emit(tagged[lo])
            return
        mid = (lo + hi) // 2
        for i, (a, b) in enumerate(((lo, mid), (mid, hi))):
            emit(" or " if i else "")
            emit("(" if b - a > 1 else "")
            tree(a, b)
            emit(")" if b - a > 1 else "")

    if members:
        tree(0, len(members))
    text = "".join(parts)
    return Batch(text, members, tuple(starts), quote_plus(text))


def encoded_size(members: Sequence[str]) -> int:
    """Bytes the batch's query takes in a URL or a form body."""
    return len(compose(members).encoded)


def split(result: Any, n: int) -> list[list[dict[str, Any]]] | None:
    """The answer to a batch of `n`, as each member's own series (id label removed); None if it is
    not the vector a batch must answer (then nothing in it can be trusted to belong to anyone)."""
    if not isinstance(result, list):
        return None
    out: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for series in result:
        if not isinstance(series, dict) or not isinstance(series.get("metric"), dict) or "value" not in series:
            return None
        metric = dict(series["metric"])
        ident = metric.pop(LABEL, None)
        if not isinstance(ident, str) or not ident.isdigit() or int(ident) >= n or str(int(ident)) != ident:
            return None
        out[int(ident)].append({**series, "metric": metric})
    return out


def blame(batch: Batch, message: str) -> int | None:
    """The member a parse error's position ("1:318: parse error: ...", line:column) points into, if any."""
    m = _POSITION_RE.search(message)
    if not m:
        return None
    line, col = int(m.group(1)), int(m.group(2))
    lines = batch.text.encode().split(b"\n")
    if not 1 <= line <= len(lines):
        return None
    pos = sum(len(x) + 1 for x in lines[: line - 1]) + col - 1
    i = bisect.bisect_right(batch.starts, pos) - 1
    return i if 0 <= i < len(batch.members) else None


def shape(result: Any) -> str:
    """What one query's own answer shows about it (see VECTOR, MAYBE, NEVER)."""
    if not isinstance(result, list):
        return NEVER  # scalar or string: [t, "v"]
    if not result:
        return MAYBE
    for series in result:
        if not isinstance(series, dict) or "value" not in series or not isinstance(series.get("metric"), dict):
            return NEVER  # a range vector ("values") or something odd
        if LABEL in series["metric"]:
            return NEVER  # our label would overwrite its own and could make two series one
    return VECTOR


def learn(known: str | None, seen: str) -> str:
    """Combine what was known with a new answer: NEVER sticks, VECTOR is not undone by an empty answer."""
    if known == NEVER or seen == NEVER:
        return NEVER
    if known == VECTOR or seen == VECTOR:
        return VECTOR
    return MAYBE


@dataclass(eq=False)
class Chunk:
    """Members asked in one request."""

    members: list[str]
    seam: int = 0  # where the two chunks it was last merged from meet (0: it was not merged)
    answered: int = -1  # the last flush in which one request answered all of it


@dataclass
class Chunks:
    """The persistent, ordered split of batchable queries into chunks of one request each.

    All start in one chunk (as long as the URL allows). A chunk is split when its
    batch fails while every member alone is answered: the URL was too long for a
    proxy, or Prometheus could not evaluate it within the batch's time budget (it
    evaluates a batch's members one after another, so heavy queries are better
    asked in parallel). A chunk that was merged splits where it was merged (the
    merge is what failed), any other in halves; the boundary becomes a wall that
    neighbours may not merge across for `backoff` flushes, twice as long after
    each further failure there. Neighbours answered in the same flush merge. So
    a heavy query ends alone, the light ones around it stay batched, and a
    hiccup is forgotten.
    """

    max_bytes: int = MAX_QUERY_BYTES
    backoff: int = 8
    chunks: list[Chunk] = field(default_factory=list)
    walls: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # boundary -> (until, failures)

    def place(self, wanted: Iterable[str]) -> list[tuple[Chunk, list[str]]]:
        """Chunks holding any of `wanted` (new members get chunks of their own), with those members."""
        want = list(dict.fromkeys(wanted))
        for c in [c for c in self.chunks if len(c.members) > 1 and encoded_size(c.members) > self.max_bytes]:
            i = self.chunks.index(c)
            self.chunks[i : i + 1] = [Chunk(part) for part in self._fit(c.members)]
        placed = {m for c in self.chunks for m in c.members}
        new = [m for m in want if m not in placed]
        if new:
            self.chunks += [Chunk(part) for part in self._fit(new)]
        wanted_set = set(want)
        out = []
        for c in self.chunks:
            present = [m for m in c.members if m in wanted_set]
            if present:
                out.append((c, present))
        return out

    def _fit(self, members: list[str]) -> list[list[str]]:
        if len(members) <= 1 or encoded_size(members) <= self.max_bytes:
            return [members]
        half = len(members) // 2
        return self._fit(members[:half]) + self._fit(members[half:])

    def failed(self, chunk: Chunk, flush: int, sent: list[str], too_long: bool = False) -> None:
        """A batch of `sent` (from `chunk`) failed while each alone was answered: split the chunk and
        wall the cut off; after "URL too long", never build a batch that long again."""
        if too_long:
            self.max_bytes = min(self.max_bytes, encoded_size(sent) - 1)
        if chunk not in self.chunks or len(chunk.members) < 2:
            return
        i = self.chunks.index(chunk)
        cut = chunk.seam or len(chunk.members) // 2
        left, right = chunk.members[:cut], chunk.members[cut:]
        _, failures = self.walls.get((left[-1], right[0]), (0, 0))
        self.walls[(left[-1], right[0])] = (flush + self.backoff * 2**failures, failures + 1)
        self.chunks[i : i + 1] = [Chunk(left), Chunk(right)]

    def drop(self, member: str) -> None:
        """`member` is never batched again."""
        for i, c in enumerate(self.chunks):
            if member in c.members:
                at = c.members.index(member)
                del c.members[at]
                c.seam = c.seam - 1 if at < c.seam else c.seam
                if not 0 < c.seam < len(c.members):
                    c.seam = 0
                if not c.members:
                    del self.chunks[i]
                return

    def merge(self, flush: int) -> None:
        """Merge neighbours both answered whole in this flush, unless walled off or too long a URL."""
        i = 0
        while i + 1 < len(self.chunks):
            a, b = self.chunks[i], self.chunks[i + 1]
            until, _ = self.walls.get((a.members[-1], b.members[0]), (0, 0))
            if (
                a.answered == flush
                and b.answered == flush
                and until <= flush
                and encoded_size(a.members + b.members) <= self.max_bytes
            ):
                self.chunks[i : i + 2] = [Chunk(a.members + b.members, seam=len(a.members))]
            i += 1

    def sizes(self) -> list[int]:
        return [len(c.members) for c in self.chunks]
