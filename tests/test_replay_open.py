"""Replay opens at once (issue 16): the first frame comes while the log is indexed and verified in the
background, the playhead moves only inside what is indexed, a second open of the same bytes uses the
saved index (and still re-verifies them), and an index that does not match its log is rebuilt.

The background pass is held at a point of the test's choosing (its progress callback waits), so what is
asserted never depends on how fast this machine is: only on what the console says and shows.
"""

from __future__ import annotations

import os
import pickle
import shutil
import threading
from pathlib import Path

import pytest
from recorded import ACTORS, record_launch
from runcli import argv, warroom
from test_replay import live_state_at
from ui_scenario import screen_text, until

import warroom.replay.timeline as replay_mod
from warroom.core.state import view
from warroom.core.units import format_t_relative
from warroom.replay import sidecar
from warroom.replay.timeline import begin_replay, open_replay
from warroom.store.log import DecisionLog
from warroom.ui.app import WarroomApp


class Hold:
    """A progress callback that stops the background pass once it has read `at` of the log, until `go`."""

    def __init__(self, at: float):
        self.at = at
        self.reached = threading.Event()
        self.go = threading.Event()

    def __call__(self, fraction: float) -> None:
        if fraction >= self.at and not self.go.is_set():
            self.reached.set()
            self.go.wait(300)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A long recorded launch (100,000 events): long enough that indexing it is visibly a background job."""
    return record_launch(tmp_path_factory.mktemp("big") / "week.jsonl", events=100_000)


@pytest.fixture(scope="module")
def small_rec(tmp_path_factory):
    return record_launch(tmp_path_factory.mktemp("small") / "launch.jsonl", until="20m")


@pytest.fixture
def small(small_rec, tmp_path, monkeypatch):
    """A private copy of a short log (tests change it), with checkpoints every 50 events."""
    monkeypatch.setattr(replay_mod, "CHECKPOINT_EVERY", 50)
    monkeypatch.setattr(replay_mod, "MAX_CHECKPOINTS", 16)
    path = tmp_path / "launch.jsonl"
    shutil.copy(small_rec.path, path)
    return path


def app_for(rep) -> WarroomApp:  # type: ignore[no-untyped-def]
    return WarroomApp(rep.launch, log_path=None, actor=ACTORS["cto"], mode="replay", replay=rep)


def banner(app: WarroomApp) -> str:
    return next(line for line in screen_text(app).splitlines() if "REPLAY  log " in line)


async def jump(pilot, t: float, t0: float) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("g")
    await pilot.pause()
    await pilot.press(*format_t_relative(t - t0), "enter")
    await pilot.pause()


async def test_first_frame_comes_while_indexing_and_the_playhead_stays_inside_the_index(big):
    hold = Hold(0.05)
    rep = begin_replay(big.path, progress=hold)
    target = round(big.start + 0.2 * (big.end - big.start))  # well past what is indexed when the pass is held
    app = app_for(rep)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            assert "indexing" in banner(app) and "verifying…" in banner(app)
            assert not rep.indexed and app.state.seq < big.events
            await until(pilot, hold.reached.is_set, "the background index to reach 5% of the log")
            await until(pilot, lambda: app.playhead is not None and app.playhead.end == rep.end, "the bar to follow")
            assert "indexing" in banner(app) and "chain intact" not in banner(app)
            assert rep.end < target

            await jump(pilot, target, big.t0)
            assert app.playhead is not None
            assert app.playhead.t == rep.end < target  # clamped to the indexed part...
            assert app.state.seq == rep.events < big.events
            said = [f"{n.title}: {n.message}" for n in app._notifications]
            assert any(m.startswith("Still indexing: only up to") for m in said), said  # ...and it says so

            hold.go.set()
            await until(pilot, lambda: rep.ready, "the background index to finish", timeout=300)
            await until(pilot, lambda: app.playhead is not None and app.playhead.t == target, "the pending jump")
            await until(pilot, lambda: "chain intact" in banner(app), "the banner to say the chain was verified")
            assert f"{big.events:,} events" in banner(app)
            want = live_state_at(big.path, rep.launch, target)
            assert app.state.seq == want.seq and app.state == want  # the jump equals a full fold at that moment
            assert view(app.state, target) == view(want, target)
    finally:
        hold.go.set()
    assert rep.folded >= big.events
    assert sidecar.sidecar_path(big.path).exists()  # written after the first full pass


async def test_a_second_open_uses_the_saved_index_and_verifies_it_in_the_background(big):
    first = open_replay(big.path)  # the first full pass saves the index
    assert first.folded >= big.events and sidecar.sidecar_path(big.path).exists()
    hold = Hold(0.3)
    rep = begin_replay(big.path, progress=hold)
    assert rep.from_sidecar and rep.indexed and not rep.verified
    assert rep.end == big.end and rep.events == big.events  # the whole log reachable at once
    target = round(big.start + 0.15 * (big.end - big.start))
    app = app_for(rep)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            await until(pilot, hold.reached.is_set, "the background verify to reach 30% of the log")
            assert "saved index" in banner(app) and "verifying" in banner(app)  # never taken for verified
            assert "chain intact" not in banner(app)
            await jump(pilot, target, big.t0)
            assert app.playhead is not None and app.playhead.t == target and not rep.clamped
            hold.go.set()
            await until(pilot, lambda: "chain intact" in banner(app), "the background verify to pass", timeout=300)
            want = live_state_at(big.path, rep.launch, target)
            assert app.state == want
    finally:
        hold.go.set()
    assert rep.verified and rep.folded == 0  # the saved index was used: nothing was folded to build one


def test_state_beyond_the_index_is_clamped_and_says_so(small):
    hold = Hold(0.3)
    rep = begin_replay(small, progress=hold)
    assert rep.state_at(rep.start + 3600).seq == 0 and rep.clamped  # nothing indexed yet: the launch's start
    worker = threading.Thread(target=rep.index)
    worker.start()
    try:
        assert hold.reached.wait(120)
        st = rep.state_at(rep.start + 10 * 3600)
        assert rep.clamped and 0 < st.seq == rep.events and not rep.indexed
        assert st == live_state_at(small, rep.launch, rep.end)
        inside = rep.state_at(rep.start + 1)
        assert not rep.clamped and inside == live_state_at(small, rep.launch, rep.start + 1)
    finally:
        hold.go.set()
        worker.join(120)
    assert rep.ready and rep.integrity.startswith("chain intact")
    assert rep.state_at(rep.end + 60).seq == rep.events and not rep.clamped


def test_an_appended_log_rebuilds_the_index(small, actor):
    open_replay(small)
    with DecisionLog(small, actor) as lg:
        lg.append("note", {"text": "one more"})
    rep = begin_replay(small)
    assert not rep.from_sidecar and not rep.indexed
    rep.index()
    assert rep.ok and rep.folded > 0 and rep.integrity == f"chain intact, {rep.events:,} events"
    assert rep.state_at(rep.end).notes[-1].text.endswith("one more")
    again = open_replay(small)
    assert again.from_sidecar and again.folded == 0 and again.events == rep.events


def test_a_log_tampered_under_its_saved_index_is_reported_and_the_index_rebuilt(small):
    open_replay(small)
    size = small.stat().st_size
    lines = small.read_bytes().split(b"\n")
    n = next(i for i in range(299, len(lines)) if b'"value":' in lines[i])
    at = lines[n].index(b'"value":') + len(b'"value":')
    while not lines[n][at : at + 1].isdigit():
        at += 1
    digit = lines[n][at : at + 1]
    lines[n] = lines[n][:at] + str((int(digit) + 1) % 10).encode() + lines[n][at + 1 :]  # one digit, in place
    small.write_bytes(b"\n".join(lines))
    assert small.stat().st_size == size  # the same size and the same last line: only verifying can tell
    rep = begin_replay(small)
    assert rep.from_sidecar
    rep.index()
    assert not rep.ok and not rep.from_sidecar
    assert rep.integrity.startswith(f"TAMPERED at event seq {n + 1}") and "chain intact" not in rep.integrity
    assert rep.events == n and rep.state_at(rep.end + 3600).seq == n
    assert not sidecar.sidecar_path(small).exists()  # thrown away, and not saved for a broken log


def test_a_checkpoint_that_is_not_where_it_says_is_found_and_the_index_rebuilt(small):
    first = open_replay(small)
    key = sidecar.key_for(small, replay_mod._fold_inputs(first))
    saved = sidecar.load(key)
    assert saved is not None
    seq, ts, offset, prev, state, points = saved["checkpoints"][3]
    saved["checkpoints"][3] = (seq, ts, offset - 7, prev, state, points)  # a checkpoint off its line
    sidecar.save(key, saved)
    rep = begin_replay(small)
    assert rep.from_sidecar
    rep.index()
    assert rep.ok and rep.folded > 0 and rep.integrity.startswith("chain intact")
    assert rep.state_at(first.end) == first.state_at(first.end)


class Planted:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch planted-ran",))


def test_a_planted_index_runs_nothing_and_is_rebuilt(small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = open_replay(small)
    key = sidecar.key_for(small, replay_mod._fold_inputs(first))
    path = sidecar.sidecar_path(small)
    head = path.read_bytes().split(b"\n", 2)
    path.write_bytes(head[0] + b"\n" + head[1] + b"\n" + pickle.dumps({"checkpoints": Planted()}))
    assert sidecar.load(key) is None
    rep = open_replay(small)
    assert not (tmp_path / "planted-ran").exists()
    assert not rep.from_sidecar and rep.folded > 0 and rep.ok


def test_an_index_in_a_shared_or_read_only_place_is_never_used(small, tmp_path, monkeypatch):
    first = open_replay(small)
    path = sidecar.sidecar_path(small)
    os.chmod(path, 0o644)  # readable by others: someone else could have put it there
    assert not begin_replay(small).from_sidecar
    cache = tmp_path / "not-a-directory"
    cache.write_text("")  # no cache can be made there (root passes permission bits, not this)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    rep = open_replay(small)  # nowhere to save an index: the replay works without one
    assert rep.ok and rep.events == first.events and not sidecar.sidecar_path(small).exists()


def test_the_log_is_never_written_and_no_index_lands_beside_it(small):
    before = {p.name: p.stat().st_mtime_ns for p in small.parent.iterdir()}
    open_replay(small)
    open_replay(small)
    assert {p.name: p.stat().st_mtime_ns for p in small.parent.iterdir()} == before


@pytest.mark.slow
@pytest.mark.tmux
def test_a_postgresql_log_replays_in_the_console_and_gets_no_sidecar(tmp_path, tmux):
    """PostgreSQL: the console replays a private snapshot of the database's lines (new each time), so the
    background index and verify run over it as over a file, and no index is saved for it."""
    import shlex

    import pgserver

    src = tmp_path / "rehearsal.jsonl"
    rec = record_launch(src, until="3m")
    cache = Path(os.environ["XDG_CACHE_HOME"])
    root = Path(__file__).resolve().parent.parent
    with pgserver.running() as pg:
        uri = pg.create_db(f"replayopen{os.getpid()}") + "#rehearsal"
        copied = warroom("log", "copy", src, uri)
        assert copied.returncode == 0, copied.stderr
        replay = shlex.join(argv("replay", uri))
        tmux.start("demo", replay, env={"PYTHONPATH": str(root), "XDG_CACHE_HOME": str(cache)})
        screen = tmux.wait_for(
            "demo", lambda s: "chain intact" in s, "the replay of the database's log to be verified", 60
        )
        assert f"chain intact, {rec.events:,} events" in screen and "REPLAY" in screen
        tmux.keys("demo", "q")
    assert not list(cache.rglob("*.idx"))
