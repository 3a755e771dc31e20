"""Replay's index pass, folding runs of vouched plain samples as one batch (core.lanes), keeps exactly the state
the sample-by-sample fold keeps: every checkpoint, and so every jump, is the same both ways.

The log is a recorded launch (steady runs of plain samples between human decisions, trigger modes, doubts),
indexed with checkpoints every few dozen events so they fall inside runs; then state_at at many random times,
back and forth, with the lanes on and off.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from recorded import record_launch

import warroom.replay.timeline as replay_mod
from warroom.core.state import LaunchState, view
from warroom.replay.timeline import open_replay
from warroom.store.log import iter_events_from


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return record_launch(tmp_path_factory.mktemp("lanes") / "launch.jsonl", until="40m", hostile=True)


def test_jumps_with_lanes_equal_jumps_without(recorded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(replay_mod, "CHECKPOINT_EVERY", 37)
    monkeypatch.setattr(replay_mod, "MAX_CHECKPOINTS", 64)
    runs: list[int] = []
    steady_run = LaunchState.steady_run

    def counted(self: LaunchState, criterion: str, values: list[float], times: list[float], tick: int) -> None:
        runs.append(len(values))
        steady_run(self, criterion, values, times, tick)

    monkeypatch.setattr(LaunchState, "steady_run", counted)
    fast = open_replay(recorded.path, use_sidecar=False)
    assert sum(runs) > 1000 and max(runs) > 10  # most plain samples went by in runs, some of them long
    monkeypatch.setattr(replay_mod, "LANES", False)
    del runs[:]
    slow = open_replay(Path(recorded.path), use_sidecar=False)
    assert not runs
    assert fast.ok and slow.ok and fast.events == slow.events and fast.end == slow.end
    assert fast.marks() == slow.marks()
    cps = fast._checkpoints[1:]
    assert len(cps) > 10
    seq_fold = LaunchState(fast.launch, lean=True)  # each checkpoint is the sequential fold at its line
    seq_fold.signatures = fast.verdicts
    for end, ev in iter_events_from(recorded.path):
        seq_fold.apply(ev)
        if cps and ev.seq == cps[0].seq:
            cp = cps.pop(0)
            assert (cp.offset, cp.ts) == (end, ev.ts)
            assert fast._thaw(cp.state) == seq_fold, cp.seq
    assert not cps
    rng = random.Random(11)
    times = [rng.uniform(recorded.start - 60, recorded.end + 60) for _ in range(60)]
    times += [w.ts for w in recorded.human[::3]]
    rng.shuffle(times)  # jumps back and forth
    for t in times:
        got, want = fast.state_at(t), slow.state_at(t)
        assert got.seq == want.seq
        assert got == want
        assert view(got, t) == view(want, t)
        for cid, cs in got.criteria.items():
            assert list(cs.history) == list(want.criteria[cid].history), cid
