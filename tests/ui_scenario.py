"""A deterministic launch for console tests: the demo config, a scripted log and a frozen clock.

The story at NOW (T+00:07:30): latency breached at T+6m and is NO-GO, the CTO's
GO sign-off from before is therefore stale, an Alertmanager alert with hostile
text (markup and an escape sequence) is firing, half the checklist is done.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import waiting

from warroom.config import Launch, load_launch
from warroom.core.describe import describe
from warroom.core.events import SYSTEM, Actor
from warroom.core.state import LaunchState, fold, snapshot
from warroom.store.launchlog import bind, with_t0
from warroom.store.log import DecisionLog, read_log

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "configs" / "demo.yaml"
T0 = 1767268800.0  # 2026-01-01T12:00:00Z
NOW = T0 + 450.0  # T+00:07:30
DANA = Actor("dana", "bastion", ssh="10.0.0.7", name="Dana (CTO)")  # roles: none by name -> see members below
ROOT_ACTOR = Actor("root", "bastion")  # member of commander, cto and devops-lead in demo.yaml
SECURITY = Actor("security", "laptop", name="security")  # the account in demo.yaml's security-lead
DEVOPS = Actor("devops", "laptop", name="devops")  # devops-lead: may tick its items and roll back
HOSTILE = "P95 [bold]latency[/bold] above 500ms \x1b]0;pwned\x07\x1b[31m on [api]"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def demo_launch() -> Launch:
    return with_t0(load_launch(DEMO), T0)


def _p95(t: float) -> float:
    off = t - T0
    if 360 <= off < 540:
        return 720.0 + (off % 20)
    return 320.0 + (off % 30)


def write_scenario(path: Path, launch: Launch, until: float = NOW) -> None:
    """Append the scripted events (as the recorder and three people would have) to a fresh log."""
    clock = Clock(T0 - 600)
    with DecisionLog(path, ROOT_ACTOR, clock) as log:
        bind(log, launch, DEMO.read_text(), str(DEMO))

        def at(t: float, kind: str, data: dict, actor: Actor = ROOT_ACTOR) -> None:
            clock.t = t
            log.append(kind, data, actor=actor)

        for item, who, t in (
            ("secrets", SECURITY, T0 - 580),
            ("rate-limits", SECURITY, T0 - 570),
            ("dr-test", ROOT_ACTOR, T0 - 560),
            ("code-review", ROOT_ACTOR, T0 - 550),
            ("tests-green", ROOT_ACTOR, T0 - 540),
            ("team-assembled", ROOT_ACTOR, T0 - 300),
        ):
            at(t, "check", {"item": item}, who)
        # the recorder's first read of the alert feed: health is recorded when it changes, this once
        at(T0 - 181, "source", {"source": "sim", "feed": "alerts", "ok": True, "t": T0 - 181}, SYSTEM)
        state: LaunchState | None = None
        t = T0 - 180.0
        signed = False
        while t <= until:
            values = {
                "cfur": 99.92 + ((t - T0) % 7) / 1000,
                "api-p95": _p95(t),
                "error-rate": 0.04,
                "db-cpu": 55 + ((t - T0) % 50) / 10,
                "backup-age": 1200.0,
            }
            for cid, value in values.items():
                at(t, "sample", {"criterion": cid, "value": value, "t": t}, SYSTEM)
            if not signed and t >= T0 - 60:
                state = fold(launch, _events(path))
                at(
                    t + 1,
                    "signoff",
                    {
                        "role": "cto",
                        "verdict": "GO",
                        "reason": "all green [for now]",
                        "snapshot": snapshot(state, t + 1),
                    },
                )
                at(
                    t + 2,
                    "signoff",
                    {"role": "devops-lead", "verdict": "GO", "reason": "", "snapshot": snapshot(state, t + 2)},
                )
                signed = True
            if T0 + 240 <= t < T0 + 245:
                at(
                    t + 1,
                    "alert",
                    {
                        "fingerprint": "f00d",
                        "status": "firing",
                        "labels": {"alertname": "HighLatency", "severity": "critical", "service": "[api]"},
                        "annotations": {"summary": HOSTILE},
                        "starts_at": t,
                        "t": t,
                        "source": "alertmanager",
                    },
                    SYSTEM,
                )
            if T0 + 60 <= t < T0 + 65:
                at(t + 1, "check", {"item": "deploy"})
                at(t + 2, "note", {"text": "Deploy started; watching p95 [closely]"})
            t += 5.0


DECISIONS = ("check", "uncheck", "signoff", "decision", "note", "ack", "trigger_mode", "rollback")


class FoldReplay:
    """A minimal ReplaySource: folds the prefix of a recorded log up to the asked time."""

    def __init__(self, path: Path):
        self.launch = demo_launch()
        self.events = read_log(path).events
        self.start, self.end = self.events[0].ts, self.events[-1].ts
        self.integrity = f"OK: {len(self.events)} events, chain intact"
        self.calls = 0

    def state_at(self, t: float) -> LaunchState:
        self.calls += 1
        return fold(self.launch, [e for e in self.events if e.ts <= t])

    def marks(self) -> list[tuple[float, str]]:
        return [(e.ts, describe(e)) for e in self.events if e.kind in DECISIONS]


def _events(path: Path):
    return read_log(path).events


def screen_text(app) -> str:  # type: ignore[no-untyped-def]
    """What a person would read on the console's current screen, one line per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


RECON = ROOT / "configs" / "reconciliation-platform.yaml"
CLAIMED_DANA = Actor("ci", "bastion", name="dana")  # plays the DevOps Lead by --as name (identity: claimed)
DOCKER_STEPS = ("Stop the current containers", "Check out the previous stable version", "Start the previous version")


def recon_claimed_config(path: Path) -> str:
    """The reconciliation config with `identity: claimed` and dana among the DevOps Leads: a rollback by a
    claimed name, as `--as dana` records it. Written to `path`; returns its text."""
    text = RECON.read_text().replace("version: 1\n", "version: 1\nidentity: claimed\n", 1)
    text = text.replace("members: [devops]", "members: [devops, dana]", 1)
    path.write_text(text)
    return text


def write_recon_rollback(path: Path, config: Path) -> Launch:
    """A log of the reconciliation launch in which dana (a claimed name) rolled back by the Docker procedure
    at T-00:35:00: every step ran, the verify passed. Returns the launch (T-0 at T0)."""
    text = recon_claimed_config(config)
    launch = with_t0(load_launch(config), T0)
    clock = Clock(T0 - 2400)
    with DecisionLog(path, ROOT_ACTOR, clock) as log:
        bind(log, launch, text, str(config))

        def rb(t: float, data: dict) -> None:
            clock.t = t
            log.append("rollback", data, actor=CLAIMED_DANA)

        t = T0 - 2100
        values = {"PREVIOUS_STABLE_VERSION": "v2.3.1"}
        rb(t, {"phase": "requested", "procedure": "docker", "values": values, "reason": "error rate after deploy"})
        rb(t, {"phase": "started", "procedure": "docker", "values": values, "steps": list(DOCKER_STEPS)})
        for i, name in enumerate(DOCKER_STEPS):
            rb(t + 10 * i, {"phase": "step_started", "index": i, "name": name})
            rb(t + 10 * i + 4, {"phase": "step_output", "index": i, "lines": [f"step {i + 1} done"]})
            rb(t + 10 * i + 8, {"phase": "step_finished", "index": i, "exit_code": 0, "duration": 8.0})
        rb(t + 40, {"phase": "verify", "status": "passed", "detail": "error-rate GO"})
        rb(t + 41, {"phase": "finished", "ok": True})
    return launch


def panel_text(app, pid: str) -> str:  # type: ignore[no-untyped-def]
    """What a person reads in one panel of the main screen, its lines joined and spaces collapsed: a long cell
    wraps onto more lines (where it breaks depends on the width, which a test must not assume)."""
    r = app.console_screen.panel(pid).region
    lines = screen_text(app).splitlines()[r.y : r.y + r.height]
    return " ".join(" ".join(line[r.x : r.x + r.width].strip("│╭╮╰╯─ ").split()) for line in lines).strip()


def column_text(app, pid: str, title: str, next_title: str) -> str:  # type: ignore[no-untyped-def]
    """The text under one column heading of a panel's table, its lines joined (a long cell wraps down)."""
    r = app.console_screen.panel(pid).region
    lines = [ln[r.x : r.x + r.width] for ln in screen_text(app).splitlines()[r.y : r.y + r.height]]
    head = next(i for i, ln in enumerate(lines) if f" {title} " in ln and next_title in ln)
    start, end = lines[head].index(f" {title} ") + 1, lines[head].index(next_title)
    return " ".join(" ".join(ln[start:end].split()) for ln in lines[head + 1 :]).strip()


async def until(pilot, check: Callable[[], object], what: str, timeout: float = waiting.TIMEOUT) -> None:  # type: ignore[no-untyped-def]
    """Let the console run until `check()` holds (tests/waiting.py). The timeout only bounds a broken run: how
    fast the machine is must not decide a test, so nothing waits a fixed time for something to happen."""
    await waiting.until(what, check, timeout, pause=pilot.pause, every=0.05)


async def caught_up(app, pilot, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Wait until the console has read (and drawn) every event now in the log at `path`."""
    last = read_log(path).events[-1].seq
    await until(pilot, lambda: app.state.seq >= last, f"the console to read the log up to event {last}")
    await pilot.pause()
