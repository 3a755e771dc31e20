"""Replay mode of the console, on a tiny ReplaySource that folds a list of events (the real one lives in
warroom/replay.py and has its own tests): controls move the playhead, panels show what was known then,
and nothing is ever written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from ui_scenario import NOW, ROOT_ACTOR, T0, Clock, FoldReplay, demo_launch, screen_text, until, write_scenario

from warroom.store.log import read_log
from warroom.ui.app import WarroomApp
from warroom.ui.playhead import Playhead, parse_moment_text


def row(app: WarroomApp, needle: str) -> str:
    return next(line for line in screen_text(app).splitlines() if needle in line)


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    path = tmp_path / "recorded.jsonl"
    write_scenario(path, demo_launch())
    return path


def replay_app(rp: FoldReplay) -> WarroomApp:
    return WarroomApp(rp.launch, log_path=None, actor=ROOT_ACTOR, mode="replay", replay=rp, clock=Clock(0.0))


async def test_jump_shows_what_was_known_at_that_moment(recorded):
    rp = FoldReplay(recorded)
    app = replay_app(rp)
    async with app.run_test(size=(160, 48)) as pilot:
        status = screen_text(app).splitlines()[1]
        assert "REPLAY" in status and rp.integrity in status
        await pilot.press("g")
        await pilot.pause()
        await pilot.press(*"T+00:05:00", "enter")
        await pilot.pause()
        assert "T+00:05:00" in screen_text(app).splitlines()[0]
        assert "✔ GO" in row(app, "API latency P95 ")
        await pilot.press("g")
        await pilot.pause()
        await pilot.press(*"T+00:06:30", "enter")
        await pilot.pause()
        assert "✖ NO-GO" in row(app, "API latency P95 ")
        assert app.now() == T0 + 390
        # the trend holds only what was known then: the latency samples up to T+06:30
        known = [v for _t, v in rp.state_at(T0 + 390).criteria["api-p95"].history]
        assert app.frame is not None
        assert list(next(cv for cv in app.frame.verdict.criteria if cv.criterion.id == "api-p95").trend) == known


async def test_step_between_decisions(recorded):
    rp = FoldReplay(recorded)
    app = replay_app(rp)
    marks = rp.marks()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.now() == min(t for t, _ in marks if t > rp.start)
        for _ in range(20):
            await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.now() == marks[-1][0]
        assert "T+00:01:02" in row(app, "Deploy started;")  # the note, in the log panel
        assert any("T+00:01:02: Deploy started; watching p95 [closely]" in str(n.message) for n in app._notifications)
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert app.now() == max(t for t, _ in marks if t < marks[-1][0])


async def test_play_speed_and_pause(recorded):
    rp = FoldReplay(recorded)
    app = replay_app(rp)
    async with app.run_test(size=(160, 48)) as pilot:
        assert app.playhead is not None and not app.playhead.playing
        for _ in range(4):
            await pilot.press("plus")
        assert app.playhead.speed == 16.0
        start, tick0 = app.now(), app._last_tick  # the console moves the playhead by wall time at each tick
        await pilot.press("p")
        # 40 s of log time: 2.5 s of wall time at 16x; at 1x it could not get there before the 30 s timeout
        await until(pilot, lambda: app.now() - start >= 40, "the playhead to play 40 s of log", timeout=30)
        assert app.now() - start <= 16 * (app._last_tick - tick0) + 1e-6, "played faster than 16x"
        assert "playing ×16" in screen_text(app)
        await pilot.press("p")
        await pilot.pause()
        held = app.now()
        await pilot.pause(0.5)
        assert app.now() == held
        await pilot.press("minus")
        assert app.playhead.speed == 8.0


async def test_replay_never_writes(recorded):
    digest = hashlib.sha256(recorded.read_bytes()).hexdigest()
    rp = FoldReplay(recorded)
    app = replay_app(rp)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2", "space", "x", "s", "n", "a", "m", "d", "R")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        assert app.dlog is None
        await pilot.press("q")
    assert hashlib.sha256(recorded.read_bytes()).hexdigest() == digest


async def test_bad_time_is_refused_with_a_hint(recorded):
    rp = FoldReplay(recorded)
    app = replay_app(rp)
    async with app.run_test(size=(160, 48)) as pilot:
        before = app.now()
        await pilot.press("g")
        await pilot.pause()
        await pilot.press(*"soon", "enter")
        await pilot.pause()
        assert app.now() == before
        assert any("T+00:37" in str(n.message) for n in app._notifications)


def test_moment_text_forms():
    assert parse_moment_text("T+00:37", T0) == T0 + 37 * 60
    assert parse_moment_text("T+00:37:12", T0) == T0 + 37 * 60 + 12
    assert parse_moment_text("T-5m", T0) == T0 - 300
    assert parse_moment_text("T+1h30m", T0) == T0 + 5400
    assert parse_moment_text("t0", T0) == T0
    with pytest.raises(ValueError, match="T\\+00:37"):
        parse_moment_text("00:37", T0)


def test_playhead_stops_at_the_end_and_restarts():
    p = Playhead(0.0, 10.0, 9.0, speed=4.0)
    p.toggle()
    assert p.advance(1.0) and p.t == 10.0 and not p.playing
    p.toggle()
    assert p.t == 0.0 and p.playing
    assert p.step([(3.0, "a"), (7.0, "b")], 1) == (3.0, "a")
    assert p.step([(3.0, "a"), (7.0, "b")], -1) is None


def test_scenario_is_deterministic(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_scenario(a, demo_launch())
    write_scenario(b, demo_launch())
    assert [(e.ts, e.kind, e.data) for e in read_log(a).events] == [(e.ts, e.kind, e.data) for e in read_log(b).events]
    assert read_log(a).events[-1].ts <= NOW
