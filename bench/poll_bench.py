"""Poll-cycle time for 50 criteria against a real Prometheus, beside the slowest single query.

Starts its own Prometheus (scraping a test exporter, as the tests do) and
measures, in the same run and in alternation each round:
- every one of the 50 queries alone, one after another (their sum is what a
  serial poller would take). The baseline is the slowest query: each query's
  median over the rounds, the largest of those. (The slowest of each round's 50
  draws, the baseline before, measures the noise's tail rather than a query:
  one stall in 50 requests sets it; it is still printed.);
- the recorder's poll of all 50 criteria at once, from the queries to the
  samples fsync'd into a decision log, batched (as shipped: the instant-vector
  queries asked as one `... or ...` query, POSTed, see warroom/sources/prombatch.py)
  and unbatched (one request per query in a thread pool, as before batching);
- the HTTP query requests each poll cost, counted by Prometheus itself
  (prometheus_http_requests_total on its /metrics);
- the batch's own request sent alone through the source's session (the floor of
  a one-request cycle: what is left above it is ours), and Prometheus's own
  evaluation time for it (`stats=all`).
Target: the cycle within 1.5x of the slowest single query. The machine's load
average is printed beside the figures (on a shared machine they move with it).

Settings: Prometheus straight on loopback (queries take ~1-3 ms, so unbatched
the figure is dominated by our per-request CPU: ~0.7 ms in requests/urllib3
under the GIL, ~35 ms for 50), and behind a proxy in its own process that adds a
network round trip to every answer (default 40 and 100 ms: a bastion talking to
Prometheus in another network, or queries that take that long).

    python3 bench/poll_bench.py [--rounds 8] [--rtt-ms 40,100]

However it is stopped (Ctrl-C, SIGTERM, even kill -9), its Prometheus and proxy end with it and
its temporary directory goes (tests/servers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the same Prometheus fixtures the tests use
sys.path.insert(0, str(ROOT))  # this checkout, whatever an editable install points at

import servers  # noqa: E402  (tests/servers.py: the servers it starts end with it, however it ends)
from promstack import free_port, prom_stack  # noqa: E402
from waiting import wait_for  # noqa: E402

from warroom.config import parse_launch  # noqa: E402
from warroom.core.events import Actor  # noqa: E402
from warroom.recorder.loop import Recorder  # noqa: E402
from warroom.sources import Query, prombatch  # noqa: E402
from warroom.sources.prometheus import FORM, Prometheus  # noqa: E402
from warroom.store.log import DecisionLog, read_log  # noqa: E402

N = 50
# Every timed request (a single query, the batch alone, a poll) follows the same pause: a poll comes after an
# idle interval, and a request right after another finds the threads and Prometheus warm (a poll straight after
# another took 4.4 ms, after 50 ms of idle 5.2 ms, after Prometheus answered /metrics 6.0 ms). Timed back to back,
# the single queries were favoured over the polls, which each followed a /metrics request.
IDLE = 0.02


def queries() -> list[str]:
    """50 distinct instant queries over the exporter's series (no two alike, so nothing is shared)."""
    forms = [
        "avg_over_time(wr_cfur[{w}s])",
        "max_over_time(wr_latency_ms[{w}s])",
        "sum(wr_errors) * {w}",
        "min_over_time(wr_cfur[{w}s])",
        "wr_latency_ms / {w}",
    ]
    return [forms[i % len(forms)].format(w=5 + i) for i in range(N)]


def launch_text(url: str) -> str:
    crits = "".join(
        f"  - {{id: q{i}, name: Query {i}, source: prom, query: '{q}', go: '>= 0'}}\n" for i, q in enumerate(queries())
    )
    return (
        "version: 1\nlaunch: {id: bench, name: Poll bench, t0: 2027-01-15T08:00:00Z}\n"
        "roles: [{id: c, title: Commander, commander: true}]\nphases: [{id: go, name: Go, at: -1d}]\n"
        f"sources:\n  prom: {{type: prometheus, url: '{url}', interval: 15s, timeout: 10s}}\n"
        f"criteria:\n{crits}"
    )


def alone(src: Prometheus, group: Any, at: float) -> tuple[float, float]:
    """The whole batch's request alone, as the source POSTs it (same session, headers, body), with nothing
    else around it: seconds it took; then, untimed, the seconds Prometheus says it spends evaluating it
    (asked apart, as `stats=all` makes the answer longer)."""
    batch = prombatch.compose([c.query for c in group.criteria])
    body = f"query={batch.encoded}&time={at:.3f}".encode("ascii")
    url = f"{src.url}/api/v1/query"
    t = time.perf_counter()
    src._session.post(url, data=body, headers=FORM, timeout=src.timeout).json()
    took = time.perf_counter() - t
    data = src._session.post(url, data=body + b"&stats=all", headers=FORM, timeout=src.timeout).json()["data"]
    return took, float(data["stats"]["timings"]["execTotalTime"])


def served(url: str) -> int:
    """Query requests Prometheus has answered so far, by its own count."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/query"' in line
        )
    )


async def measure(url: str, prom_url: str, rounds: int, tmp: Path) -> dict[str, Any]:
    launch = parse_launch(launch_text(url), "bench.yaml")
    log = DecisionLog(tmp / f"bench-{free_port()}.jsonl", Actor("bench", "localhost"))
    rec = Recorder(launch, log, epoch=time.time())
    assert await rec.acquire()
    tick = 0

    async def cycle(batched: bool, count: bool = False) -> tuple[float, int]:
        """One poll of the group, timed after the same idle as each single query; `count`: also the requests
        Prometheus answered for it (its /metrics asked just before perturbs the timing, so timed polls are not
        counted)."""
        nonlocal tick
        src.batching = batched
        tick += 1
        before = served(prom_url) if count else 0
        await asyncio.sleep(IDLE)
        t = time.perf_counter()
        await rec.poll_group(group, tick, time.time())
        took = time.perf_counter() - t
        return took, served(prom_url) - before if count else 0

    try:
        group = rec.groups()[0]
        src = group.source
        assert isinstance(src, Prometheus) and len(group.criteria) == N
        # warm up: connections in the pool, threads started; the source learns which queries are
        # instant vectors (first poll) and settles its chunks (until they stay the same twice)
        first, _ = await cycle(batched=True)
        shapes: list[list[int]] = []
        while len(shapes) < 3 or shapes[-1] != shapes[-2] or shapes[-2] != shapes[-3]:
            await cycle(batched=True)
            shapes.append(src.chunks.sizes())
            if len(shapes) >= 20:
                break
        singles: list[float] = []
        per_query: list[list[float]] = [[] for _ in group.criteria]
        sums: list[float] = []
        floor: list[float] = []
        evals: list[float] = []
        m: dict[str, list[float]] = {"batched": [], "unbatched": [], "req_b": [], "req_u": []}
        for r in range(1, rounds + 1):
            at = time.time()
            these = []
            src.batching = True  # as shipped: a read alone is a request of its own query
            for c in group.criteria:
                await asyncio.sleep(IDLE)
                t = time.perf_counter()
                reading = await src.read(Query(c.id, c.query, c.unit), at)
                these.append(time.perf_counter() - t)
                assert reading.error is None, reading
            for mine, took in zip(per_query, these, strict=True):
                mine.append(took)
            singles.append(max(these))
            await asyncio.sleep(IDLE)
            took, evaluated = await asyncio.to_thread(alone, src, group, at)
            floor.append(took)
            evals.append(evaluated)
            sums.append(sum(these))
            order = (True, False) if r % 2 else (False, True)  # alternate, so neither always goes first
            for batched in order:
                took, _ = await cycle(batched)
                m["batched" if batched else "unbatched"].append(took)
        for batched in (True, False):
            _, requests = await cycle(batched, count=True)
            m["req_b" if batched else "req_u"].append(requests)
        samples = read_log(log.path).events
        bad = [e.data for e in samples if e.kind == "sample" and e.data.get("error")]
        assert not bad, bad[:3]
    finally:
        await rec.release()
        log.close()
    slowest = max(statistics.median(q) for q in per_query)
    ratios = [c / slowest for c in m["batched"]]
    ratios_u = [c / slowest for c in m["unbatched"]]
    return {
        "slowest": slowest,
        "slowest_draw": statistics.median(singles),
        "floor": statistics.median(floor),
        "eval": statistics.median(evals),
        "sum": statistics.median(sums),
        "cycle": statistics.median(m["batched"]),
        "cycle_max": max(m["batched"]),
        "ratio": statistics.median(ratios),
        "ratio_max": max(ratios),
        "ratio_draw": statistics.median([c / s for c, s in zip(m["batched"], singles, strict=True)]),
        "cycle_u": statistics.median(m["unbatched"]),
        "ratio_u": statistics.median(ratios_u),
        "req": statistics.median(m["req_b"]),
        "req_u": statistics.median(m["req_u"]),
        "first": first,
        "warmup": len(shapes) + 1,
        "chunks": shapes[-1],
        "load": load(),
    }


PROXY = r"""
import asyncio, sys, time
listen, upstream, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
async def pipe(reader, writer, wait):
    # A delay line, as a network is: every chunk leaves `wait` after it arrived, and chunks in flight do not
    # wait for each other (sleeping after each read instead added a round trip per chunk to a long answer).
    line = asyncio.Queue()
    async def send():
        while (item := await line.get()) is not None:
            due, data = item
            if (late := due - time.monotonic()) > 0:
                await asyncio.sleep(late)
            writer.write(data)
            await writer.drain()
    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(65536):
            line.put_nowait((time.monotonic() + wait, data))
    except ConnectionError:
        pass
    finally:
        line.put_nowait(None)
        try:
            await sender
        except ConnectionError:
            pass
        writer.close()
async def handle(cr, cw):
    ur, uw = await asyncio.open_connection("127.0.0.1", upstream)
    await asyncio.gather(pipe(cr, uw, 0), pipe(ur, cw, delay))
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def start_proxy(upstream: int, rtt: float, tmp: Path) -> tuple[servers.Server, str]:
    """A TCP proxy in its own process that delays every response by `rtt` (a network round trip), as a delay line.

    It runs in the bench's directory `tmp`, so whoever looks for the bench's processes finds it."""
    port = free_port()
    proc = servers.start(
        [sys.executable, "-c", PROXY, str(port), str(upstream), str(rtt)],
        name="proxy",
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp,
    )
    if proc.stdout is None or proc.stdout.readline().strip() != "ready":
        proc.stop()
        raise SystemExit("the delaying proxy did not start")
    return proc, f"http://127.0.0.1:{port}"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def show(title: str, m: dict[str, Any]) -> None:
    print(f"\n{title}  [{m['load']}]")
    print(
        f"  slowest single query      {m['slowest'] * 1000:8.1f} ms   (each query's median over rounds, the largest; "
        f"the slowest of each round's {N} draws: {m['slowest_draw'] * 1000:.1f} ms)"
    )
    print(f"  {N} queries one by one     {m['sum'] * 1000:8.1f} ms   (what a serial poller takes)")
    print(
        f"  poll cycle, unbatched     {m['cycle_u'] * 1000:8.1f} ms   ({m['ratio_u']:.2f}x the slowest single; "
        f"{m['req_u']:.0f} requests)"
    )
    print(
        f"  poll cycle, batched       {m['cycle'] * 1000:8.1f} ms   (median; worst {m['cycle_max'] * 1000:.1f} ms; "
        f"{m['req']:.0f} requests, chunks {m['chunks']})"
    )
    print(
        f"  the batch's request alone {m['floor'] * 1000:8.1f} ms   ({m['floor'] / m['slowest']:.2f}x the slowest "
        f"single: the floor of a one-request cycle; the same POST, nothing around it; Prometheus evaluating it: "
        f"{m['eval'] * 1000:.1f} ms)"
    )
    verdict = "meets" if m["ratio"] <= 1.5 else "MISSES"
    print(
        f"  cycle / slowest single    {m['ratio']:8.2f} x    (median; worst {m['ratio_max']:.2f} x) "
        f"-> {verdict} the 1.5x target (against the slowest draw: {m['ratio_draw']:.2f} x)"
    )
    print(
        f"  first poll (learning)     {m['first'] * 1000:8.1f} ms   (every query alone; settled after "
        f"{m['warmup']} polls)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--rtt-ms", default="40,100", help="round trips the proxy adds, comma-separated (default 40,100)")
    args = ap.parse_args()
    with servers.temp_dir("poll-bench-") as tmp:
        t = time.monotonic()
        with prom_stack(tmp, alertmanager=False) as stack:
            print(
                f"Prometheus {stack.prom_url} ready with data in {time.monotonic() - t:.1f}s; "
                f"{N} criteria, {args.rounds} rounds"
            )
            wait_for(
                "a few scrapes", lambda: len(stack.query("count_over_time(wr_cfur[10s])")) == 1, ignoring=(Exception,)
            )
            results = [
                (
                    "Prometheus on loopback (our per-request overhead dominates)",
                    asyncio.run(measure(stack.prom_url, stack.prom_url, args.rounds, tmp)),
                )
            ]
            for rtt in [float(x) for x in args.rtt_ms.split(",") if x.strip()]:
                proxy, url = start_proxy(stack.prometheus.port, rtt / 1000, tmp)
                with proxy:
                    results.append(
                        (
                            f"Prometheus behind a {rtt:g} ms round trip (query time dominates, as in use)",
                            asyncio.run(measure(url, stack.prom_url, args.rounds, tmp)),
                        )
                    )
        for title, m in results:
            show(title, m)
        print(f"\nat end: {load()}")


if __name__ == "__main__":
    main()
