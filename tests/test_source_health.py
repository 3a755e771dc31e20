"""A source that cannot be read is said, everywhere, and an unread alert feed is never GO.

Against a real Alertmanager: behind a proxy that wants a bearer token (given the wrong one), and stopped
mid-run. `check --json`, `check`'s table and the live console name the failing source and its reason, and
the verdict is not GO because of it; the fold and view are checked on hand-written events first.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import runcli
from promstack import AuthProxy, Proc, Stack, prom_stack, start_alertmanager
from ui_scenario import screen_text
from waiting import until

from warroom.config import parse_launch
from warroom.core.events import SYSTEM, Actor
from warroom.core.state import LaunchState, fold, view
from warroom.store.log import read_log
from warroom.ui.app import WarroomApp

ROOT = Path(__file__).resolve().parent.parent
DANA = Actor("dana", "bastion", name="Dana")
TOKEN = "s3cret-token"


def config(prom_url: str, am_url: str, *, auth: bool = True) -> str:
    creds = ", auth: {bearer_env: WR_AM_TOKEN}" if auth else ""
    return (
        "version: 1\n"
        "launch: {id: health, name: Source health, t0: 2027-01-15T08:00:00Z}\n"
        "roles: [{id: commander, title: Commander, members: [dana, root], commander: true}]\n"
        "phases: [{id: go, name: Go, at: -1d}]\n"
        "sources:\n"
        f"  prom: {{type: prometheus, url: '{prom_url}', interval: 1s, timeout: 2s}}\n"
        f"  am: {{type: alertmanager, url: '{am_url}', interval: 1s, timeout: 2s{creds}}}\n"
        "criteria:\n"
        "  - {id: err, name: Error rate, source: prom, query: wr_errors, unit: '%', go: '< 1%'}\n"
    )


def write(tmp: Path, text: str) -> Path:
    p = tmp / "health.yaml"
    p.write_text(text)
    return p


def check(cfg: Path, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return runcli.warroom("check", cfg, *args, cwd=ROOT, env=runcli.checkout_env(WR_AM_TOKEN=token))


def am_of(doc: dict) -> dict:
    return next(s for s in doc["sources"] if s["name"] == "am")


# ----------------------------------------------------------------------------- the fold, on its own


def test_fold_keeps_health_and_an_unread_or_failing_alert_feed_is_not_go():
    launch = parse_launch(config("http://127.0.0.1:1", "http://127.0.0.1:2"))
    t0 = launch.t0
    st = LaunchState(launch)
    sample = {"criterion": "err", "value": 0.1, "t": t0 + 10, "tick": 1}
    fold(launch, [_ev(1, t0 + 10, "sample", sample)], st)
    v = view(st, t0 + 11)
    assert v.status == "PENDING"
    assert "alerts unknown: source am not read yet" in v.reasons

    fold(launch, [_ev(2, t0 + 11, "source", {"source": "am", "feed": "alerts", "ok": True, "t": t0 + 11})], st)
    assert view(st, t0 + 12).status == "GO"

    fail = {"source": "am", "feed": "alerts", "ok": False, "error": "http", "reason": "HTTP 401 from am", "t": t0 + 12}
    fold(launch, [_ev(3, t0 + 12, "source", fail)], st)
    v = view(st, t0 + 20)
    am = next(s for s in v.sources if s.name == "am")
    assert am.failing and am.since == t0 + 12 and am.text(t0) == "am: FAILING since T+00:00:12 — HTTP 401 from am"
    assert v.status == "PENDING" and v.criteria_status == "PENDING"
    assert "alerts unknown: source am: FAILING since T+00:00:12 — HTTP 401 from am" in v.reasons
    assert any("am (alerts): FAILING" in e.text for e in st.timeline)

    again = {"source": "am", "feed": "alerts", "ok": True, "t": t0 + 30}
    fresh = {"criterion": "err", "value": 0.1, "t": t0 + 30, "tick": 2}
    fold(launch, [_ev(4, t0 + 30, "source", again), _ev(5, t0 + 30, "sample", fresh)], st)
    assert view(st, t0 + 31).status == "GO"


def _ev(seq: int, ts: float, kind: str, data: dict):
    from warroom.core.events import Event

    return Event(1, seq, ts, SYSTEM, kind, data)


# ----------------------------------------------------------------------------- real Alertmanager


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with prom_stack(tmp_path_factory.mktemp("healthstack"), alertmanager=False) as st:
        st.exporter.set("wr_errors", 0.02)
        st.wait_value("wr_errors", lambda v: v == 0.02)
        yield st


@pytest.fixture
def am(tmp_path: Path) -> Iterator[Proc]:
    p = start_alertmanager(tmp_path / "am")  # its own directory: removed when it stops
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def proxy(am: Proc) -> Iterator[AuthProxy]:
    px = AuthProxy(am.url, TOKEN)
    try:
        yield px
    finally:
        px.close()


@pytest.mark.prometheus
@pytest.mark.slow
def test_check_names_an_alertmanager_refusing_our_credentials(stack: Stack, proxy: AuthProxy, tmp_path: Path):
    cfg = write(tmp_path, config(stack.prom_url, proxy.url))
    good = check(cfg, TOKEN, "--json")
    assert good.returncode == 0, good.stdout + good.stderr  # the same launch, read with the right token, is GO
    assert json.loads(good.stdout)["status"] == "GO" and am_of(json.loads(good.stdout))["state"] == "ok"

    bad = check(cfg, "wrong-token", "--json")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    doc = json.loads(bad.stdout)
    src = am_of(doc)
    assert doc["status"] == "PENDING"
    assert src["state"] == "failing" and src["feed"] == "alerts" and "401" in src["reason"]
    assert any(r.startswith("alerts unknown: source am: FAILING") and "401" in r for r in doc["reasons"])
    assert next(s for s in doc["sources"] if s["name"] == "prom")["state"] == "ok"

    text = check(cfg, "wrong-token")
    assert text.returncode == 1
    assert "Verdict: PENDING" in text.stdout
    line = next(ln for ln in text.stdout.splitlines() if ln.strip().startswith("am: FAILING"))
    assert "401" in line


@pytest.mark.prometheus
@pytest.mark.slow
def test_check_watch_says_when_alertmanager_stops_mid_run(stack: Stack, am: Proc, tmp_path: Path):
    cfg = write(tmp_path, config(stack.prom_url, am.url))
    log = tmp_path / "watch.jsonl"
    watch = ("check", cfg, "--watch", "--json", "--log", log)
    proc = runcli.spawn(*watch, cwd=ROOT, env=runcli.checkout_env(WR_AM_TOKEN="unused"))
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        doc = json.loads(proc.stdout.readline())
        while doc["status"] != "GO":  # the first print may come before the alert feed was read
            assert time.monotonic() < deadline, doc
            doc = json.loads(proc.stdout.readline())
        assert am_of(doc)["state"] == "ok"
        am.stop()
        while am_of(doc)["state"] != "failing":
            assert time.monotonic() < deadline + 30, doc
            doc = json.loads(proc.stdout.readline())
        assert doc["status"] == "PENDING" and doc["exit_code"] == 1
        assert any(r.startswith("alerts unknown: source am: FAILING") for r in doc["reasons"]), doc["reasons"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # recorded on change, not every poll: one "ok", one "failing" for the alert feed
    health = [e.data for e in read_log(log).events if e.kind == "source" and e.data["source"] == "am"]
    alerts_feed = [d["ok"] for d in health if d["feed"] == "alerts"]
    assert alerts_feed == [True, False], health


async def _wait_screen(app: WarroomApp, pilot, words: tuple[str, ...]) -> str:  # type: ignore[no-untyped-def]
    """The console's screen, once it shows every one of `words`."""

    def shown() -> str | None:
        text = screen_text(app)
        return text if all(w in text for w in words) else None

    return await until(f"{words} on screen", shown, pause=pilot.pause, detail=lambda: screen_text(app))


@pytest.mark.prometheus
@pytest.mark.slow
async def test_console_shows_the_failing_alert_source_and_is_not_go(
    stack: Stack, proxy: AuthProxy, am: Proc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WR_AM_TOKEN", "wrong-token")
    launch = parse_launch(config(stack.prom_url, proxy.url))
    log = tmp_path / "console.jsonl"
    app = WarroomApp(launch, log_path=log, actor=DANA, record=True)
    async with app.run_test(size=(160, 48)) as pilot:
        text = await _wait_screen(app, pilot, ("am: FAILING", "401"))
        assert "alerts UNKNOWN" in text  # the empty alert feed does not read "no alerts"
        assert app.frame is not None and app.frame.verdict.status != "GO"
        assert any(r.startswith("alerts unknown: source am: FAILING") for r in app.frame.verdict.reasons)
        assert "no alerts" not in text


@pytest.mark.prometheus
@pytest.mark.slow
async def test_console_shows_alertmanager_stopping_mid_run(stack: Stack, am: Proc, tmp_path: Path):
    launch = parse_launch(config(stack.prom_url, am.url, auth=False))
    log = tmp_path / "console.jsonl"
    app = WarroomApp(launch, log_path=log, actor=DANA, record=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await _wait_screen(app, pilot, ("no alerts", "am ok"))
        assert app.frame is not None and app.frame.verdict.status == "GO"
        am.stop()
        text = await _wait_screen(app, pilot, ("am: FAILING",))
        assert "alerts UNKNOWN" in text
        assert app.frame is not None and app.frame.verdict.status == "PENDING"
    # the console wrote the outcome change to the log, where replay and report read it
    kinds = [(e.data["feed"], e.data["ok"]) for e in read_log(log).events if e.kind == "source"]
    assert ("alerts", False) in kinds
