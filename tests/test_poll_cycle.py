"""One poll of a group of criteria: every read started at once, each cut off at the source's timeout.

The recorder starts a poll's reads together (`Source.start_reads`: Prometheus gathers them into one
batch with no task per query) and waits for them under one deadline. These tests hold it to what the
per-read `wait_for` it replaced guaranteed: a read that outlives its timeout becomes a TIMEOUT reading of
its own criterion and is cancelled, a read that raises (a bug in a source) becomes a bad-response reading
of its own criterion, and neither costs any other criterion its value.

The misbehaving source is a real simulated source with two of its reads broken: a source that ignores
its own timeout, or raises, is a bug that no real server can produce.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

from warroom.config import Launch, SimulatedSource, parse_launch
from warroom.core.events import Actor
from warroom.recorder.loop import Group, Recorder
from warroom.sources import Query, Reading
from warroom.sources.simulated import Simulated
from warroom.store.log import DecisionLog, read_log

CONFIG = textwrap.dedent("""\
    version: 1
    launch: {id: poll-test, name: Poll test, t0: 2027-01-15T08:00:00Z}
    roles: [{id: commander, title: Commander, members: [dana], commander: true}]
    phases: [{id: go, name: Go, at: -1d}]
    sources:
      sim:
        type: simulated
        interval: 1s
        timeout: 0.3s
        signals: {p95: {base: 320}, cfur: {base: 99.9}, hang: {base: 1}, boom: {base: 1}}
    criteria:
      - {id: p95, name: API latency P95, source: sim, query: p95, unit: ms, go: "< 500ms"}
      - {id: hang, name: Hangs, source: sim, query: hang, go: "== 1"}
      - {id: boom, name: Raises, source: sim, query: boom, go: "== 1"}
      - {id: cfur, name: Crash-free, source: sim, query: cfur, unit: "%", go: ">= 99.8%"}
    """)


class Broken(Simulated):
    """The simulated source, except that `hang` never answers (ignoring its timeout) and `boom` raises."""

    def __init__(self, name: str, cfg: SimulatedSource, epoch: float) -> None:
        super().__init__(name, cfg, epoch)
        self.cancelled: list[str] = []

    async def read(self, query: Query, at: float) -> Reading:
        if query.text == "hang":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(query.criterion)
                raise
        if query.text == "boom":
            raise RuntimeError("boom")
        return await super().read(query, at)


def launch_and_log(tmp: Path) -> tuple[Launch, DecisionLog]:
    return parse_launch(CONFIG, "poll-test.yaml"), DecisionLog(tmp / "poll.jsonl", Actor("dana", "bastion"))


def recorded(log: DecisionLog) -> dict[str, dict[str, object]]:
    return {e.data["criterion"]: e.data for e in read_log(log.path).events if e.kind == "sample"}


async def test_a_read_past_its_timeout_or_raising_costs_only_its_own_criterion(tmp_path: Path) -> None:
    launch, log = launch_and_log(tmp_path)
    epoch = time.time()
    rec = Recorder(launch, log, epoch=epoch)
    assert await rec.acquire()
    cfg = launch.sources["sim"]
    assert isinstance(cfg, SimulatedSource)
    src = Broken("sim", cfg, epoch)
    try:
        await rec.poll_group(Group(src, 1.0, list(launch.criteria)), 1, time.time())
        await asyncio.sleep(0)  # the cancelled read's turn to see it
    finally:
        await rec.release()
        log.close()
    got = recorded(log)
    assert got["p95"]["value"] == 320 and got["cfur"]["value"] == 99.9
    assert got["hang"]["value"] is None and got["hang"]["error"] == "timeout"
    assert got["hang"]["reason"] == "no answer from source 'sim' within 0.3s"
    assert got["boom"]["value"] is None and got["boom"]["error"] == "bad-response"
    assert got["boom"]["reason"] == "source 'sim' failed: RuntimeError: boom"
    assert src.cancelled == ["hang"]  # the read cut off is stopped, not left running
    assert all(d["tick"] == 1 for d in got.values())


async def test_a_source_that_cannot_start_its_reads_gives_every_criterion_the_reason(tmp_path: Path) -> None:
    launch, log = launch_and_log(tmp_path)
    epoch = time.time()
    rec = Recorder(launch, log, epoch=epoch)
    assert await rec.acquire()
    cfg = launch.sources["sim"]
    assert isinstance(cfg, SimulatedSource)

    class NoStart(Simulated):
        def start_reads(self, queries: object, at: float) -> list[asyncio.Future[Reading]]:
            raise ValueError("no pool")

    try:
        await rec.poll_group(Group(NoStart("sim", cfg, epoch), 1.0, list(launch.criteria)), 1, time.time())
    finally:
        await rec.release()
        log.close()
    got = recorded(log)
    assert set(got) == {"p95", "hang", "boom", "cfur"}
    assert all(
        d["error"] == "bad-response" and d["reason"] == "source 'sim' failed: ValueError: no pool" for d in got.values()
    )
