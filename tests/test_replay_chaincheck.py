"""The index pass's chain check in a child process (issue 16): a long log's lines are checked on a second core
while the pass folds the very bytes it pipes to the child. What the replay says and shows never depends on it:
a broken log ends up showing exactly what the sequential pass shows (the break at the same place), the banner
says "verifying…" until the child has passed every line, and nothing is saved before that.

Every log here is checked by a child however short it is (CONCURRENT_FROM is 0); the sequential pass it is held
to is the same code with no child (as on a machine with one core, or a log too short to be worth one).
"""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import pytest
from recorded import record_launch
from test_replay import live_state_at, moments
from test_replay_open import Hold, app_for, banner, jump
from ui_scenario import until

import warroom.replay.timeline as replay_mod
from warroom.replay import sidecar
from warroom.replay.timeline import Replay, begin_replay, open_replay
from warroom.store.chaincheck import ChainCheck


class Checks:
    """The child checks the passes started, and what each said (None: it did not pass every line)."""

    def __init__(self) -> None:
        self.started: list[ChainCheck] = []
        self.said: list[tuple[int, str, int] | None] = []
        self.hold = threading.Event()  # set: a child's answer is kept back until `release`
        self.release = threading.Event()
        self.asked = threading.Event()  # a pass has read the whole log and asks its child what it found


@pytest.fixture
def checks(monkeypatch) -> Checks:
    monkeypatch.setattr(replay_mod, "CONCURRENT_FROM", 0)
    monkeypatch.setattr(replay_mod, "_cores", lambda: 2)  # as on any machine with a second core
    monkeypatch.setattr(replay_mod, "CHECKPOINT_EVERY", 50)
    monkeypatch.setattr(replay_mod, "MAX_CHECKPOINTS", 16)
    seen = Checks()

    class Recorded(ChainCheck):
        def __init__(self) -> None:
            super().__init__()
            seen.started.append(self)

        def result(self) -> tuple[int, str, int] | None:
            seen.asked.set()
            if seen.hold.is_set():
                seen.release.wait(300)
            out = super().result()
            seen.said.append(out)
            return out

    monkeypatch.setattr(replay_mod, "ChainCheck", Recorded)
    return seen


def sequential(path: Path) -> Replay:
    """The same log replayed with no child: each line checked as it is folded."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(replay_mod, "CONCURRENT_FROM", 1 << 62)
        m.setattr(replay_mod, "ChainCheck", None)  # a child started here would fail the test
        return open_replay(path, use_sidecar=False)


@pytest.fixture(scope="module")
def hostile_rec(tmp_path_factory):
    return record_launch(tmp_path_factory.mktemp("cc") / "launch.jsonl", until="20m", hostile=True)


@pytest.fixture
def log(hostile_rec, tmp_path) -> Path:
    path = tmp_path / "launch.jsonl"
    shutil.copy(hostile_rec.path, path)
    return path


def test_an_intact_log_checked_by_the_child_replays_as_the_sequential_pass(checks, log, hostile_rec):
    rep = open_replay(log)
    assert len(checks.started) == 1 and checks.said == [(rep.events, rep._head, 0)]  # the child passed them all
    assert rep.ready and rep.folded == rep.events == hostile_rec.events
    ref = sequential(log)
    assert rep.integrity == ref.integrity == f"chain intact, {ref.events:,} events"
    assert rep.marks() == ref.marks() and rep.verdicts == ref.verdicts and rep.end == ref.end
    assert [(c.seq, c.offset, c.prev) for c in rep._checkpoints] == [
        (c.seq, c.offset, c.prev) for c in ref._checkpoints
    ]
    for t in moments(hostile_rec, 6):
        assert rep.state_at(t) == ref.state_at(t) == live_state_at(log, rep.launch, t)
    assert sidecar.sidecar_path(log).exists()  # saved once the child had passed every line


def _edit_a_value(lines: list[bytes], n: int) -> None:
    """One digit of a sample's value, in place: the line still reads, only its hash tells."""
    i = next(i for i in range(n, len(lines)) if b'"value":' in lines[i] and b'"kind":"sample"' in lines[i])
    at = lines[i].index(b'"value":') + len(b'"value":')
    while not lines[i][at : at + 1].isdigit():
        at += 1
    lines[i] = lines[i][:at] + str((int(lines[i][at : at + 1]) + 1) % 10).encode() + lines[i][at + 1 :]


TAMPERINGS = {
    "a value edited (only the hash tells)": _edit_a_value,
    "an event deleted": lambda lines, n: lines.pop(n),
    "a line that is not JSON": lambda lines, n: lines.__setitem__(n, lines[n][: len(lines[n]) // 2]),
}


@pytest.mark.parametrize("how", list(TAMPERINGS))
def test_a_break_found_by_the_child_ends_as_the_sequential_pass_shows_it(checks, log, how):
    lines = log.read_bytes().split(b"\n")
    TAMPERINGS[how](lines, len(lines) // 3)
    log.write_bytes(b"\n".join(lines))
    ref = sequential(log)
    assert not ref.ok and ref.integrity.startswith("TAMPERED at event seq ")

    rep = open_replay(log)
    assert len(checks.started) == 1 and checks.said in ([], [None])  # the child never passed these bytes...
    assert checks.started[0]._proc.poll() is not None  # ...and is gone
    assert not rep.ok and rep.ready
    assert rep.integrity == ref.integrity and rep.problem == ref.problem and rep.events == ref.events
    assert rep.state_at(rep.end + 3600) == ref.state_at(ref.end + 3600)
    assert rep.state_at(rep.end + 3600).seq == ref.events  # nothing from the break on
    assert not sidecar.sidecar_path(log).exists()  # a broken log's index is never saved


async def test_the_console_says_verifying_until_the_child_passed_every_line(checks, log, hostile_rec):
    checks.hold.set()  # the child's answer waits: the fold is done, the check is not
    rep = begin_replay(log)
    app = app_for(rep)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, checks.asked.is_set, "the fold to reach the end of the log")
            await pilot.pause()
            assert "verifying…" in banner(app) and "chain intact" not in banner(app)
            assert not rep.verified and not rep.ready and not sidecar.sidecar_path(log).exists()
            checks.release.set()
            await until(pilot, lambda: "chain intact" in banner(app), "the banner to say the chain was verified")
            assert f"{hostile_rec.events:,} events" in banner(app) and rep.ready
    finally:
        checks.release.set()
    assert sidecar.sidecar_path(log).exists()


async def test_a_break_found_while_the_playhead_is_past_it_shows_the_broken_chain_banner_there(checks, log):
    lines = log.read_bytes().split(b"\n")
    _edit_a_value(lines, len(lines) // 4)
    log.write_bytes(b"\n".join(lines))
    ref = sequential(log)
    assert not ref.ok
    hold = Hold(0.6)  # the fold held well past the break; the child has the bytes and finds it
    rep = begin_replay(log, progress=hold)
    app = app_for(rep)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, hold.reached.is_set, "the fold to reach 60% of the log")
            await until(pilot, lambda: checks.started[0].stopped(), "the child to stop at the break")
            assert "verifying…" in banner(app) and "TAMPERED" not in banner(app) and "intact" not in banner(app)
            target = rep.end  # past the break: the fold has got there, the check has not vouched for it
            await jump(pilot, target, rep.launch.t0)
            hold.go.set()
            await until(pilot, lambda: "TAMPERED" in banner(app), "the banner to say where the chain broke")
            await until(pilot, lambda: rep.ready, "the sequential pass to finish")
            assert rep.integrity == ref.integrity and rep.events == ref.events
            assert f"TAMPERED at event seq {ref.problem.seq}" in banner(app)
            await until(pilot, lambda: app.state.seq == ref.events, "the playhead to stop before the break")
            assert app.playhead is not None and app.playhead.t == rep.end == ref.end
    finally:
        hold.go.set()


def test_stopping_the_pass_ends_its_child(checks, log):
    hold = Hold(0.3)
    rep = begin_replay(log, progress=hold)
    worker = threading.Thread(target=rep.index)
    worker.start()
    try:
        assert hold.reached.wait(120)
        child = checks.started[0]._proc
        assert child.poll() is None  # waiting for the rest of the log
        rep.stop()
    finally:
        hold.go.set()
        worker.join(120)
    assert child.poll() is not None  # ended and reaped: no checker left behind a closed console
    assert not rep.ready and not sidecar.sidecar_path(log).exists()


def test_no_child_to_be_had_checks_the_chain_in_the_pass_itself(checks, log, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    rep = open_replay(log)
    assert not checks.started and rep.ready and rep.integrity == sequential(log).integrity
    assert rep.integrity.startswith("chain intact")


def test_one_core_means_no_child(checks, log, monkeypatch):
    monkeypatch.setattr(replay_mod, "_cores", lambda: 1)
    rep = open_replay(log)
    assert not checks.started and rep.ready and rep.integrity.startswith("chain intact")


def test_checkpoints_are_thinned_when_the_log_is_longer_than_its_first_lines_said(log, hostile_rec, monkeypatch):
    monkeypatch.setattr(replay_mod, "CHECKPOINT_EVERY", 50)
    monkeypatch.setattr(replay_mod, "MAX_CHECKPOINTS", 8)
    monkeypatch.setattr(replay_mod, "_spacing", lambda path, size: 50)  # as if the log looked short
    rep = open_replay(log, use_sidecar=False)
    assert len(rep._checkpoints) <= 8 and rep._every > 50
    for t in moments(hostile_rec, 4):
        assert rep.state_at(t) == live_state_at(log, rep.launch, t)
