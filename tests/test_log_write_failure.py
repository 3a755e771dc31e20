"""A write the disk fails is undone, so "not recorded" is what every reader finds; if even the undo fails, the
person is told "not confirmed", never "not recorded".

The partial write is a real one: a child process whose file-size limit (RLIMIT_FSIZE) the kernel enforces part
way through the line. A failing fsync cannot be made here (no faulty block device in a container), so those
tests make `os.fsync` in the log's module raise EIO, as a disk reporting a lost write does.
"""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from ui_scenario import NOW, ROOT_ACTOR, Clock, demo_launch, screen_text, write_scenario

import warroom.store.log as logmod
from warroom.core.events import Actor
from warroom.store.base import OutcomeUnknown, write_failure
from warroom.store.log import DecisionLog, Follower, read_log, verify
from warroom.ui.app import WarroomApp

ME = Actor("ana", "bastion")
ROOT = Path(__file__).resolve().parent.parent


def seeded(path: Path, n: int = 3) -> None:
    with DecisionLog(path, ME) as log:
        for i in range(n):
            log.append("note", {"text": f"before {i}"})


class FailingFsync:
    """os.fsync as seen by the log's module: the next `fails` calls raise EIO, the rest do what os.fsync does."""

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.calls = 0
        self.real = os.fsync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.fails > 0:
            self.fails -= 1
            raise OSError(errno.EIO, "Input/output error")
        self.real(fd)


CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from warroom.core.events import Actor
    from warroom.store.base import write_failure
    from warroom.store.log import DecisionLog

    path = Path(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
    log = DecisionLog(path, Actor("ana", "bastion"))
    limit = path.stat().st_size + 40  # the kernel lets 40 bytes of the line through, then refuses
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        log.append("note", {"text": "x" * 400})
    except OSError as e:
        print(write_failure(e))
    else:
        print("RECORDED")
    """
)


def test_a_write_cut_short_by_the_kernel_leaves_the_log_as_it_was_and_says_not_recorded(tmp_path):
    path = tmp_path / "launch.jsonl"
    seeded(path)
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    said = out.stdout.strip()
    assert said.startswith("not recorded") or ": not recorded: " in said, said
    assert "File too large" in said, said
    # not a torn 40-byte tail left for the next writer to set aside: the bytes are gone
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.torn*"))
    with DecisionLog(path, ME) as log:
        ev = log.append("note", {"text": "after"})
    assert ev.seq == 4
    res = verify(path)
    assert res.ok and res.count == 4 and res.torn == 0
    assert [e.kind for e in read_log(path).events] == ["note"] * 4


def test_a_failed_fsync_is_undone_and_no_follower_ever_reads_the_line(tmp_path, monkeypatch):
    path = tmp_path / "launch.jsonl"
    seeded(path)
    size = path.stat().st_size
    follower = Follower(path)
    assert len(follower.poll()) == 3
    fsync = FailingFsync(fails=1)
    monkeypatch.setattr(logmod.os, "fsync", fsync)
    with DecisionLog(path, ME) as log:
        with pytest.raises(OSError) as caught:
            log.append("note", {"text": "lost to the disk"})
        said = write_failure(caught.value)
        assert not isinstance(caught.value, OutcomeUnknown)
        assert "not recorded" in said and "Input/output error" in said, said
        assert path.stat().st_size == size  # undone: the line is not in the file for anyone to read
        assert follower.poll() == []
        ev = log.append("note", {"text": "next"})  # the same console writes on, at the next seq
    assert fsync.calls == 3  # the failed one, the undo's, the next append's
    assert ev.seq == 4 and [e.data["text"] for e in follower.poll()] == ["next"]
    assert verify(path).ok


def test_when_the_undo_fails_too_the_append_is_not_confirmed_and_carries_what_was_sent(tmp_path, monkeypatch):
    path = tmp_path / "launch.jsonl"
    seeded(path)
    monkeypatch.setattr(logmod.os, "fsync", FailingFsync(fails=2))
    with DecisionLog(path, ME) as log, pytest.raises(OutcomeUnknown) as caught:
        log.append("check", {"item": "dashboards"})
    said = write_failure(caught.value)
    assert "not confirmed" in said and "not recorded" not in said, said
    assert [(e.seq, e.kind) for e in caught.value.events] == [(4, "check")]


def test_a_follower_does_not_read_a_line_whose_append_is_still_waiting_on_its_disk(tmp_path):
    path = tmp_path / "launch.jsonl"
    seeded(path)
    follower = Follower(path)
    follower.poll()
    entered, release = threading.Event(), threading.Event()
    real = os.fsync

    def slow_fsync(fd: int) -> None:  # a disk that takes its time: the line is written, the append not done
        entered.set()
        release.wait(10)
        real(fd)

    log = DecisionLog(path, ME)
    done: list[int] = []
    try:
        logmod.os.fsync = slow_fsync  # type: ignore[attr-defined]
        t = threading.Thread(target=lambda: done.append(log.append("note", {"text": "slow"}).seq))
        t.start()
        assert entered.wait(10)
        assert path.stat().st_size > follower.offset  # the bytes are there for anyone who reads the file
        t0 = time.monotonic()
        assert follower.poll() == []  # but not yet recorded: the follower waits a little, then leaves it
        assert time.monotonic() - t0 < 1.0  # a console's loop is not held by another's disk
        release.set()
        t.join(10)
    finally:
        logmod.os.fsync = real  # type: ignore[attr-defined]
        release.set()
        log.close()
    assert done == [4]
    assert [e.seq for e in follower.poll()] == [4]


def test_a_follower_reads_at_once_when_the_append_finishes_within_its_wait(tmp_path, monkeypatch):
    """The console is woken at the write (inotify), an fsync before the append is done: it waits for that.
    Its wait is made long here (the real one is 50 ms), so a loaded machine that runs the unlocking thread late
    cannot fail the test; that it waited at all is what the elapsed time shows."""
    monkeypatch.setattr(logmod, "_SHARED_WAIT", 10.0)
    path = tmp_path / "launch.jsonl"
    seeded(path)
    follower = Follower(path)
    follower.poll()
    with DecisionLog(path, ME) as log:
        log.append("note", {"text": "quick"})
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a writer between its write and its fsync, for 20 ms
        unlock = threading.Timer(0.02, lambda: fcntl.flock(fd, fcntl.LOCK_UN))
        t0 = time.monotonic()
        unlock.start()
        assert [e.data["text"] for e in follower.poll()] == ["quick"]
        assert time.monotonic() - t0 >= 0.02  # it read only once the writer let go
        unlock.join()
    finally:
        os.close(fd)


async def test_the_console_says_not_recorded_and_shows_nothing_changed_when_the_disk_fails(tmp_path, monkeypatch):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2")
        table = app.panel("checklist").table
        assert table.move_cursor_to_key("item:dashboards")
        await pilot.pause()
        size = path.stat().st_size
        monkeypatch.setattr(logmod.os, "fsync", FailingFsync(fails=1))
        await pilot.press("space")
        await pilot.pause()
        said = "\n".join(str(n.message) for n in app._notifications)
        assert "not recorded" in said and "Input/output error" in said, said
        assert path.stat().st_size == size
        await pilot.pause(0.3)  # a poll later, still unticked: the screen shows what the log holds
        assert "[ ] Dashboards" in screen_text(app)
        await pilot.press("space")  # the disk is back: the same key records it
        await pilot.pause()
        assert "[x] Dashboards" in screen_text(app)
    checks = [e for e in read_log(path).events if e.kind == "check" and e.data == {"item": "dashboards"}]
    assert len(checks) == 1  # the failed press left nothing behind, the second recorded it once
