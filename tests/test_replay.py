"""Replay shows, at any moment, exactly what a console following the log knew then."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from recorded import record_launch

import warroom.replay.timeline as replay_mod
from warroom.config import ConfigError
from warroom.core.events import parse_iso
from warroom.core.state import LaunchState, view
from warroom.replay.timeline import open_replay
from warroom.store.log import iter_events, iter_events_from


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return record_launch(tmp_path_factory.mktemp("rec") / "launch.jsonl", until="20m")


@pytest.fixture
def small_checkpoints(monkeypatch):
    """Checkpoints every 50 events, at most 8: exercises thinning on a short log."""
    monkeypatch.setattr(replay_mod, "CHECKPOINT_EVERY", 50)
    monkeypatch.setattr(replay_mod, "MAX_CHECKPOINTS", 8)


def live_state_at(path: Path, launch, t: float) -> LaunchState:
    """What a live console following the log had folded by wall time t."""
    st = LaunchState(launch)
    for ev in iter_events(path):
        if ev.ts > t:
            break
        st.apply(ev)
    return st


def moments(rec, n: int = 12) -> list[float]:
    rng = random.Random(3)
    exact = [w.ts for w in rec.human[::5]]
    return [
        rec.start - 60,
        rec.end + 60,
        rec.start,
        rec.end,
        *exact,
        *(rng.uniform(rec.start, rec.end) for _ in range(n)),
    ]


def test_state_at_any_moment_equals_the_live_fold_including_trends(recorded, small_checkpoints):
    rep = open_replay(recorded.path)
    assert len(rep._checkpoints) <= 8
    ts = moments(recorded)
    random.Random(5).shuffle(ts)  # jumps back and forth, not just forward
    for t in ts:
        got = rep.state_at(t)
        want = live_state_at(recorded.path, rep.launch, t)
        assert got.seq == want.seq
        assert got == want
        assert view(got, t) == view(want, t)
        for cid, cs in got.criteria.items():
            assert list(cs.history) == list(want.criteria[cid].history), cid


def test_playback_forward_in_small_steps_matches(recorded, small_checkpoints):
    rep = open_replay(recorded.path)
    t = recorded.t0 + 5 * 60
    for _ in range(40):
        t += 7.5
        assert rep.state_at(t) == live_state_at(recorded.path, rep.launch, t)


def test_returned_state_is_the_callers(recorded):
    rep = open_replay(recorded.path)
    early = rep.state_at(recorded.t0 - 30 * 60)
    seq = early.seq
    rep.state_at(recorded.end)
    assert early.seq == seq  # moving on did not change what the caller holds


def test_range_and_integrity(recorded):
    rep = open_replay(recorded.path)
    assert rep.start == recorded.start
    assert rep.end == recorded.end
    assert rep.events == recorded.events
    assert rep.integrity == f"chain intact, {recorded.events:,} events"
    assert rep.launch.id == "demo-launch"
    assert rep.state_at(rep.start - 1).seq == 0
    assert rep.state_at(rep.end + 3600).seq == recorded.events


def test_marks_are_every_human_decision_with_actor(recorded):
    rep = open_replay(recorded.path)
    marks = rep.marks()
    assert [t for t, _ in marks] == sorted(t for t, _ in marks)
    shown = [
        w for w in recorded.human if not (w.kind == "rollback" and w.data["phase"] in ("step_started", "step_output"))
    ]
    assert [t for t, _ in marks] == [w.ts for w in shown]
    for (_t, label), w in zip(marks, shown, strict=True):
        assert label.startswith(w.who + ": ")
    labels = [label for _t, label in marks]
    assert "Dana (CTO) (cto@bastion): sign-off CTO: NO-GO (P95 latency breach)" in labels
    assert "Alex (Commander) (commander@bastion): final decision: GO (launch complete, watching)" in labels
    assert any("trigger mode for cfur: auto" in label for label in labels)
    assert any(label.endswith("checked: Secrets moved to the secrets manager") for label in labels)


def tamper(path: Path, seq: int) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[seq - 1] = (
        lines[seq - 1].replace(b'"value":', b'"value":1', 1)
        if b'"value":' in lines[seq - 1]
        else lines[seq - 1].replace(b'"kind":"', b'"kind":"x', 1)
    )
    path.write_bytes(b"\n".join(lines))


def test_tampered_log_replays_up_to_the_break_and_says_where(tmp_path):
    rec = record_launch(tmp_path / "t.jsonl", until="-20m")
    tamper(rec.path, 500)
    rep = open_replay(rec.path)
    assert not rep.ok
    assert rep.events == 499
    assert rep.integrity.startswith("TAMPERED at event seq 500 (line 500)")
    assert "499 events before it" in rep.integrity
    assert rep.state_at(rec.end).seq == 499


def test_torn_tail_is_reported_and_left_alone(tmp_path):
    rec = record_launch(tmp_path / "t.jsonl", until="-30m")
    with open(rec.path, "ab") as f:
        f.write(b'{"v":1,"seq":')
    before = hashlib.sha256(rec.path.read_bytes()).hexdigest()
    rep = open_replay(rec.path)
    assert rep.ok and rep.events == rec.events
    assert "torn last line (13 bytes)" in rep.integrity
    rep.state_at(rec.end)
    assert hashlib.sha256(rec.path.read_bytes()).hexdigest() == before
    assert not Path(str(rec.path) + ".torn").exists()


def test_replay_never_writes(recorded):
    before = recorded.path.stat()
    rep = open_replay(recorded.path)
    for t in moments(recorded, 4):
        rep.state_at(t)
    after = recorded.path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_log_without_launch_event_is_a_clear_error(tmp_path, log):
    log.append("note", {"text": "hello"})
    with pytest.raises(ConfigError, match="no launch event in this log"):
        open_replay(log.path)


def test_iter_events_from_resumes_mid_file(recorded):
    evs = list(iter_events_from(recorded.path))
    end, mid = evs[99]
    rest = list(iter_events_from(recorded.path, end, mid.seq, mid.hash))
    assert [e.seq for _o, e in rest] == [e.seq for _o, e in evs[100:]]
    assert rest[-1][0] == recorded.path.stat().st_size
    assert parse_iso(evs[0][1].ts_iso) == recorded.start


def test_log_edited_during_replay_is_said_not_crashed(tmp_path):
    rec = record_launch(tmp_path / "t.jsonl", until="-20m")
    rep = open_replay(rec.path)
    mid = next(ev.ts for ev in iter_events(rec.path) if ev.seq == 1000)
    tamper(rec.path, 900)  # someone edits the file after replay opened it
    st = rep.state_at(mid)  # between checkpoints: read from the file
    assert st.seq == 899 and not rep.ok
    assert "the log changed while it was being replayed" in rep.integrity
    rec.path.unlink()
    assert rep.state_at(rec.start + 1).seq == 0  # gone: nothing more can be read, and nothing raises
    assert "the log changed while it was being replayed" in rep.integrity
