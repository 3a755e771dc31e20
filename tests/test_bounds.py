"""Values that poison and sizes that swamp: one event, one sample, one label, one config must not take over.

Real logs (forged events are valid-hash lines, as anyone who can append to a shared log can write them),
a real recorder on a simulated source, the real `warroom` command.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from runcli import warroom

from warroom.config import Launch, parse_launch
from warroom.core.events import SYSTEM, Actor, encode
from warroom.core.state import fold, view
from warroom.recorder.loop import Recorder, recover
from warroom.sources.base import AlertInfo
from warroom.store.launchlog import bind
from warroom.store.log import DecisionLog, read_log

ROOT = Path(__file__).resolve().parent.parent
DANA = Actor("dana", "bastion", name="Dana")
FAR = 253402300799.0  # 9999-12-31T23:59:59Z
MINIMAL = (ROOT / "tests" / "fixtures" / "minimal.yaml").read_text()


def forge(path: Path, kind: str, data: dict[str, Any], ts: float) -> None:
    """Append a valid-hash event with any time, as a writer with a broken clock (or an attacker) can."""
    last = read_log(path).events[-1]
    line, _ = encode(last.seq + 1, ts, SYSTEM, kind, data, last.hash)
    with open(path, "ab") as f:
        f.write(line)


def config(interval: str = "0.5s", alert_labels: str = "") -> str:
    return textwrap.dedent(f"""\
        version: 1
        launch: {{id: bounds-test, name: Bounds test, t0: 2027-01-15T08:00:00Z}}
        roles: [{{id: commander, title: Commander, members: [dana], commander: true}}]
        phases: [{{id: go, name: Go, at: -1d}}]
        sources:
          sim:
            type: simulated
            seed: 3
            interval: {interval}
            signals: {{p95: {{base: 320, noise: 30}}}}
            alerts: [{{at: 0s, for: 1h, labels: {{alertname: Big{alert_labels}}}}}]
        criteria:
          - {{id: p95, name: API latency P95, source: sim, query: p95, unit: ms, go: "< 500ms"}}
        """)


def open_log(tmp: Path, text: str) -> tuple[Launch, DecisionLog, float]:
    launch = parse_launch(text, "bounds.yaml")
    log = DecisionLog(tmp / "launch.jsonl", DANA)
    launch, ev = bind(log, launch, text, "bounds.yaml")
    assert ev is not None
    return launch, log, ev.ts


async def run_for(rec: Recorder, seconds: float) -> None:
    task = asyncio.create_task(rec.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


# ---------------------------------------------------------------- timestamps


def test_an_event_from_year_9999_does_not_pin_later_appends_and_is_not_applied(tmp_path: Path):
    launch, log, _ = open_log(tmp_path, config())
    log.append("sample", {"criterion": "p95", "value": 320.0, "t": time.time()})
    forge(log.path, "sample", {"criterion": "p95", "value": 100.0, "t": FAR}, FAR)
    after = log.append("note", {"text": "after the forged event"})
    assert after.ts < FAR - 1e9  # this host's time, not 9999
    events = read_log(log.path).events
    st = fold(launch, events)
    assert st.criteria["p95"].samples == 1 and st.criteria["p95"].value == 320.0  # the forged one kept out
    assert st.last_ts == events[-1].ts and events[-1].seq == after.seq
    v = view(st, after.ts)
    assert any("not applied" in d and "2100" in d for d in v.doubts)
    assert any("doubt" in r for r in v.reasons)
    assert any(e.kind == "sample" and "not applied" in e.text for e in st.timeline)  # kept as evidence, shown
    log.close()
    shown = warroom("log", str(log.path), cwd=tmp_path)
    assert shown.returncode == 0 and "9999-12-31" in shown.stdout
    assert "[not applied by the fold: its time is later than 2100-01-01]" in shown.stdout


def test_a_host_two_days_ahead_does_not_pin_the_others_and_the_fold_says_time_went_back(tmp_path: Path):
    launch, log, _ = open_log(tmp_path, config())
    ahead = time.time() + 2 * 86400
    forge(log.path, "note", {"text": "from a host whose clock is two days ahead"}, ahead)
    after = log.append("note", {"text": "from a correct clock"})
    assert after.ts < ahead - 86400
    st = fold(launch, read_log(log.path).events)
    assert any("time goes back" in d.text for d in st.doubts)
    log.close()


def test_a_host_clock_beyond_2100_is_refused_at_append(tmp_path: Path):
    with (
        DecisionLog(tmp_path / "l.jsonl", DANA, clock=lambda: FAR) as log,
        pytest.raises(OSError, match="later than 2100"),
    ):
        log.append("note", {"text": "x"})
    assert not (tmp_path / "l.jsonl").read_bytes()


# ---------------------------------------------------------------- ticks


@pytest.mark.slow
async def test_a_sample_with_tick_10_15_neither_stops_the_recorder_nor_silences_the_fold(tmp_path: Path):
    launch, log, epoch = open_log(tmp_path, config())
    forge(log.path, "sample", {"criterion": "p95", "value": 100.0, "t": time.time(), "tick": 10**15}, time.time())
    assert "p95" not in recover(launch, log.path).last_tick  # the schedule does not move for it
    await run_for(Recorder(launch, log, epoch=epoch), seconds=2.0)
    events = read_log(log.path).events
    real = [e for e in events if e.kind == "sample" and e.data.get("tick") != 10**15]
    assert len(real) >= 3  # kept polling every 0.5 s
    st = fold(launch, events)
    assert st.criteria["p95"].samples == len(real)  # every real sample judged, none taken as a repeat
    assert any("tick 1000000000000000" in d.text for d in st.doubts)
    log.close()


@pytest.mark.slow
async def test_ticks_ahead_of_the_schedule_do_not_make_the_recorder_wait_for_them(tmp_path: Path):
    launch, log, epoch = open_log(tmp_path, config())
    lead = int(20 * 3600 / 0.5)  # 20 hours of slots ahead: plausible, but nothing to wait for
    forge(log.path, "sample", {"criterion": "p95", "value": 100.0, "t": time.time(), "tick": lead}, time.time())
    await run_for(Recorder(launch, log, epoch=epoch), seconds=2.0)
    new = [e for e in read_log(log.path).events if e.kind == "sample" and e.data["tick"] > lead]
    assert len(new) >= 3
    log.close()


# ---------------------------------------------------------------- sizes


def test_a_one_megabyte_label_is_capped_in_the_log(tmp_path: Path):
    big = "x" * 1_000_000
    a = AlertInfo("fp1", {"alertname": "Big", "blob": big}, {"summary": big, "runbook": big})
    with DecisionLog(tmp_path / "l.jsonl", DANA) as log:
        log.append("alert", a.to_event("firing", time.time(), "am"))
    size = (tmp_path / "l.jsonl").stat().st_size
    assert size < 40_000  # was more than 3 MB
    data = read_log(tmp_path / "l.jsonl").events[0].data
    assert data["labels"]["alertname"] == "Big"
    assert data["labels"]["blob"].endswith("more characters cut]")
    assert data["annotations"]["summary"].endswith("more characters cut]")


@pytest.mark.slow
async def test_the_recorder_caps_a_huge_alert_label_from_its_source(tmp_path: Path):
    launch, log, epoch = open_log(tmp_path, config(alert_labels=", blob: " + "y" * 1_000_000))
    before = log.path.stat().st_size
    await run_for(Recorder(launch, log, epoch=epoch), seconds=1.5)
    alerts = [e for e in read_log(log.path).events if e.kind == "alert"]
    assert alerts and alerts[0].data["labels"]["blob"].endswith("more characters cut]")
    assert log.path.stat().st_size - before < 100_000
    log.close()


def test_a_50_mb_config_is_refused_with_the_limit_stated(tmp_path: Path):
    cfg = tmp_path / "huge.yaml"
    with open(cfg, "w") as f:
        f.write(MINIMAL)
        f.write("# padding\n" * 5_000_000)
    res = warroom("validate", str(cfg), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "larger than 4 MB" in res.stderr and str(cfg) in res.stderr


def test_an_integer_of_5000_digits_is_reported_with_its_file_and_line(tmp_path: Path):
    cfg = tmp_path / "digits.yaml"
    cfg.write_text(MINIMAL.replace("stale_after: 1m", "stale_after: " + "9" * 5000))
    line = MINIMAL.splitlines().index("    stale_after: 1m") + 1
    res = warroom("validate", str(cfg), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{cfg}:{line}: criteria[0].stale_after" in res.stderr


@pytest.mark.parametrize("t0", ["soon", {"at": "noon"}, [1, 2]])
def test_a_launch_event_with_a_t0_that_is_not_a_number_gets_a_message_not_a_traceback(tmp_path: Path, t0: Any):
    path = tmp_path / "launch.jsonl"
    with DecisionLog(path, DANA) as log:
        log.append("launch", {"id": "fixture", "name": "Fixture", "t0": t0, "config": MINIMAL})
        log.append("note", {"text": "hello"})
    res = warroom("log", str(path), cwd=tmp_path)
    assert res.returncode == 0 and "Traceback" not in res.stderr
    assert "no usable t0" in res.stderr and "hello" in res.stdout
    res = warroom("report", str(path), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "no usable T-0" in res.stderr


# ---------------------------------------------------------------- display


async def test_a_value_of_1e308_keeps_every_criterions_actual_and_state_on_screen(tmp_path: Path):
    from ui_scenario import NOW, ROOT_ACTOR, Clock, demo_launch, screen_text, write_scenario

    from warroom.ui.app import WarroomApp

    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    with DecisionLog(path, SYSTEM, clock=lambda: NOW - 1) as log:
        log.append("sample", {"criterion": "api-p95", "value": 1e308, "t": NOW - 1})
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        lines = screen_text(app).splitlines()
    # each criterion's table row: the first line that starts with its name (the log panel's lines come later)
    rows = {name: next(line for line in lines if line.lstrip("│ ").startswith(name)) for name in NAMES}
    assert "1.0e308 ms" in rows["API latency P95"] and "NO-GO" in rows["API latency P95"]
    for name in NAMES:
        assert any(level in rows[name] for level in ("GO", "WARN", "UNKNOWN", "STALE")), rows[name]


NAMES = ("Crash-free user rate", "API latency P95", "Error rate", "Database CPU")


def test_a_report_with_a_value_of_1e308_shows_it_compactly_and_draws_its_chart(tmp_path: Path):
    from ui_scenario import NOW, demo_launch, write_scenario

    from warroom.report.build import build_report
    from warroom.report.render_html import render_html
    from warroom.report.render_md import render_markdown

    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    with DecisionLog(path, SYSTEM, clock=lambda: NOW - 1) as log:
        log.append("sample", {"criterion": "api-p95", "value": 1e308, "t": NOW - 1})
        log.append("sample", {"criterion": "db-cpu", "value": -1e308, "t": NOW - 1})
    rep = build_report(path)
    text = render_markdown(rep)
    assert "1.0e308 ms" in text and "0" * 100 not in text
    html = render_html(rep)
    coords = re.findall(r'\s(?:x|y|x1|x2|y1|y2|cx|cy|width|height|points|d)="([^"]*)"', html)
    assert coords and not [c for c in coords if "nan" in c.lower() or "inf" in c.lower()]
