"""A realistic recorded launch, written straight to a decision log, for tests and benches.

Why not drive the real console: a 1,000,000-event log must be written in
seconds, so lines are encoded with the log's own `encode` (same bytes, same
hash chain) without the per-append flock + fsync. The scenario follows the
demo launch: checklist ticked by the owners, four sign-offs, the commander's
GO, a latency breach after T-0 with an Alertmanager alert, an acknowledged
alert, a dry-run rollback, a NO-GO then GO re-sign-off, the final decision;
long logs carry on with samples, hourly checks, notes, alerts and blips.

The generator remembers, beside the log, what it wrote (every human event with
its actor and time, and the last value of each criterion at that moment), so
tests can check replay and report against values computed without the fold.

Usage: python3 tests/recorded.py OUT.jsonl [--events N] [--until 20m] [--hostile]
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from warroom.config import Launch, load_launch  # noqa: E402
from warroom.core.events import GENESIS, SYSTEM, Actor, Event, encode, iso, parse_iso  # noqa: E402
from warroom.core.state import LaunchState, actor_label, snapshot  # noqa: E402
from warroom.core.units import parse_duration  # noqa: E402
from warroom.store.launchlog import launch_event_data  # noqa: E402

DEMO = ROOT / "configs" / "demo.yaml"

ACTORS = {
    "commander": Actor("commander", "bastion", "10.0.0.2", "Alex (Commander)"),
    "cpo": Actor("cpo", "bastion", "10.0.0.3", "Priya (CPO)"),
    "cto": Actor("cto", "bastion", "10.0.0.7", "Dana (CTO)"),
    "devops": Actor("devops", "bastion", "10.0.0.9", "Sam (DevOps)"),
    "security": Actor("security", "bastion", "10.0.0.11", "Lee (Security)"),
}
HUMAN_KINDS = ("check", "uncheck", "signoff", "decision", "note", "ack", "trigger_mode", "rollback")
HOSTILE = "<script>alert('x')</script> | *bold* `tick` \x1b[31mred\x1b[0m [link](http://x)"


@dataclass
class Written:
    """One human event as written, with what the criteria read just before it."""

    seq: int
    ts: float
    actor: Actor
    kind: str
    data: dict[str, Any]
    values: dict[str, float | None]

    @property
    def who(self) -> str:
        return actor_label(self.actor)


@dataclass
class Recorded:
    path: Path
    launch: Launch
    start: float
    end: float
    events: int
    human: list[Written] = field(default_factory=list)
    samples: int = 0

    @property
    def t0(self) -> float:
        return self.launch.t0

    def of_kind(self, kind: str) -> list[Written]:
        return [w for w in self.human if w.kind == kind]


class _Writer:
    """Encodes events exactly as DecisionLog.append would, minus the lock and fsync."""

    def __init__(self, path: Path, launch: Launch, fold_until: float):
        self.f = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.seq = 0
        self.prev = GENESIS
        self.state: LaunchState | None = LaunchState(launch)
        self.fold_until = fold_until
        self.last_ts = 0.0

    def add(self, ts: float, actor: Actor, kind: str, data: dict[str, Any]) -> Event:
        ts = parse_iso(iso(max(ts, self.last_ts)))  # as append: never backwards, milliseconds kept
        self.seq += 1
        line, digest = encode(self.seq, ts, actor, kind, data, self.prev)
        self.f.write(line)
        ev = Event(1, self.seq, ts, actor, kind, data, self.prev, digest)
        self.prev, self.last_ts = digest, ts
        if self.state is not None:
            if ts > self.fold_until:
                self.state = None
            else:
                self.state.apply(ev)
        return ev

    def close(self) -> None:
        self.f.close()


def _signal(rng: random.Random, cid: str, off: float, blips: list[tuple[float, float]]) -> float:
    """The simulated reading of a criterion `off` seconds after T-0."""
    in_blip = any(a <= off < b for a, b in blips)
    if cid == "cfur":
        return round(min(100.0, 99.92 + rng.gauss(0, 0.02)), 4)
    if cid == "api-p95":
        return round(720 + rng.gauss(0, 15) if in_blip else 320 + rng.gauss(0, 25), 1)
    if cid == "error-rate":
        return round(max(0.0, 0.04 + rng.gauss(0, 0.01)), 4)
    if cid == "db-cpu":
        return round(55 + rng.gauss(0, 4), 2)
    if cid == "backup-age":
        return float(60 + int(off) % 3000)
    return 0.0


def record_launch(
    path: str | Path,
    *,
    events: int | None = None,
    until: str | float = "20m",
    tick: float = 5.0,
    seed: int = 7,
    hostile: bool = False,
    config: Path = DEMO,
) -> Recorded:
    """Write a recorded launch to `path`: up to `events` events, or until `until` after T-0."""
    path = Path(path)
    launch = load_launch(config)
    text = config.read_text()
    t0 = launch.t0
    stop_at = t0 + (parse_duration(until) if isinstance(until, str) else float(until))
    limit = events if events is not None else 1 << 62
    if events is not None:
        stop_at = float("inf")
    rng = random.Random(seed)
    start = t0 - 40 * 60
    w = _Writer(path, launch, fold_until=t0 + 16 * 60)
    rec = Recorded(path, launch, start, start, 0)
    last: dict[str, float | None] = {c.id: None for c in launch.criteria}
    cids = [c.id for c in launch.criteria]
    blips = [(6 * 60.0, 9 * 60.0)]

    def human(at: float, who: str, kind: str, data: dict[str, Any]) -> None:
        ev = w.add(t0 + at, ACTORS[who], kind, data)
        rec.human.append(Written(ev.seq, ev.ts, ev.actor, kind, data, dict(last)))

    def signoff(at: float, who: str, role: str, verdict: str, reason: str) -> None:
        assert w.state is not None
        snap = snapshot(w.state, t0 + at)
        human(at, who, "signoff", {"role": role, "verdict": verdict, "reason": reason, "snapshot": snap})

    def system(at: float, actor: Actor, kind: str, data: dict[str, Any]) -> None:
        w.add(t0 + at, actor, kind, data)

    am = {"source": "alertmanager"}
    latency_labels = {"alertname": "HighLatency", "severity": "critical", "service": "api"}
    if hostile:
        latency_labels["service"] = HOSTILE
    scripted: list[tuple[float, Any]] = [
        (
            -40 * 60 + 0.5,
            lambda: system(
                -40 * 60 + 0.5, ACTORS["commander"], "session", {"state": "opened", "mode": "live", "pid": 1001}
            ),
        ),
        (
            -40 * 60 + 0.6,
            lambda: system(-40 * 60 + 0.6, ACTORS["commander"], "recorder", {"state": "acquired", "pid": 1001}),
        ),
        (  # the recorder's first read of the alert feed (health is recorded on change only)
            -40 * 60 + 0.7,
            lambda: system(
                -40 * 60 + 0.7,
                ACTORS["commander"],
                "source",
                {"source": "sim", "feed": "alerts", "ok": True, "t": t0 - 40 * 60 + 0.7},
            ),
        ),
        (
            -38 * 60,
            lambda: system(-38 * 60, ACTORS["devops"], "session", {"state": "opened", "mode": "live", "pid": 1002}),
        ),
        (
            -37 * 60,
            lambda: system(-37 * 60, ACTORS["cto"], "session", {"state": "opened", "mode": "live", "pid": 1003}),
        ),
        (
            -36 * 60,
            lambda: system(-36 * 60, ACTORS["security"], "session", {"state": "opened", "mode": "live", "pid": 1004}),
        ),
        (
            -35 * 60 - 30,
            lambda: system(
                -35 * 60 - 30, ACTORS["cpo"], "session", {"state": "opened", "mode": "observer", "pid": 1005}
            ),
        ),
        (-35 * 60, lambda: human(-35 * 60, "security", "check", {"item": "secrets"})),
        (-34 * 60 - 30, lambda: human(-34 * 60 - 30, "security", "check", {"item": "rate-limits"})),
        (-34 * 60, lambda: human(-34 * 60, "devops", "check", {"item": "dr-test"})),
        (-33 * 60, lambda: human(-33 * 60, "cto", "check", {"item": "code-review"})),
        (-32 * 60, lambda: human(-32 * 60, "cto", "check", {"item": "tests-green"})),
        (-31 * 60 - 30, lambda: human(-31 * 60 - 30, "cto", "uncheck", {"item": "tests-green"})),
        (
            -31 * 60 - 20,
            lambda: human(
                -31 * 60 - 20, "cto", "note", {"text": HOSTILE if hostile else "tests-green reopened: flaky e2e rerun"}
            ),
        ),
        (-31 * 60, lambda: human(-31 * 60, "devops", "check", {"item": "rollback-ready"})),
        (-30 * 60, lambda: human(-30 * 60, "commander", "check", {"item": "team-assembled"})),
        (-29 * 60, lambda: human(-29 * 60, "devops", "check", {"item": "dashboards"})),
        (-28 * 60, lambda: human(-28 * 60, "cto", "check", {"item": "tests-green"})),
        (-25 * 60, lambda: human(-25 * 60, "commander", "note", {"text": "All hands in the war room"})),
        (-15 * 60, lambda: signoff(-15 * 60, "security", "security-lead", "GO", "")),
        (-14 * 60, lambda: signoff(-14 * 60, "cpo", "cpo", "GO", "product ready")),
        (-13 * 60, lambda: signoff(-13 * 60, "cto", "cto", "GO", "")),
        (-12 * 60, lambda: signoff(-12 * 60, "devops", "devops-lead", "GO", "rollback rehearsed")),
        (-5 * 60, lambda: human(-5 * 60, "commander", "decision", {"verdict": "GO", "reason": "all green"})),
        (30, lambda: human(30, "devops", "check", {"item": "deploy"})),
        (2 * 60, lambda: human(2 * 60, "commander", "trigger_mode", {"criterion": "cfur", "mode": "auto"})),
        (
            4 * 60,
            lambda: system(
                4 * 60,
                SYSTEM,
                "alert",
                {
                    "fingerprint": "a1b2c3",
                    "status": "firing",
                    "labels": latency_labels,
                    "annotations": {"summary": "P95 latency above 500ms"},
                    "starts_at": t0 + 4 * 60 - 20,
                    "t": t0 + 4 * 60,
                    **am,
                },
            ),
        ),
        (4 * 60 + 30, lambda: human(4 * 60 + 30, "devops", "ack", {"alert": "am:a1b2c3"})),
        (
            7 * 60,
            lambda: human(
                7 * 60,
                "devops",
                "rollback",
                {"phase": "requested", "dry_run": True, "reason": "P95 over 500ms since T+6m"},
            ),
        ),
        (
            7 * 60 + 1,
            lambda: human(
                7 * 60 + 1,
                "devops",
                "rollback",
                {
                    "phase": "started",
                    "dry_run": True,
                    "automatic": False,
                    "reason": "P95 over 500ms since T+6m",
                    "steps": [s.name for s in launch.rollback.steps],
                },
            ),
        ),
        (7 * 60 + 2, lambda: human(7 * 60 + 2, "devops", "rollback", {"phase": "step_started", "index": 0})),
        (
            7 * 60 + 3,
            lambda: human(
                7 * 60 + 3,
                "devops",
                "rollback",
                {
                    "phase": "step_output",
                    "index": 0,
                    "lines": ["kubectl rollout undo deployment/demo-backend", HOSTILE if hostile else "done"],
                },
            ),
        ),
        (
            7 * 60 + 4,
            lambda: human(
                7 * 60 + 4, "devops", "rollback", {"phase": "step_finished", "index": 0, "exit_code": 0, "status": "ok"}
            ),
        ),
        (
            7 * 60 + 5,
            lambda: human(
                7 * 60 + 5, "devops", "rollback", {"phase": "finished", "ok": True, "reason": "dry run complete"}
            ),
        ),
        (7 * 60 + 30, lambda: signoff(7 * 60 + 30, "cto", "cto", "NO-GO", "P95 latency breach")),
        (
            7 * 60 + 40,
            lambda: system(
                7 * 60 + 40,
                SYSTEM,
                "alert",
                {
                    "fingerprint": "a1b2c3",
                    "status": "resolved",
                    "labels": latency_labels,
                    "annotations": {},
                    "t": t0 + 7 * 60 + 40,
                    **am,
                },
            ),
        ),
        (10 * 60, lambda: human(10 * 60, "commander", "note", {"text": "Latency back under 400ms; continuing"})),
        (11 * 60, lambda: signoff(11 * 60, "cto", "cto", "GO", "latency recovered")),
        (
            15 * 60,
            lambda: human(15 * 60, "commander", "decision", {"verdict": "GO", "reason": "launch complete, watching"}),
        ),
    ]
    pending = [(at, i, fn) for i, (at, fn) in enumerate(scripted)]
    heapq.heapify(pending)
    lead = start + 0.2
    w.add(start, ACTORS["commander"], "launch", launch_event_data(launch, text, str(config)))
    tick_n = 0
    next_tail = t0 + 16 * 60
    while w.seq < limit:
        now = lead + tick_n * tick
        if now > stop_at:
            break
        while pending and t0 + pending[0][0] <= now:
            heapq.heappop(pending)[2]()
        off = now - t0
        for i, cid in enumerate(cids):
            if w.seq >= limit:
                break
            if cid == "db-cpu" and rng.random() < 0.002:
                data: dict[str, Any] = {
                    "criterion": cid,
                    "value": None,
                    "error": "timeout",
                    "reason": "no answer in 1s",
                    "t": now + i * 0.001,
                    "tick": tick_n,
                }
                last[cid] = None
            else:
                v = _signal(rng, cid, off, blips)
                data = {"criterion": cid, "value": v, "t": now + i * 0.001, "tick": tick_n}
                last[cid] = v
            w.add(now + i * 0.001, SYSTEM, "sample", data)
            rec.samples += 1
        tick_n += 1
        if now >= next_tail and w.seq < limit - 10:
            next_tail = _tail_events(w, rec, rng, now, t0, last, blips, pending, next_tail)
    w.close()
    rec.events = w.seq
    rec.end = w.last_ts
    return rec


def _tail_events(
    w: _Writer,
    rec: Recorded,
    rng: random.Random,
    now: float,
    t0: float,
    last: dict[str, float | None],
    blips: list[tuple[float, float]],
    pending: list[tuple[float, int, Any]],
    due: float,
) -> float:
    """The long watch after the final decision: hourly checks, notes, alerts, blips. Returns the next due time."""
    hour = int((now - t0) // 3600)

    def human(who: str, kind: str, data: dict[str, Any], dt: float) -> None:
        ev = w.add(now + dt, ACTORS[who], kind, data)
        rec.human.append(Written(ev.seq, ev.ts, ev.actor, kind, data, dict(last)))

    item = "hourly-cfur" if hour % 2 == 0 else "hourly-latency"
    if any(x.kind == "check" and x.data.get("item") == item for x in rec.human[-6:]):
        human("cto", "uncheck", {"item": item}, 0.01)
    human("cto", "check", {"item": item}, 0.02)
    if hour % 3 == 0:
        human("commander", "note", {"text": f"Hour {hour}: all quiet"}, 0.03)
    if hour % 2 == 1:
        fp = f"f{hour:05d}"
        started = now + 0.04
        w.add(
            started,
            SYSTEM,
            "alert",
            {
                "fingerprint": fp,
                "status": "firing",
                "source": "alertmanager",
                "labels": {"alertname": "DiskFilling", "severity": "warning", "instance": f"db-{hour % 3}"},
                "annotations": {"summary": "disk 85% full"},
                "starts_at": started,
                "t": started,
            },
        )
        human("devops", "ack", {"alert": f"am:{fp}"}, 0.05)
        end = started + rng.uniform(300, 1800)
        heapq.heappush(
            pending,
            (
                end - t0,
                w.seq,
                lambda: w.add(
                    end,
                    SYSTEM,
                    "alert",
                    {
                        "fingerprint": fp,
                        "status": "resolved",
                        "source": "alertmanager",
                        "labels": {"alertname": "DiskFilling"},
                        "annotations": {},
                        "t": end,
                    },
                ),
            ),
        )
    if hour % 6 == 5:
        b = now - t0 + 600
        blips.append((b, b + 180))
    return due + 3600


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="write a realistic recorded launch log")
    p.add_argument("out")
    p.add_argument("--events", type=int, help="stop after this many events")
    p.add_argument("--until", default="20m", help="stop this long after T-0 (default 20m)")
    p.add_argument("--hostile", action="store_true", help="put markup and escape sequences in labels and notes")
    a = p.parse_args(argv)
    rec = record_launch(a.out, events=a.events, until=a.until, hostile=a.hostile)
    print(f"{rec.path}: {rec.events} events, {rec.samples} samples, {len(rec.human)} human events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
