"""Against a real Prometheus and Alertmanager scraping a test exporter: GO -> NO-GO -> ROLLBACK with
their holds, the alert reaching the feed, and every fault ending UNKNOWN with a reason, never GO."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from promstack import Canned, Silent, Stack, prom_stack
from waiting import TIMEOUT, until

from warroom.config import Launch, parse_launch
from warroom.core.events import Actor
from warroom.core.rules import Level, Unknown
from warroom.core.state import LaunchState, view
from warroom.recorder.loop import Recorder
from warroom.store.launchlog import bind
from warroom.store.log import DecisionLog, Follower

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]
DANA = Actor("dana", "bastion", name="Dana")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with prom_stack(tmp_path_factory.mktemp("promstack")) as st:
        yield st


def launch_text(sources: str, criteria: str) -> str:
    return (
        "version: 1\n"
        "launch: {id: prom-test, name: Prometheus test, t0: 2027-01-15T08:00:00Z}\n"
        "roles: [{id: commander, title: Commander, members: [dana], commander: true}]\n"
        "phases: [{id: go, name: Go, at: -1d}]\n"
        f"sources:\n{sources}criteria:\n{criteria}"
    )


class Live:
    """A recorder running on a log, and the fold of that log kept up to date, as a console would."""

    def __init__(self, launch: Launch, log: DecisionLog, epoch: float):
        self.launch, self.log = launch, log
        self.rec = Recorder(launch, log, epoch=epoch)
        self.follower = Follower(log.path)
        self.state = LaunchState(launch)
        self.task: asyncio.Task[None] | None = None

    def refresh(self) -> LaunchState:
        for ev in self.follower.poll():
            self.state.apply(ev)
        return self.state

    def level(self, cid: str) -> Level:
        return self.refresh().criteria[cid].level

    async def wait(self, what: str, pred: Callable[[LaunchState], bool], timeout: float = TIMEOUT) -> None:
        await until(
            what,
            lambda: pred(self.refresh()),
            timeout,
            detail=lambda: "; ".join(
                f"{cid}={cs.level.value} ({cs.tracker.reason})" for cid, cs in self.state.criteria.items()
            ),
        )

    def samples(self, cid: str) -> list[dict[str, object]]:
        from warroom.store.log import read_log

        return [e.data for e in read_log(self.log.path).events if e.kind == "sample" and e.data["criterion"] == cid]


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Callable[[str], Live]]:
    made: list[Live] = []

    def start(text: str) -> Live:
        launch = parse_launch(text, "prom-test.yaml")
        log = DecisionLog(tmp_path / f"launch{len(made)}.jsonl", DANA)
        launch, ev = bind(log, launch, text, "prom-test.yaml")
        assert ev is not None
        lv = Live(launch, log, ev.ts)
        lv.task = asyncio.create_task(lv.rec.run())
        made.append(lv)
        return lv

    yield start
    for lv in made:
        assert lv.task is not None
        lv.task.cancel()
        await asyncio.gather(lv.task, return_exceptions=True)
        lv.log.close()


async def test_go_nogo_rollback_with_holds_and_the_alert_in_the_feed(stack: Stack, live):
    stack.exporter.set("wr_latency_ms", 300)
    stack.wait_value("wr_latency_ms", lambda v: v == 300)
    lv = live(
        launch_text(
            f"  prom: {{type: prometheus, url: '{stack.prom_url}', interval: 0.5s, timeout: 2s}}\n"
            f"  am: {{type: alertmanager, url: '{stack.am_url}', interval: 0.5s, timeout: 2s}}\n",
            "  - {id: lat, name: API latency P95, source: prom, query: wr_latency_ms, unit: ms, go: '< 500ms',"
            " breach_hold: 2s, clear_samples: 2, trigger: {when: '> 1s', hold: 2s}}\n"
            "  - {id: crit, name: No critical alert, source: am, query: 'severity=\"critical\"', go: '== 0'}\n",
        )
    )
    await lv.wait("GO at 300 ms", lambda s: s.criteria["lat"].level == s.criteria["crit"].level == Level.GO)
    assert view(lv.state, time.time()).criteria[0].shown == "300 ms"

    stack.exporter.set("wr_latency_ms", 700)
    await lv.wait("NO-GO at 700 ms", lambda s: s.criteria["lat"].level == Level.NOGO)
    breach = [d for d in lv.samples("lat") if d["value"] == 700]
    t_first, t_confirm = breach[0]["t"], lv.state.criteria["lat"].tracker.since
    assert t_confirm is not None
    assert 2.0 <= t_confirm - t_first <= 3.5, "NO-GO must wait for the 2 s hold, and not much longer"

    stack.exporter.set("wr_latency_ms", 1500)
    await lv.wait("ROLLBACK at 1500 ms", lambda s: s.criteria["lat"].level == Level.ROLLBACK)
    trig = [d for d in lv.samples("lat") if d["value"] == 1500]
    t_first, t_confirm = trig[0]["t"], lv.state.criteria["lat"].tracker.since
    assert t_confirm is not None and 2.0 <= t_confirm - t_first <= 3.5
    v = view(lv.state, time.time())
    assert v.status == "ROLLBACK" and v.reasons[0].startswith("ROLLBACK trigger: API latency P95: 1.5 s meets")

    # the alerting rule (wr_latency_ms > 1000) fired into Alertmanager; the recorder put it in the log
    await lv.wait(
        "the alert in the feed",
        lambda s: any(a.firing and a.labels.get("alertname") == "WarroomHighLatency" for a in s.alerts.values()),
    )
    alert = next(a for a in lv.state.alerts.values() if a.labels.get("alertname") == "WarroomHighLatency")
    assert alert.severity == "critical" and alert.title == "WarroomHighLatency: P95 latency above 1s on api"
    await lv.wait("the alert criterion NO-GO", lambda s: s.criteria["crit"].level == Level.NOGO)

    stack.exporter.set("wr_latency_ms", 300)
    await lv.wait("cleared back to GO", lambda s: s.criteria["lat"].level == Level.GO)
    await lv.wait(
        "the alert resolved",
        lambda s: (
            not alert.firing
            or not any(a.firing and a.labels.get("alertname") == "WarroomHighLatency" for a in s.alerts.values())
        ),
    )
    good = [d for d in lv.samples("lat") if d["value"] == 300 and d["t"] > t_confirm]
    assert len(good) >= 2  # clear_samples: 2
    assert not lv.rec.lock.held or lv.rec.is_leader


@pytest.fixture
def misbehaving() -> Iterator[tuple[Silent, Canned, Canned]]:
    """A server that never answers, one that answers HTTP 500, one that answers garbage."""
    servers = (
        Silent(),
        Canned(500, b'{"status":"error","error":"boom"}'),
        Canned(200, b"]]] not json", content_type="text/plain"),
    )
    yield servers
    for s in servers:
        s.close()


async def test_every_fault_ends_unknown_with_a_reason_and_others_are_unaffected(stack: Stack, live, misbehaving):
    silent, err500, garbage = misbehaving
    src = "{type: prometheus, url: '%s', interval: 0.5s, timeout: 1s}\n"
    lv = live(
        launch_text(
            f"  prom: {src % stack.prom_url}"
            f"  hung: {src % silent.url}"
            f"  five: {src % err500.url}"
            f"  junk: {src % garbage.url}"
            f"  web: {{type: http, url: '{err500.url}', interval: 0.5s, timeout: 1s}}\n"
            f"  webjunk: {{type: http, url: '{garbage.url}', interval: 0.5s, timeout: 1s}}\n",
            "  - {id: ok, name: Crash-free, source: prom, query: wr_cfur, unit: '%', go: '>= 99.8%'}\n"
            "  - {id: nan, name: NaN, source: prom, query: wr_nan, go: '< 1'}\n"
            "  - {id: inf, name: Inf, source: prom, query: wr_inf, go: '< 1'}\n"
            "  - {id: empty, name: Empty, source: prom, query: wr_does_not_exist, go: '< 1'}\n"
            "  - {id: multi, name: Multi, source: prom, query: wr_multi, go: '< 1'}\n"
            "  - {id: syntax, name: Syntax, source: prom, query: 'sum(rate(wr_errors[1m]', go: '< 1'}\n"
            "  - {id: hung, name: Hung, source: hung, query: up, go: '== 1'}\n"
            "  - {id: five, name: HTTP 500, source: five, query: up, go: '== 1'}\n"
            "  - {id: junk, name: Garbage, source: junk, query: up, go: '== 1'}\n"
            "  - {id: web, name: Web 500, source: web, query: 'json:ok', go: '== 1'}\n"
            "  - {id: webjunk, name: Web garbage, source: webjunk, query: 'json:ok', go: '== 1'}\n",
        )
    )
    expected = {
        "nan": (Unknown.NO_DATA, "NaN"),
        "empty": (Unknown.NO_DATA, "empty vector"),
        "inf": (Unknown.SOURCE_ERROR, "+Inf"),
        "multi": (Unknown.SOURCE_ERROR, "2 series where one was expected"),
        "syntax": (Unknown.SOURCE_ERROR, 'rejected the query: invalid parameter "query": 1:23: parse error'),
        "hung": (Unknown.SOURCE_ERROR, "timeout"),
        "five": (Unknown.SOURCE_ERROR, "HTTP 500: boom"),
        "junk": (Unknown.SOURCE_ERROR, "not a query result"),
        "web": (Unknown.SOURCE_ERROR, "HTTP 500"),
        "webjunk": (Unknown.SOURCE_ERROR, "did not answer JSON"),
    }
    await lv.wait("a sample of every criterion", lambda s: all(cs.samples >= 2 for cs in s.criteria.values()))
    v = view(lv.state, time.time())
    by = {c.criterion.id: c for c in v.criteria}
    for cid, (kind, words) in expected.items():
        c = by[cid]
        assert c.level == Level.UNKNOWN and c.unknown == kind, (cid, c.level, c.reason)
        assert c.reason.startswith(kind.value + ": ") and words in c.reason, (cid, c.reason)
        assert any(r.startswith(f"UNKNOWN: {c.criterion.name}: {kind.value}") for r in v.reasons)
    assert by["ok"].level == Level.GO and by["ok"].shown == "99.95%"
    assert v.status != "GO"
    # the hung source kept its schedule and did not hold up the healthy one
    ok = lv.samples("ok")
    assert len(ok) >= len(lv.samples("hung"))


async def test_prometheus_stopped_mid_run(tmp_path: Path, live):
    with prom_stack(tmp_path / "own", alertmanager=False) as own:
        lv = live(
            launch_text(
                f"  prom: {{type: prometheus, url: '{own.prom_url}', interval: 0.5s, timeout: 1s}}\n"
                "  sim: {type: simulated, interval: 0.5s, signals: {cpu: {base: 40, noise: 2}}}\n",
                "  - {id: cfur, name: Crash-free, source: prom, query: wr_cfur, unit: '%', go: '>= 99.8%'}\n"
                "  - {id: cpu, name: Database CPU, source: sim, query: cpu, unit: '%', go: '< 80%'}\n",
            )
        )
        await lv.wait("GO while Prometheus runs", lambda s: s.criteria["cfur"].level == Level.GO)
        own.prometheus.stop()
        stopped = time.time()
        await lv.wait("UNKNOWN once it is gone", lambda s: s.criteria["cfur"].level == Level.UNKNOWN, timeout=10)
    v = view(lv.refresh(), time.time())
    cfur = v.criteria[0]
    assert cfur.unknown == Unknown.SOURCE_ERROR and "cannot connect to" in cfur.reason
    assert v.status != "GO"

    def since() -> list[dict[str, object]]:
        return [d for d in lv.samples("cpu") if float(d["t"]) > stopped]  # type: ignore[arg-type]

    # the other source carries on: a couple of its samples since, waited for rather than slept for
    await until("two cpu samples after Prometheus stopped", lambda: len(since()) >= 2, detail=since)
    cpu_after = since()
    assert len(cpu_after) >= 2 and view(lv.refresh(), time.time()).criteria[1].level == Level.GO
