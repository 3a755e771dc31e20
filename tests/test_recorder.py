"""The recorder: one leader per log, schedules that survive a takeover without duplicates,
slow sources that never delay others, back-off, and alerts appearing and resolving."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from promstack import Silent, free_port

from warroom.config import Launch, parse_launch
from warroom.core.events import Actor, Event
from warroom.recorder.loop import Recorder
from warroom.sources.simulated import Simulated
from warroom.store.launchlog import bind
from warroom.store.log import DecisionLog, read_log
from warroom.store.paths import Lock, lock_path

DANA = Actor("dana", "bastion", name="Dana")
pytestmark = pytest.mark.slow  # real time: polls every 0.5 s for a few seconds per test


def config(extra_sources: str = "", extra_criteria: str = "", interval: str = "0.5s") -> str:
    """A launch on a simulated source (interval 0.5 s, an alert firing at 1 s for 1.5 s), plus extras."""
    base = textwrap.dedent(f"""\
        version: 1
        launch: {{id: rec-test, name: Recorder test, t0: 2027-01-15T08:00:00Z}}
        roles: [{{id: commander, title: Commander, members: [dana], commander: true}}]
        phases: [{{id: go, name: Go, at: -1d}}]
        sources:
          sim:
            type: simulated
            seed: 3
            interval: {interval}
            signals: {{p95: {{base: 320, noise: 30}}, cfur: {{base: 99.9, noise: 0.05}}}}
            alerts:
              - {{at: 1s, for: 1.5s, labels: {{alertname: HighLatency, severity: critical}},
                  annotations: {{summary: latency}}}}
        %SOURCES%
        criteria:
          - {{id: p95, name: API latency P95, source: sim, query: p95, unit: ms, go: "< 500ms"}}
          - {{id: cfur, name: Crash-free, source: sim, query: cfur, unit: "%", go: ">= 99.8%"}}
        %CRITERIA%
        """)
    return base.replace("%SOURCES%", textwrap.indent(textwrap.dedent(extra_sources).strip(), "  ")).replace(
        "%CRITERIA%", textwrap.indent(textwrap.dedent(extra_criteria).strip(), "  ")
    )


def open_log(tmp: Path, text: str) -> tuple[Launch, DecisionLog, float]:
    launch = parse_launch(text, "rec-test.yaml")
    log = DecisionLog(tmp / "launch.jsonl", DANA)
    launch, ev = bind(log, launch, text, "rec-test.yaml")
    assert ev is not None
    return launch, log, ev.ts


async def run_for(*recorders: Recorder, seconds: float) -> None:
    tasks = [asyncio.create_task(r.run()) for r in recorders]
    await asyncio.sleep(seconds)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def samples(path: Path, cid: str | None = None) -> list[Event]:
    return [e for e in read_log(path).events if e.kind == "sample" and (cid is None or e.data["criterion"] == cid)]


def assert_no_duplicate_ticks(path: Path) -> None:
    counts = Counter((e.data["criterion"], e.data.get("tick")) for e in samples(path))
    dup = {k: n for k, n in counts.items() if n > 1}
    assert not dup, f"duplicated samples: {dup}"


async def test_one_leader_and_a_takeover_that_continues_the_schedule(tmp_path):
    launch, log, epoch = open_log(tmp_path, config())
    a = Recorder(launch, log, epoch=epoch)
    b = Recorder(launch, log, epoch=epoch)
    ta = asyncio.create_task(a.run())
    await asyncio.sleep(0.3)
    tb = asyncio.create_task(b.run())
    await asyncio.sleep(2.0)
    assert a.is_leader and not b.is_leader
    before = len(samples(log.path))
    assert before >= 6  # 2 criteria, every 0.5 s
    ta.cancel()
    await asyncio.gather(ta, return_exceptions=True)
    released = time.time()
    while not b.is_leader:
        await asyncio.sleep(0.05)
        assert time.time() - released < 3, "no takeover within 3 s"
    await asyncio.sleep(1.5)
    tb.cancel()
    await asyncio.gather(tb, return_exceptions=True)

    events = read_log(log.path).events
    rec = [(e.data["state"]) for e in events if e.kind == "recorder"]
    assert rec == ["acquired", "released", "acquired", "released"]
    assert len(samples(log.path)) > before
    assert_no_duplicate_ticks(log.path)
    ticks = [e.data["tick"] for e in samples(log.path, "p95")]
    assert ticks == sorted(ticks)
    assert max(b - a for a, b in itertools.pairwise(ticks)) <= 1 + 1.5 / 0.5  # no long gap


async def test_every_leader_records_the_same_scenario(tmp_path):
    launch, log, epoch = open_log(tmp_path, config())
    await run_for(Recorder(launch, log, epoch=epoch), seconds=1.2)
    await run_for(Recorder(launch, log, epoch=epoch), seconds=1.2)
    sim = Simulated("sim", launch.sources["sim"], epoch)  # type: ignore[arg-type]
    for e in samples(log.path, "p95"):
        expected = sim.value_at("p95", e.data["tick"] * 0.5, e.data["tick"])
        assert e.data["value"] == expected.value
        assert e.data["t"] == pytest.approx(epoch + e.data["tick"] * 0.5)


def test_a_killed_leader_is_replaced_without_duplicates(tmp_path):
    """A leader in another process is SIGKILLed mid-run; this process takes over within seconds."""
    text = config()
    cfg = tmp_path / "rec.yaml"
    cfg.write_text(text)
    launch, log, epoch = open_log(tmp_path, text)
    script = textwrap.dedent(f"""
        import asyncio
        from warroom.config import load_launch
        from warroom.core.events import Actor
        from warroom.store.log import DecisionLog
        from warroom.recorder.loop import Recorder
        log = DecisionLog({str(log.path)!r}, Actor("other", "bastion"))
        asyncio.run(Recorder(load_launch({str(cfg)!r}), log, epoch={epoch!r}).run())
    """)
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 15
        while len(samples(log.path)) < 6:
            assert time.time() < deadline and child.poll() is None, "the child never recorded"
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=5)
        killed = time.time()

        async def take_over() -> float:
            r = Recorder(launch, log, epoch=epoch)
            task = asyncio.create_task(r.run())
            while not r.is_leader:
                await asyncio.sleep(0.05)
            took = time.time() - killed
            await asyncio.sleep(1.2)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return took

        took = asyncio.run(take_over())
    finally:
        if child.poll() is None:
            child.kill()
    assert took < 3
    states = [e.data["state"] for e in read_log(log.path).events if e.kind == "recorder"]
    assert states == ["acquired", "acquired", "released"]  # the killed leader never said goodbye
    assert_no_duplicate_ticks(log.path)


async def test_a_hanging_source_never_delays_another(tmp_path):
    silent = Silent()
    try:
        text = config(
            f"""\
            hung: {{type: http, url: "{silent.url}", interval: 0.5s, timeout: 1.5s}}
            """,
            """\
            - {id: health, name: Health, source: hung, query: status, go: "== 200"}
            """,
        )
        launch, log, epoch = open_log(tmp_path, text)
        await run_for(Recorder(launch, log, epoch=epoch), seconds=3.2)
    finally:
        silent.close()
    sim = samples(log.path, "p95")
    assert len(sim) >= 6
    # each simulated sample was written within a moment of its slot, never held up by the hung source
    lags = [e.ts - e.data["t"] for e in sim]
    assert max(lags) < 0.4, lags
    health = samples(log.path, "health")
    assert health and all(e.data["error"] == "timeout" and e.data["value"] is None for e in health)
    assert "within 1.5s" in health[0].data["reason"]


async def test_a_failing_source_backs_off(tmp_path):
    text = config(
        f"""\
        down: {{type: http, url: "http://127.0.0.1:{free_port()}", interval: 0.2s, timeout: 0.5s}}
        """,
        """\
        - {id: health, name: Health, source: down, query: up, go: "== 1"}
        """,
    )
    launch, log, epoch = open_log(tmp_path, text)
    await run_for(Recorder(launch, log, epoch=epoch), seconds=4)
    health = samples(log.path, "health")
    assert all(e.data["error"] == "connection" for e in health)
    # without back-off: 20 polls in 4 s; with it (0.2, 0.4, 0.8, 1.6 s ...) about 5
    assert 3 <= len(health) <= 8, len(health)
    gaps = [b.data["t"] - a.data["t"] for a, b in itertools.pairwise(health)]
    assert gaps[-1] > gaps[0] * 2


async def test_alerts_are_recorded_when_they_appear_and_resolve(tmp_path):
    launch, log, epoch = open_log(tmp_path, config())
    await run_for(Recorder(launch, log, epoch=epoch), seconds=3.5)
    alerts = [e for e in read_log(log.path).events if e.kind == "alert"]
    assert [a.data["status"] for a in alerts] == ["firing", "resolved"]
    fired, resolved = alerts
    assert fired.data["labels"]["alertname"] == "HighLatency" and fired.data["source"] == "sim"
    assert fired.data["fingerprint"] == resolved.data["fingerprint"]
    assert 0.5 <= fired.data["t"] - epoch <= 2.0
    assert 2.0 <= resolved.data["t"] - epoch <= 3.5
    assert fired.actor.name == "recorder"


async def test_a_new_leader_does_not_refire_alerts_already_in_the_log(tmp_path):
    launch, log, epoch = open_log(tmp_path, config())
    await run_for(Recorder(launch, log, epoch=epoch), seconds=1.6)  # the alert fires at 1 s
    await run_for(Recorder(launch, log, epoch=epoch), seconds=2.0)  # and resolves at 2.5 s
    statuses = [e.data["status"] for e in read_log(log.path).events if e.kind == "alert"]
    assert statuses == ["firing", "resolved"]


async def test_lock_file_sits_beside_the_log(tmp_path):
    launch, log, epoch = open_log(tmp_path, config())
    r = Recorder(launch, log, epoch=epoch)
    assert await r.acquire()
    assert Path(lock_path(log.path, Lock.RECORDER)).exists() and r.lock.holder_pid() == os.getpid()
    other = Recorder(launch, log, epoch=epoch)
    assert not await other.acquire()
    await r.release()
    assert await other.acquire()
    await other.release()


def test_append_many_writes_one_batch_in_the_chain(tmp_path):
    """The recorder's batched append keeps the chain whole, beside another writer on the same file."""
    from warroom.store.log import verify

    path = tmp_path / "batch.jsonl"
    with DecisionLog(path, DANA) as a, DecisionLog(path, Actor("eve", "bastion")) as b:
        a.append("note", {"text": "one"})
        b.append("note", {"text": "two"})  # a's idea of the tail is now stale
        evs = a.append_many([("sample", {"criterion": "x", "value": 1.0}), ("sample", {"criterion": "y"})])
        b.append("note", {"text": "three"})
    assert [e.seq for e in evs] == [3, 4]
    events = read_log(path).events
    assert [e.kind for e in events] == ["note", "note", "sample", "sample", "note"]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5] and verify(path).ok
