"""Decision-log speed beside raw baselines measured in the same run.

    python3 bench/log_bench.py [--appends 3000] [--events 1000000] [--dir DIR]

Appends: DecisionLog.append (flock, tail check, encode + hash, write, fsync)
against a plain loop of flock + write + fsync of a line of the same size.
Verify: warroom.store.log.verify over a generated log against a plain loop that
parses each line with orjson and checks the sha256 chain. Appends are
interleaved one by one and verify runs alternate in rounds (best round
counts), so a noisy neighbour hurts both sides alike. Targets: each ratio >= 0.8x.
Use a directory on a real disk (fsync on tmpfs costs nothing).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import tempfile
import time
from pathlib import Path

import orjson

from warroom.core.events import GENESIS, Actor, encode
from warroom.store.log import DecisionLog, verify

ACTOR = Actor(user="bench", host="bastion", ssh="10.0.0.7", name="Bench")
SAMPLE = {"criterion": "api-p95", "value": 312.5, "error": None, "reason": "", "t": 1767268800.0}


def bench_appends(base: Path, n: int, line: bytes) -> tuple[float, float]:
    """(raw appends/s, DecisionLog appends/s), the two interleaved one append at a time.

    Interleaving puts both sides under the same disk and CPU weather, which on
    a shared machine moves far more than either loop's own cost.
    """
    fd = os.open(base / "raw.log", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
    log = DecisionLog(base / "ours.jsonl", ACTOR)
    clock = time.perf_counter
    raw_t = ours_t = 0.0
    try:
        for _ in range(n):
            t = clock()
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
            t2 = clock()
            log.append("sample", SAMPLE)
            t3 = clock()
            raw_t += t2 - t
            ours_t += t3 - t2
    finally:
        os.close(fd)
        log.close()
    assert verify(base / "ours.jsonl").count == n
    return n / raw_t, n / ours_t


def generate(path: Path, n: int) -> None:
    """A valid chained log of `n` events, written in big buffered blocks (no fsync per line)."""
    prev = GENESIS
    ts = 1767268800.0
    buf: list[bytes] = []
    with open(path, "wb") as f:
        for seq in range(1, n + 1):
            data = dict(SAMPLE, value=300.0 + seq % 97, t=ts)
            line, prev = encode(seq, ts, ACTOR, "sample", data, prev)
            buf.append(line)
            ts += 0.05
            if len(buf) >= 10_000:
                f.write(b"".join(buf))
                buf.clear()
        f.write(b"".join(buf))


def raw_verify(path: Path) -> int:
    """The baseline: read, split lines, orjson-parse each, sha256 each body, compare the links."""
    sha = hashlib.sha256
    loads = orjson.loads
    cut = len(',"hash":"') + 64 + len('"}')
    prev = GENESIS
    count = 0
    with open(path, "rb") as f:
        rest = b""
        while chunk := f.read(1 << 20):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                d = loads(line)
                digest = sha(line[:-cut] + b"}").hexdigest()
                if d["prev"] != prev or d["hash"] != digest:
                    raise SystemExit(f"baseline found a broken chain at line {count + 1}")
                prev = digest
                count += 1
    return count


def best(rounds: list[float]) -> float:
    return max(rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--appends", type=int, default=3000, help="appends per side")
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the generated log for verify")
    ap.add_argument("--rounds", type=int, default=3, help="verify rounds per side")
    ap.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="warroom-bench-") as d:
        base = Path(d)
        line, _ = encode(1, time.time(), ACTOR, "sample", SAMPLE, GENESIS)
        raw, ours = bench_appends(base, args.appends, line)
        print(f"append  (fsync'd, locked, {args.appends:,} each, interleaved, {len(line)}-byte events)")
        print(f"  raw flock+write+fsync : {raw:10,.0f} appends/s")
        print(f"  DecisionLog.append    : {ours:10,.0f} appends/s   ratio {ours / raw:.2f}x (target >= 0.8x)")

        big = base / "big.jsonl"
        t = time.perf_counter()
        generate(big, args.events)
        gen = time.perf_counter() - t
        size = big.stat().st_size
        ours_v: list[float] = []
        raw_v: list[float] = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            n = raw_verify(big)
            raw_v.append(n / (time.perf_counter() - t))
            t = time.perf_counter()
            res = verify(big)
            ours_v.append(res.count / (time.perf_counter() - t))
            assert res.ok and res.count == n == args.events, res.problem
        ours, raw = best(ours_v), best(raw_v)
        print(f"verify  ({args.events:,} events, {size / 1e6:,.0f} MB, generated in {gen:.1f}s)")
        print(f"  raw orjson+sha256 loop: {raw:10,.0f} events/s   ({args.events / raw:.2f}s)")
        print(
            f"  warroom.store.log.verify    : {ours:10,.0f} events/s   ({args.events / ours:.2f}s)   "
            f"ratio {ours / raw:.2f}x (target >= 0.8x)"
        )


if __name__ == "__main__":
    main()
