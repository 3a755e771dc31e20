"""The replay console's screen at a moment equals what a live console showed at that moment.

A live console (frozen clock at T) follows a copy of the recorded log cut at
T; the log as it stood while that console was up (its own session event
included) is then replayed, jumping to T with the console's own keys. The
text of every panel must be the same, character for character.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import orjson
import pytest
from recorded import ACTORS, record_launch
from ui_scenario import until

from warroom.commands.replay import _console
from warroom.core.events import Actor, decode, encode, iso, parse_iso
from warroom.core.units import format_t_relative
from warroom.replay.timeline import open_replay
from warroom.store.launchlog import launch_from_log
from warroom.store.log import iter_lines
from warroom.ui.app import WarroomApp
from warroom.ui.panels import Panel
from warroom.ui.rowtable import RowTable

SIZE = (160, 48)  # wide layout: every panel on screen at once
REPLAY_SIZE = (160, 49)  # one more row for the replay bar, so the panels get the same space


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return record_launch(tmp_path_factory.mktemp("rc") / "full.jsonl", until="20m")


def cut(src: Path, dest: Path, t: float) -> None:
    """The log as it stood at time t: every complete line with ts <= t."""
    with open(dest, "wb") as f:
        for _off, line, _complete in iter_lines(src):
            if orjson.loads(line)["ts"] > iso(t):
                break
            f.write(line + b"\n")


def carry_on(snapshot: Path, full: Path, t: float) -> None:
    """Append to `snapshot` what the full recording holds after t, as later appends would have (chain continued)."""
    lines = snapshot.read_bytes().splitlines()
    last = decode(lines[-1])
    seq, prev = last.seq, last.hash
    with open(snapshot, "ab") as f:
        for _off, line, _complete in iter_lines(full):
            d = orjson.loads(line)
            ts = parse_iso(d["ts"])
            if ts <= t:
                continue
            seq += 1
            out, prev = encode(seq, ts, Actor.from_json(d["actor"]), d["kind"], d["data"], prev)
            f.write(out)


def screen_lines(app: WarroomApp) -> list[str]:
    # the compositor's full render is what the terminal would show (private, but only read here)
    return [strip.text for strip in app.screen._compositor.render_strips()]


MODE_LINES = "#log-path"  # says where the log is (live) or that this is a replay: the one line meant to differ


def panels_text(app: WarroomApp) -> dict[str, list[str]]:
    """Each panel's text with every group unfolded: folds are a viewer's choice, not what was known."""
    for table in app.screen.query(RowTable):
        table.set_collapsed(set())
    strips = app.screen._compositor.render_strips()
    skip = {y for w in app.screen.query(MODE_LINES) for y in range(w.region.y, w.region.y + w.region.height)}
    out = {}
    for panel in app.screen.query(Panel):
        r = panel.region
        if r.width and r.height:
            out[str(panel.id)] = [
                strips[y].crop(r.x, r.x + r.width).text for y in range(r.y, r.y + r.height) if y not in skip
            ]
    return out


async def live_screen(log: Path, t: float, snapshot: Path) -> dict[str, list[str]]:
    launch = launch_from_log(log)
    commander = Actor("commander", "bastion", "10.0.0.2")  # a member of the commander role: a live console
    app = WarroomApp(launch, log_path=log, actor=commander, mode="live", clock=Clock(t), record=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.6)  # a few follow polls
        assert app.mode == "live"
        panels_text(app)
        await pilot.pause()
        text = panels_text(app)
        shutil.copy(log, snapshot)  # the log as this console knew it (its session event included)
    return text


async def replay_screen(log: Path, t: float, t0: float) -> tuple[dict[str, list[str]], list[str]]:
    rep = open_replay(log)
    app = WarroomApp(rep.launch, log_path=None, actor=ACTORS["cto"], mode="replay", replay=rep, clock=Clock(0.0))
    async with app.run_test(size=REPLAY_SIZE) as pilot:
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        for ch in format_t_relative(t - t0):
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.playhead is not None and app.playhead.t == t
        panels_text(app)
        await pilot.pause()
        return panels_text(app), screen_lines(app)


@pytest.mark.parametrize("offset", [-13 * 60, 7 * 60 + 30, 8 * 60 + 47, 19 * 60])
async def test_replay_screen_equals_live_screen(rec, tmp_path, offset, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a short log path, shown on one line like the replay's banner
    t = rec.t0 + offset
    prefix, snapshot = Path("live.jsonl"), tmp_path / "seen.jsonl"
    cut(rec.path, prefix, t)
    live = await live_screen(prefix, t, snapshot)
    carry_on(snapshot, rec.path, t)  # replay must stop at t: the future is in the file
    replayed, screen = await replay_screen(snapshot, t, rec.t0)
    assert set(live) == set(replayed)
    for pid in live:
        assert replayed[pid] == live[pid], pid
    body = "\n".join(screen)
    assert "REPLAY" in body and "chain intact" in body


async def test_replay_shows_trends_and_verdict_of_the_moment(rec, tmp_path):
    """At T+7:30 latency is NO-GO; at T+19:00 it has recovered: replay must not leak the future."""
    rep = open_replay(rec.path)
    args = argparse.Namespace(at="T+00:07:30", speed=None, theme=None)
    app = _console(rep, args)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert app.playhead is not None and app.playhead.t == rec.t0 + 450 and not app.playhead.playing
        early = panels_text(app)
        await pilot.press("g")
        for ch in "T+00:19:00":
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.pause(0.3)
        late = panels_text(app)
    gates_early = "\n".join(early["panel-gates"])
    gates_late = "\n".join(late["panel-gates"])
    assert "NO-GO" in gates_early
    assert "NO-GO" not in gates_late.split("API latency")[1].splitlines()[0]


async def test_replay_console_plays_at_the_given_speed(rec):
    rep = open_replay(rec.path)
    app = _console(rep, argparse.Namespace(at="T-00:30:00", speed=64.0, theme=None))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert app.playhead is not None and app.playhead.playing and app.playhead.speed == 64.0
        start, tick0 = app.playhead.t, app._last_tick  # the console moves the playhead by wall time at each tick
        await until(pilot, lambda: app.playhead is not None and app.playhead.t - start >= 160, "160 s of log played")
        # 64 s of log per second of wall time, however often the (busy) machine let the console tick
        assert app.playhead.t - start == pytest.approx(64 * (app._last_tick - tick0))
