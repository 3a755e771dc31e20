"""Files an attacker on a shared bastion can plant beside a log: symlinks, hard links, FIFOs, non-logs.

Each attack checks the victim file is untouched (content and mode) and the user is told why, and that a
symlinked and a plain name for one log share one recorder lock and one rollback lock (real processes).
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from deploy_fixture import LAUNCH_ID, Deploy, fixture_deploy
from runcli import checkout_env, spawn, warroom
from waiting import wait_for

from warroom.config import load_launch
from warroom.core.events import Actor
from warroom.recorder.loop import Recorder
from warroom.rollback.runner import RollbackRunner, running_marker
from warroom.store.log import DecisionLog, read_log
from warroom.store.paths import Lock, lock_path
from warroom.store.sidefiles import FileLock, UnsafePath

__all__ = ["fixture_deploy"]


def recorder_lock(log: str | Path) -> Path:
    return lock_path(log, Lock.RECORDER)


def rollback_lock(log: str | Path) -> Path:
    return lock_path(log, Lock.ROLLBACK)


ROOT = Path(__file__).resolve().parent.parent
DANA = Actor(user="ci", host="bastion", name="dana")  # commander in the deploy fixture's config
SECRET = b"api-token: hunter2"  # no trailing newline: it looks like a torn tail to a naive writer


def victim(path: Path, mode: int = 0o600) -> tuple[bytes, int]:
    path.write_bytes(SECRET)
    path.chmod(mode)
    return SECRET, mode


def untouched(path: Path, before: tuple[bytes, int]) -> bool:
    return path.read_bytes() == before[0] and stat.S_IMODE(path.stat().st_mode) == before[1]


def no_traceback(res: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in res.stderr + res.stdout


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# ---------------------------------------------------------------- the log path itself


def test_a_log_symlinked_to_a_secret_is_refused_and_the_secret_untouched(deploy: Deploy):
    secret = deploy.root / "secret.txt"
    before = victim(secret)
    link = deploy.root / "launch.jsonl"
    link.symlink_to(secret)
    cfg = deploy.config()
    res = warroom("check", str(cfg), "--log", str(link), cwd=deploy.root)
    assert res.returncode == 2 and no_traceback(res), res.stderr
    assert "is not a warroom decision log" in res.stderr and str(secret) in res.stderr
    assert untouched(secret, before)
    assert not Path(f"{secret}.torn").exists() and not Path(f"{link}.torn").exists()


def test_a_plain_file_that_is_not_a_log_is_refused_untouched(tmp_path: Path):
    notes = tmp_path / "notes.txt"
    before = victim(notes, 0o644)
    with pytest.raises(UnsafePath, match="not a warroom decision log"):
        DecisionLog(notes, DANA)
    assert untouched(notes, before)


def test_a_dangling_symlink_is_not_used_to_create_a_log(tmp_path: Path):
    link = tmp_path / "launch.jsonl"
    target = tmp_path / "elsewhere" / "created-by-us"
    link.symlink_to(target)
    with pytest.raises(UnsafePath, match="does not exist"):
        DecisionLog(link, DANA)
    assert not target.exists()


def test_a_log_with_a_second_hard_link_is_refused(tmp_path: Path):
    log = tmp_path / "launch.jsonl"
    with DecisionLog(log, DANA) as dl:
        dl.append("note", {"text": "hello"})
    os.link(log, tmp_path / "other-name.jsonl")
    with pytest.raises(UnsafePath, match="2 hard links"):
        DecisionLog(tmp_path / "other-name.jsonl", DANA)


def test_a_fifo_as_the_log_is_refused_without_hanging(tmp_path: Path):
    fifo = tmp_path / "launch.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(UnsafePath, match="not a regular file"):
        DecisionLog(fifo, DANA)


def test_a_symlink_to_a_real_log_is_followed_and_writes_land_in_it(tmp_path: Path):
    log = tmp_path / "R.jsonl"
    with DecisionLog(log, DANA) as dl:
        dl.append("note", {"text": "via the plain name"})
    link = tmp_path / "Rlink.jsonl"
    link.symlink_to(log)
    with DecisionLog(link, DANA) as dl:
        dl.append("note", {"text": "via the link"})
    assert [e.data["text"] for e in read_log(log).events] == ["via the plain name", "via the link"]


# ---------------------------------------------------------------- side files planted as symlinks


@pytest.mark.parametrize("suffix", [".recorder.lock", ".rollback.lock"])
def test_a_lock_planted_as_a_symlink_is_refused_and_its_target_untouched(tmp_path: Path, suffix: str):
    secret = tmp_path / "secret.txt"
    before = victim(secret)
    log = tmp_path / "launch.jsonl"
    Path(f"{log}{suffix}").symlink_to(secret)
    with pytest.raises(UnsafePath, match="symbolic link"):
        FileLock(f"{log}{suffix}").try_acquire()
    assert untouched(secret, before)


def test_check_with_a_planted_recorder_lock_exits_2_with_a_message(deploy: Deploy):
    secret = deploy.root / "secret.txt"
    before = victim(secret)
    Path(recorder_lock(deploy.log)).symlink_to(secret)
    res = warroom("check", str(deploy.config()), "--log", str(deploy.log), cwd=deploy.root)
    assert res.returncode == 2 and no_traceback(res), res.stderr
    assert "symbolic link" in res.stderr and "recorder.lock" in res.stderr
    assert untouched(secret, before)


def test_a_torn_file_planted_as_a_symlink_is_refused_and_the_log_keeps_its_tail(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    before = victim(secret)
    log = tmp_path / "launch.jsonl"
    with DecisionLog(log, DANA) as dl:
        dl.append("note", {"text": "one"})
    with open(log, "ab") as f:
        f.write(b'{"v":1,"seq":2,"ts":"2026')  # a writer killed mid-write
    size = log.stat().st_size
    Path(f"{log}.torn").symlink_to(secret)
    with DecisionLog(log, DANA) as dl, pytest.raises(UnsafePath, match="symbolic link"):
        dl.append("note", {"text": "two"})
    assert untouched(secret, before)
    assert log.stat().st_size == size  # nothing was cut: the torn bytes stay where they are, for a later try


def test_rollback_with_a_planted_lock_or_marker_is_refused_recorded_and_the_target_untouched(deploy: Deploy):
    secret = deploy.root / "secret.txt"
    before = victim(secret)
    touched = deploy.root / "step-ran"
    step = {"name": "touch", "run": [sys.executable, "-c", f"open({str(touched)!r}, 'w')"], "timeout": "20s"}
    cfg = deploy.config([step], verify=None)
    args = ("rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", LAUNCH_ID)
    for planted in (rollback_lock(deploy.log), running_marker(deploy.log)):
        planted.symlink_to(secret)
        res = warroom(*args, cwd=deploy.root)
        assert res.returncode in (1, 2) and no_traceback(res), res.stderr
        refused = [e.data for e in read_log(deploy.log).events if e.data.get("phase") == "refused"]
        assert refused and "symbolic link" in refused[-1]["reason"] and planted.name in refused[-1]["reason"]
        assert untouched(secret, before) and not touched.exists()
        planted.unlink()


# ---------------------------------------------------------------- modes


def test_side_files_are_no_wider_than_the_log(tmp_path: Path):
    log = tmp_path / "launch.jsonl"
    with DecisionLog(log, DANA) as dl:
        dl.append("note", {"text": "one"})
    log.chmod(0o600)
    with open(log, "ab") as f:
        f.write(b'{"v":1,"seq":2')
    old = os.umask(0o022)
    try:
        with DecisionLog(log, DANA) as dl:
            dl.append("note", {"text": "two"})
            lock = Recorder(load_launch(ROOT / "tests" / "fixtures" / "minimal.yaml"), dl).lock
            assert lock.try_acquire()
            lock.release()
    finally:
        os.umask(old)
    assert mode_of(Path(f"{log}.torn")) == 0o600
    assert mode_of(Path(recorder_lock(log))) == 0o600


async def test_the_rollback_marker_has_the_logs_mode(deploy: Deploy):
    release = deploy.root / "release"
    wait = {
        "name": "wait",
        "run": [sys.executable, "-c", f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.05)"],
        "timeout": "30s",
    }
    launch = load_launch(deploy.config([wait], verify=None))
    with DecisionLog(deploy.log, DANA) as log:
        deploy.log.chmod(0o600)
        task = asyncio.create_task(RollbackRunner(launch, log, DANA, kill_grace=1.0).run("mode check"))
        marker = running_marker(deploy.log)
        for _ in range(400):
            if marker.exists():
                break
            await asyncio.sleep(0.05)
        assert mode_of(marker) == 0o600 and mode_of(rollback_lock(deploy.log)) == 0o600
        release.write_text("go")
        assert await task is True


# ---------------------------------------------------------------- one lock per file, whatever its name

HOLD = textwrap.dedent("""\
    import sys, time
    from warroom.store.sidefiles import FileLock
    from warroom.store.paths import Lock, lock_path
    lock = FileLock(lock_path(sys.argv[1], Lock.RECORDER))
    assert lock.try_acquire()
    print("held", flush=True)
    time.sleep(60)
    """)


def test_a_symlinked_and_a_plain_name_share_one_recorder_lock_across_processes(tmp_path: Path):
    log = tmp_path / "D.jsonl"
    with DecisionLog(log, DANA) as dl:
        dl.append("note", {"text": "x"})
    link = tmp_path / "Dlink.jsonl"
    link.symlink_to(log)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(log)], stdout=subprocess.PIPE, text=True, env=checkout_env()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert recorder_lock(link) == recorder_lock(log)
        other = FileLock(recorder_lock(link))
        assert other.try_acquire() is False
        assert other.holder_pid() == holder.pid
    finally:
        holder.kill()
        holder.wait()
    assert FileLock(recorder_lock(link)).try_acquire()  # the OS dropped the dead holder's lock


def test_a_symlinked_directory_shares_the_lock_too(tmp_path: Path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    a, b = tmp_path / "real" / "L.jsonl", tmp_path / "alias" / "L.jsonl"
    assert rollback_lock(a) == rollback_lock(b) and running_marker(a) == running_marker(b)


def test_a_symlinked_and_a_plain_name_share_one_rollback(deploy: Deploy):
    release = deploy.root / "release-first"
    hold = {
        "name": "wait for the test",
        "run": [
            sys.executable,
            "-c",
            f"import os, time\nfor _ in range(1200):\n    if os.path.exists({str(release)!r}): break\n"
            "    time.sleep(0.05)\n",
        ],
        "timeout": "60s",
    }
    cfg = deploy.config([hold, deploy.rollback_step()])
    link = deploy.root / "link.jsonl"
    link.symlink_to(deploy.log)
    common = ("--as", "dana", "--yes-i-mean-it", LAUNCH_ID)
    first = spawn("rollback", cfg, "--log", deploy.log, *common, cwd=deploy.root)
    try:

        def started() -> bool:
            events = read_log(deploy.log).events if deploy.log.exists() else []
            return any(e.data.get("phase") == "step_started" for e in events)

        wait_for("the first rollback to start its step", started)
        second = warroom("rollback", str(cfg), "--log", str(link), *common, cwd=deploy.root)
        assert second.returncode == 1 and no_traceback(second)
        assert f"pid {first.pid}" in second.stdout
    finally:
        release.write_text("go")
        out, errs = first.communicate(timeout=60)
    assert first.returncode == 0, out + errs
    phases = [e.data["phase"] for e in read_log(deploy.log).events if e.kind == "rollback"]
    assert phases.count("started") == 1 and phases.count("refused") == 1


# ---------------------------------------------------------------- naming the holder

RAW_HOLD = textwrap.dedent("""\
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.flock(fd, fcntl.LOCK_EX)  # holding it, its pid not written yet (the moment that said "holder unknown")
    print("held", flush=True)
    time.sleep(60)
    """)


def test_a_refusal_names_the_holder_even_before_its_pid_is_written(tmp_path: Path):
    path = tmp_path / "L.jsonl.rollback.lock"
    path.write_text("    99999\n")  # a stale pid from an earlier holder: must not be named
    holder = subprocess.Popen([sys.executable, "-c", RAW_HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = FileLock(path)
        assert lock.try_acquire() is False
        assert lock.holder_pid() == holder.pid
        assert lock.holder_text() == f"pid {holder.pid}"
    finally:
        holder.kill()
        holder.wait()
    # nobody holds it: the stale pid in the file is not believed
    wait_for("the killed holder's lock to be free", lambda: FileLock(path).holder_pid() is None)


# ---------------------------------------------------------------- a torn tail's recovery, on the record


def test_the_recovery_of_a_torn_tail_is_an_event_the_report_shows(tmp_path: Path):
    import hashlib

    from ui_scenario import ROOT_ACTOR, demo_launch, write_scenario

    from warroom.report.build import build_report, to_json

    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    torn = b'{"v":1,"seq":999,"ts":"2026-01-01T12:0'
    with open(path, "ab") as f:
        f.write(torn)
    res = warroom("verify", str(path), cwd=tmp_path)
    assert res.returncode == 0 and "still at the end of the log" in res.stdout  # nothing moved yet
    with DecisionLog(path, ROOT_ACTOR) as log:
        log.append("note", {"text": "after the crash"})
    digest = hashlib.sha256(torn).hexdigest()
    rep = build_report(path)
    assert f"{len(torn)} bytes (sha256 {digest})" in rep.integrity
    assert any(digest in r for r in to_json(rep)["log"]["integrity"]["torn_recovered"])
