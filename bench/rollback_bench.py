"""What running a rollback step through warroom costs, beside running the same command bare.

Prints, from one run on this machine, for a step that writes N lines as fast as it can:
- wall time of the bare command (subprocess, output to a pipe read to the end) — the baseline;
- wall time of the same command as a rollback step (new session, streamed, batched into the log,
  trimmed), and the ratio;
- the decision log's size after the run and how many step_output events it holds (the output is
  trimmed to a bounded size whatever N is);
- time from SIGTERM-ignoring timeout to the whole process group gone (the kill grace is the floor).

Usage: python3 bench/rollback_bench.py [--lines N] [--repeat R]
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
sys.path.insert(0, str(ROOT))

from warroom.config import parse_launch  # noqa: E402
from warroom.core.events import Actor  # noqa: E402
from warroom.rollback.runner import RollbackRunner  # noqa: E402
from warroom.store.log import DecisionLog, read_log  # noqa: E402

CONFIG = """
version: 1
launch: {{id: bench, name: Bench, t0: 2026-01-01T00:00:00Z}}
roles: [{{id: commander, title: Commander, members: [bench]}}]
phases: [{{id: p, name: P, at: 0s}}]
rollback:
  allowed_roles: [commander]
  steps:
    - name: chatty
      run: [{py}, -c, "import sys\\nw = sys.stdout.write\\nfor i in range({n}): w(f'line {{i}} of the output\\\\n')"]
      timeout: 5m
"""

STUBBORN = """
version: 1
launch: {{id: bench, name: Bench, t0: 2026-01-01T00:00:00Z}}
roles: [{{id: commander, title: Commander, members: [bench]}}]
phases: [{{id: p, name: P, at: 0s}}]
rollback:
  allowed_roles: [commander]
  steps:
    - {{name: stubborn, shell: "trap '' TERM; sleep 60 & sleep 60 & wait", timeout: 1s}}
"""


def bare(argv: list[str]) -> float:
    t = time.perf_counter()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as p:
        assert p.stdout is not None
        while p.stdout.read(1 << 16):
            pass
    return time.perf_counter() - t


def as_step(text: str, log_path: Path, grace: float = 5.0) -> tuple[float, bool]:
    launch = parse_launch(text, "bench")
    with DecisionLog(log_path, Actor("bench", "bench", name="bench")) as log:
        runner = RollbackRunner(launch, log, log.actor, kill_grace=grace)
        t = time.perf_counter()
        ok = asyncio.run(runner.run("bench"))
        return time.perf_counter() - t, ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    text = CONFIG.format(py=sys.executable, n=args.lines)
    argv = list(parse_launch(text, "bench").rollback.steps[0].run or [])
    with tempfile.TemporaryDirectory() as tmp:
        base, step = [], []
        for r in range(args.repeat):
            base.append(bare(argv))
            took, ok = as_step(text, Path(tmp) / f"run{r}.jsonl")
            assert ok
            step.append(took)
        log = Path(tmp) / "run0.jsonl"
        outs = [e for e in read_log(log).events if e.kind == "rollback" and e.data["phase"] == "step_output"]
        kept = sum(len(e.data["lines"]) for e in outs)
        b, s = statistics.median(base), statistics.median(step)
        print(f"step writing {args.lines:,} lines (median of {args.repeat}):")
        print(f"  bare subprocess:      {b * 1000:8.1f} ms")
        print(f"  as a rollback step:   {s * 1000:8.1f} ms   ratio {s / b:.2f}x")
        print(
            f"  log size after run:   {log.stat().st_size / 1024:8.1f} KB, {len(outs)} step_output events, "
            f"{kept} lines kept"
        )
        grace = 0.5
        took, ok = as_step(STUBBORN.format(), Path(tmp) / "stubborn.jsonl", grace=grace)
        print(
            f"timeout 1s + kill grace {grace}s on a group ignoring SIGTERM: step over after {took:.2f} s "
            f"(floor {1 + grace:.2f} s), ok={ok}"
        )


if __name__ == "__main__":
    main()
