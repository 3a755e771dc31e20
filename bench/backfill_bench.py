"""Backfill of 7 days x 10 criteria at 1-minute steps (about 100,000 points) from a real Prometheus, beside the
same range queries made raw with httpx in the same run.

The Prometheus holds the test launch (tests/launchdata.py, made with promtool); the 10 criteria are distinct
queries over its three series, one per criterion, each interval 1m. Measured, alternating, best of --rounds:
- backfill: read the log for gaps, plan, ask the range queries (4 in flight), append one `backfill` event
  per range (hash-chained, fsync'd) into a fresh log;
- raw: the same queries (same start, end, step) with one httpx.AsyncClient, 4 in flight, JSON decoded;
and, once, the peak memory of the backfill (tracemalloc, Python allocations) and of `warroom backfill` run as
a child (its max RSS), plus the child's wall time. Target: backfill within 1.5x of raw.

    python3 bench/backfill_bench.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the same Prometheus fixtures the tests use
sys.path.insert(0, str(ROOT))  # this checkout, whatever an editable install points at

from launchdata import history_prometheus  # noqa: E402

from warroom.config import parse_launch  # noqa: E402
from warroom.core.events import Actor  # noqa: E402
from warroom.recorder.backfill import CONCURRENCY, known, plan, run  # noqa: E402
from warroom.store.launchlog import bind  # noqa: E402
from warroom.store.log import DecisionLog, iter_events  # noqa: E402

QUERIES = [
    "wr_error_rate_percent",
    "wr_p95_ms",
    "wr_cfur_percent",
    "wr_error_rate_percent * 10",
    "wr_p95_ms / 1000",
    "100 - wr_cfur_percent",
    "max_over_time(wr_error_rate_percent[5m])",
    "avg_over_time(wr_p95_ms[5m])",
    "min_over_time(wr_cfur_percent[5m])",
    "wr_p95_ms + wr_error_rate_percent",
]
WEEK = 7 * 86400


def config(url: str, t0: float) -> str:
    when = datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    crit = "".join(
        f"  - {{id: c{i}, name: Criterion {i}, source: prom, query: {orjson.dumps(q).decode()}, go: '>= 0'}}\n"
        for i, q in enumerate(QUERIES)
    )
    return (
        f"version: 1\nlaunch: {{id: bench, name: Backfill bench, t0: '{when}'}}\n"
        "roles:\n  - {id: commander, title: Commander, commander: true}\n"
        "phases:\n  - {id: launch, name: Launch, at: 0s}\n"
        f"sources:\n  prom: {{type: prometheus, url: '{url}', interval: 1m, timeout: 30s}}\n"
        f"criteria:\n{crit}"
        "rollback:\n  allowed_roles: [commander]\n  steps:\n    - {name: Undo, run: ['true']}\n"
    )


def backfill_once(text: str, log_path: Path) -> tuple[float, int]:
    launch = parse_launch(text, "bench.yaml")
    actor = Actor("bench", "bench", name="backfill")
    with DecisionLog(log_path, actor) as log:
        launch, _ = bind(log, launch, text, "bench.yaml")
        started = time.perf_counter()
        k = known(launch, log_path)
        assert k.epoch is not None
        now = time.time()
        p = plan(launch, k, launch.t0, launch.t0 + WEEK, now, epoch=k.epoch)
        out = asyncio.run(run(launch, log, p, epoch=k.epoch, actor=actor))
        took = time.perf_counter() - started
    assert not out.failures, out.failures
    return took, sum(out.points.values())


def ranges(text: str, log_path: Path) -> list[tuple[str, float, float, float]]:
    """The exact range queries the backfill asked (from the events it wrote)."""
    out = []
    for ev in iter_events(log_path):
        if ev.kind == "backfill":
            pts = ev.data["points"]
            out.append((ev.data["query"], pts[0][1], pts[-1][1], ev.data["step"]))
    return out


async def raw(url: str, qs: list[tuple[str, float, float, float]]) -> tuple[float, int]:
    gate = asyncio.Semaphore(CONCURRENCY)
    n = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:

        async def one(q: str, a: float, b: float, step: float) -> None:
            nonlocal n
            async with gate:
                r = await client.get(
                    f"{url}/api/v1/query_range",
                    params={"query": q, "start": f"{a:.3f}", "end": f"{b:.3f}", "step": f"{step:g}"},
                )
            body = r.json()
            n += sum(len(s["values"]) for s in body["data"]["result"])

        await asyncio.gather(*(one(*x) for x in qs))
    return time.perf_counter() - started, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="warroom-bfbench-") as tmp_s:
        tmp = Path(tmp_s)
        print("making the TSDB with promtool and starting Prometheus ...", flush=True)
        with history_prometheus(tmp / "prom") as h:
            text = config(h.url, h.t0)
            # warm-up: Prometheus's caches, and the ranges the backfill asks
            backfill_once(text, tmp / "warm.jsonl")
            qs = ranges(text, tmp / "warm.jsonl")
            asyncio.run(raw(h.url, qs))
            bf: list[float] = []
            rw: list[float] = []
            points = raw_points = 0
            for i in range(args.rounds):
                t, points = backfill_once(text, tmp / f"r{i}.jsonl")
                bf.append(t)
                t, raw_points = asyncio.run(raw(h.url, qs))
                rw.append(t)
                (tmp / f"r{i}.jsonl").unlink()
            tracemalloc.start()
            backfill_once(text, tmp / "mem.jsonl")
            _cur, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            size = (tmp / "mem.jsonl").stat().st_size
            cfg = tmp / "bench.yaml"
            cfg.write_text(text)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            started = time.perf_counter()
            res = subprocess.run(
                [sys.executable, "-m", "warroom", "backfill", str(cfg), "--log", str(tmp / "cli.jsonl"),
                 "--from", "T0", "--to", "T+7d"],
                capture_output=True, text=True, env=env,
            )  # fmt: skip
            cli = time.perf_counter() - started
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            assert res.returncode == 0, res.stderr
    b, r = min(bf), min(rw)
    print(
        f"{len(QUERIES)} criteria x 7 days at 1m: {points:,} points in {len(qs)} range queries (raw got {raw_points:,})"
    )
    print(f"backfill (plan + range queries + log append): best {b * 1000:.0f} ms of {args.rounds}")
    print(f"raw httpx range queries, same run:            best {r * 1000:.0f} ms of {args.rounds}")
    print(f"ratio: {b / r:.2f}x (target <= 1.5x)")
    print(f"peak Python memory of one backfill (tracemalloc): {peak / 1e6:.1f} MB; log written: {size / 1e6:.1f} MB")
    print(f"'warroom backfill' as a child: {cli * 1000:.0f} ms wall (with interpreter start-up), max RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
