"""The PostgreSQL decision log beside a raw psycopg baseline on the same server in the same run.

    python3 bench/store_bench.py [--appends 2000] [--follow 300] [--takeovers 3]

Appends: PgLog.append (encode + hash, one statement that moves the head and inserts, commit) against a
plain psycopg loop of INSERT + COMMIT of a row of the same size, the two interleaved one append at a
time so the machine's weather hits both alike (target >= 0.8x). The file log's appends are measured
in the same run for the README's table. Follow: from an append's commit to another process's
follower seeing it (LISTEN/NOTIFY), p50 and p99 (targets < 50 ms, < 250 ms on loopback). Takeover:
SIGKILL a recorder holding the lease; time until a waiting one holds it (about the lease's TTL).
The server is a real PostgreSQL (tests/pgserver.py), started and stopped by this script.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the same PostgreSQL fixture the tests use
sys.path.insert(0, str(ROOT))  # this checkout, whatever an editable install points at

import pgserver  # noqa: E402
import psycopg  # noqa: E402

from warroom.core.events import GENESIS, Actor, encode  # noqa: E402
from warroom.store.log import DecisionLog  # noqa: E402
from warroom.store.pg import LEASE_TTL, PgLog, parse_uri  # noqa: E402

ACTOR = Actor(user="bench", host="bastion", ssh="10.0.0.7", name="Bench")
SAMPLE = {"criterion": "api-p95", "value": 312.5, "error": None, "reason": "", "t": 1767268800.0}
WORKER = ROOT / "tests" / "pgworker.py"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def bench_appends(uri: str, n: int) -> tuple[float, float]:
    """(raw INSERT+COMMIT per second, PgLog.append per second), interleaved."""
    log = PgLog(parse_uri(uri + "#bench"), ACTOR)
    raw = psycopg.connect(uri)
    raw.execute("CREATE TABLE raw_events (seq bigint PRIMARY KEY, prev text, hash text, line bytea)")
    raw.commit()
    line, digest = encode(1, time.time(), ACTOR, "sample", SAMPLE, GENESIS)
    t_raw = t_ours = 0.0
    for i in range(1, n + 1):
        t = time.perf_counter()
        raw.execute("INSERT INTO raw_events VALUES (%s, %s, %s, %s)", (i, digest, digest, line))
        raw.commit()
        t_raw += time.perf_counter() - t
        t = time.perf_counter()
        log.append("sample", SAMPLE)
        t_ours += time.perf_counter() - t
    raw.close()
    log.close()
    return n / t_raw, n / t_ours


def bench_file(n: int) -> float:
    with (
        tempfile.TemporaryDirectory(prefix="store-bench-", dir=os.environ.get("BENCH_DIR")) as d,
        DecisionLog(Path(d) / "l.jsonl", ACTOR) as log,
    ):
        t = time.perf_counter()
        for _ in range(n):
            log.append("sample", SAMPLE)
        return n / (time.perf_counter() - t)


def worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, text=True, env=ENV, stderr=subprocess.DEVNULL
    )


def line_of(p: subprocess.Popen[str], prefix: str) -> str:
    assert p.stdout is not None
    for line in p.stdout:
        if line.startswith(prefix):
            return line.strip()
    raise RuntimeError(f"worker ended before '{prefix}'")


def bench_follow(uri: str, n: int) -> list[float]:
    """Milliseconds from an append's return (committed) to another process's follower seeing it."""
    log = PgLog(parse_uri(uri + "#follow"), ACTOR)
    f = worker("follow", uri + "#follow")
    try:
        line_of(f, "ready")
        out: list[float] = []
        for _ in range(n):
            ev = log.append("sample", SAMPLE)
            done = time.time()
            seen = line_of(f, f"seen {ev.seq} ")
            out.append((float(seen.split()[2]) - done) * 1000)
            time.sleep(0.01)
        return out
    finally:
        f.kill()
        f.wait()
        log.close()


def bench_takeover(uri: str, rounds: int) -> list[float]:
    out: list[float] = []
    for k in range(rounds):
        target = f"{uri}#takeover{k}"
        a = worker("lead", target, "host-a")
        line_of(a, "acquired")
        b = worker("lead", target, "host-b")
        time.sleep(0.5)
        os.kill(a.pid, signal.SIGKILL)
        killed = time.time()
        got = line_of(b, "acquired")
        out.append(float(got.split("at=")[1]) - killed)
        for p in (a, b):
            p.kill()
            p.wait()
    return out


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--appends", type=int, default=2000)
    ap.add_argument("--follow", type=int, default=300)
    ap.add_argument("--takeovers", type=int, default=3)
    args = ap.parse_args()
    with pgserver.running() as pg:
        uri = pg.create_db("bench")
        raw, ours = bench_appends(uri, args.appends)
        print(f"appends: PgLog {ours:,.0f}/s vs raw INSERT+COMMIT {raw:,.0f}/s = {ours / raw:.2f}x (target >= 0.8x)")
        print(f"  file log in the same run: {bench_file(args.appends):,.0f}/s")
        lat = bench_follow(uri, args.follow)
        print(
            f"follow: commit -> another process's follower p50 {statistics.median(lat):.1f} ms, "
            f"p99 {pct(lat, 0.99):.1f} ms, max {max(lat):.1f} ms (targets < 50 ms, < 250 ms)"
        )
        took = bench_takeover(uri, args.takeovers)
        print(
            f"takeover after SIGKILL of the recorder: median {statistics.median(took):.2f} s, "
            f"max {max(took):.2f} s (lease TTL {LEASE_TTL:g} s; target < 5 s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
