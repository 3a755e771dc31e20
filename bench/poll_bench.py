"""Poll-cycle time for 50 criteria against a real Prometheus, beside the slowest single query.

Starts its own Prometheus (scraping a test exporter, as the tests do) and
measures, in the same run:
- every one of the 50 queries alone, one after another (the slowest of them is
  the baseline; their sum is what a serial poller would take);
- the recorder's poll of all 50 criteria at once, from the queries to the
  samples fsync'd into a decision log.
Target: the cycle within 1.5x of the slowest single query.

Settings: Prometheus straight on loopback (queries take ~1-3 ms, so the figure
is dominated by our per-request CPU: ~0.7 ms in requests/urllib3 under the GIL,
~35 ms for 50), and behind a proxy in its own process that adds a network round
trip to every answer (default 40 and 100 ms: a bastion talking to Prometheus
in another network, or queries that take that long), where query time, not
overhead, dominates as it does in use.

    python3 bench/poll_bench.py [--rounds 8] [--rtt-ms 40,100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the same Prometheus fixtures the tests use

from promstack import free_port, prom_stack, wait_until  # noqa: E402

from warroom.config import parse_launch  # noqa: E402
from warroom.events import Actor  # noqa: E402
from warroom.log import DecisionLog  # noqa: E402
from warroom.recorder import Recorder  # noqa: E402
from warroom.sources import Query  # noqa: E402

N = 50


def queries() -> list[str]:
    """50 distinct instant queries over the exporter's series (no two alike, so nothing is shared)."""
    forms = ["avg_over_time(wr_cfur[{w}s])", "max_over_time(wr_latency_ms[{w}s])", "sum(wr_errors) * {w}",
             "min_over_time(wr_cfur[{w}s])", "wr_latency_ms / {w}"]
    return [forms[i % len(forms)].format(w=5 + i) for i in range(N)]


def launch_text(url: str) -> str:
    crits = "".join(f"  - {{id: q{i}, name: Query {i}, source: prom, query: '{q}', go: '>= 0'}}\n"
                    for i, q in enumerate(queries()))
    return ("version: 1\nlaunch: {id: bench, name: Poll bench, t0: 2027-01-15T08:00:00Z}\n"
            "roles: [{id: c, title: Commander, commander: true}]\nphases: [{id: go, name: Go, at: -1d}]\n"
            f"sources:\n  prom: {{type: prometheus, url: '{url}', interval: 15s, timeout: 10s}}\n"
            f"criteria:\n{crits}")


async def measure(url: str, rounds: int, tmp: Path) -> dict[str, float]:
    launch = parse_launch(launch_text(url), "bench.yaml")
    log = DecisionLog(tmp / f"bench-{free_port()}.jsonl", Actor("bench", "localhost"))
    rec = Recorder(launch, log, epoch=time.time())
    assert await rec.acquire()
    try:
        group = rec.groups()[0]
        src = group.source
        assert len(group.criteria) == N
        # warm up: connections in the pool, threads started
        await rec.poll_group(group, 0, time.time())
        singles: list[float] = []
        sums: list[float] = []
        cycles: list[float] = []
        ratios: list[float] = []
        for r in range(1, rounds + 1):
            at = time.time()
            these = []
            for c in group.criteria:
                t = time.perf_counter()
                reading = await src.read(Query(c.id, c.query, c.unit), at)
                these.append(time.perf_counter() - t)
                assert reading.error is None, reading
            t = time.perf_counter()
            await rec.poll_group(group, r, time.time())
            cycle = time.perf_counter() - t
            singles.append(max(these))
            sums.append(sum(these))
            cycles.append(cycle)
            ratios.append(cycle / max(these))
    finally:
        await rec.release()
        log.close()
    return {"slowest": statistics.median(singles), "sum": statistics.median(sums),
            "cycle": statistics.median(cycles), "cycle_max": max(cycles),
            "ratio": statistics.median(ratios), "ratio_max": max(ratios)}


PROXY = r"""
import asyncio, sys
listen, upstream, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
async def pipe(reader, writer, wait):
    try:
        while data := await reader.read(65536):
            if wait:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
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


def start_proxy(upstream: int, rtt: float) -> tuple[subprocess.Popen[str], str]:
    """A TCP proxy in its own process that delays every response by `rtt` (a network round trip)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", PROXY, str(port), str(upstream), str(rtt)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, f"http://127.0.0.1:{port}"


def show(title: str, m: dict[str, float]) -> None:
    print(f"\n{title}")
    print(f"  slowest single query      {m['slowest'] * 1000:8.1f} ms   (median over rounds)")
    print(f"  50 queries one by one     {m['sum'] * 1000:8.1f} ms   (what a serial poller takes)")
    print(f"  poll cycle, 50 criteria   {m['cycle'] * 1000:8.1f} ms   (median; worst {m['cycle_max'] * 1000:.1f} ms)")
    verdict = "meets" if m["ratio"] <= 1.5 else "MISSES"
    print(f"  cycle / slowest single    {m['ratio']:8.2f} x    (median; worst {m['ratio_max']:.2f} x) "
          f"-> {verdict} the 1.5x target")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--rtt-ms", default="40,100", help="round trips the proxy adds, comma-separated (default 40,100)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="poll-bench-") as tmp:
        t = time.monotonic()
        with prom_stack(Path(tmp), alertmanager=False) as stack:
            print(f"Prometheus {stack.prom_url} ready with data in {time.monotonic() - t:.1f}s; "
                  f"{N} criteria, {args.rounds} rounds")
            wait_until("a few scrapes", lambda: len(stack.query("count_over_time(wr_cfur[10s])")) == 1)
            results = [("Prometheus on loopback (our per-request overhead dominates)",
                        asyncio.run(measure(stack.prom_url, args.rounds, Path(tmp))))]
            for rtt in [float(x) for x in args.rtt_ms.split(",") if x.strip()]:
                proxy, url = start_proxy(stack.prometheus.port, rtt / 1000)
                try:
                    results.append((f"Prometheus behind a {rtt:g} ms round trip (query time dominates, as in use)",
                                    asyncio.run(measure(url, args.rounds, Path(tmp)))))
                finally:
                    proxy.kill()
                    proxy.wait()
        for title, m in results:
            show(title, m)


if __name__ == "__main__":
    main()
