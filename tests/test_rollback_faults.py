"""Rollback under faults: a closed stdout, a log that cannot be written, processes that escape their group.

Real `warroom` processes, real pipes, a real full filesystem (a small tmpfs) or
a real RLIMIT_FSIZE. Each run must end with its outcome in the log, recorded by
the next process from the running marker if the runner itself could not, and
`check` must not call a run that ended "in progress".
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_fixture import LAUNCH_ID, Deploy, alive, fixture_deploy
from runcli import argv as warroom_argv
from runcli import checkout_env
from test_rollback import DANA, finished_steps, phases, py_step, rollback_events, runner, step_output, touch_step
from waiting import wait_for

from warroom.config import load_launch
from warroom.core.state import fold
from warroom.rollback import reaper
from warroom.rollback.runner import running_marker
from warroom.store.log import DecisionLog, read_log

__all__ = ["fixture_deploy"]  # the `deploy` fixture

NOISE = ("Traceback", "Exception ignored", "Event loop is closed", "never retrieved")

TICKS = py_step("ticks", "import time\nfor i in range(20):\n    print('tick', i, flush=True)\n    time.sleep(0.05)\n")


def rollback_args(cfg: Path, log: Path, *extra: str) -> list[str]:
    return warroom_argv("rollback", cfg, "--log", log, "--as", "dana", *extra)


def run_with_reader_gone(deploy: Deploy, argv: list[str], keep: int = 3) -> tuple[int, list[str], str]:
    """Run `argv` with stdout a real pipe whose reader reads `keep` lines and closes it (like `| head -3`)."""
    errs = deploy.root / "stderr.txt"
    with errs.open("wb") as ef:
        proc = subprocess.Popen(argv, cwd=deploy.root, env=checkout_env(), stdout=subprocess.PIPE, stderr=ef)
        assert proc.stdout is not None
        kept = [proc.stdout.readline().decode() for _ in range(keep)]
        proc.stdout.close()
        code = proc.wait(timeout=120)
    return code, kept, errs.read_text()


def run_here(deploy: Deploy, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """`argv` run in the deploy's root with this checkout's package, output captured."""
    return subprocess.run(argv, cwd=deploy.root, env=checkout_env(), capture_output=True, text=True, timeout=120, **kw)


def check_output(deploy: Deploy, cfg: Path, log: Path) -> subprocess.CompletedProcess[str]:
    return run_here(deploy, warroom_argv("check", cfg, "--log", log))


# ---------------------------------------------------------------- a closed stdout


def test_a_closed_stdout_never_stops_a_rollback(deploy: Deploy):
    cfg = deploy.config([TICKS, deploy.rollback_step()])
    code, kept, errs = run_with_reader_gone(deploy, rollback_args(cfg, deploy.log, "--yes-i-mean-it", LAUNCH_ID))
    assert kept[0].startswith("rollback requested by dana")
    assert code == 0, errs  # the rollback's own result: it succeeded
    assert not any(n in errs for n in NOISE), errs
    assert deploy.served() == "v1"  # every step ran, after the reader had gone
    assert [(s["status"], s["exit_code"]) for s in finished_steps(deploy.log)] == [("ok", 0), ("ok", 0)]
    assert step_output(deploy.log, 0) == [f"tick {i}" for i in range(20)]
    assert rollback_events(deploy.log)[-1] == {"phase": "finished", "ok": True, "reason": "", "dry_run": False}
    assert not running_marker(deploy.log).exists()


def test_a_closed_stdout_with_a_failing_rollback_exits_with_its_failure(deploy: Deploy):
    cfg = deploy.config([TICKS, py_step("fails", "import sys; print('boom'); sys.exit(3)")], verify=None)
    code, _kept, errs = run_with_reader_gone(deploy, rollback_args(cfg, deploy.log, "--yes-i-mean-it", LAUNCH_ID))
    assert code == 1 and not any(n in errs for n in NOISE), errs
    assert [(s["status"], s["exit_code"]) for s in finished_steps(deploy.log)] == [("ok", 0), ("failed", 3)]
    assert rollback_events(deploy.log)[-1]["reason"] == "step 2 'fails' failed: exit 3"


def test_a_closed_stdout_in_a_dry_run_still_records_its_end(deploy: Deploy):
    marker = deploy.root / "would-be-created"
    cfg = deploy.config([touch_step(marker), TICKS, deploy.rollback_step()])
    argv = rollback_args(cfg, deploy.log, "--dry-run", "--yes-i-mean-it", LAUNCH_ID)
    code, _kept, errs = run_with_reader_gone(deploy, argv, keep=1)
    assert code == 0 and not any(n in errs for n in NOISE), errs
    assert not marker.exists() and deploy.served() == "v2"
    assert [s["status"] for s in finished_steps(deploy.log)] == ["skipped"] * 3
    assert phases(deploy.log)[-1] == "finished"
    assert fold(load_launch(cfg), read_log(deploy.log).events).rollback.status == "succeeded"
    r = check_output(deploy, cfg, deploy.log)
    assert "in progress" not in r.stdout, r.stdout


# ---------------------------------------------------------------- a log that cannot be written


@pytest.fixture(name="small_fs")
def fixture_small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (root only), unmounted afterwards."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill_then_talk(fill: Path, then_free: bool = False) -> dict[str, Any]:
    """A step that fills the log's filesystem, then prints (lines that cannot all be logged), then exits 0."""
    code = (
        "import os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)\n"
        "try:\n"
        "    while True:\n"
        "        os.write(fd, b'x' * 4096)\n"
        "except OSError:\n"
        "    os.close(fd)\n"
        "for i in range(150):  # more than the last page of the log can take\n"
        "    print('after the disk filled', '.' * 60, i, flush=True)\n"
        "    time.sleep(0.005)\n"
        "if sys.argv[2] == 'free':\n"
        "    os.unlink(sys.argv[1])\n"
        "    time.sleep(0.3)\n"
    )
    return py_step("fill the disk", code, str(fill), "free" if then_free else "keep")


def test_a_full_disk_mid_step_leaves_the_marker_and_the_next_process_records_the_run(deploy: Deploy, small_fs: Path):
    log, fill, later = small_fs / "launch.jsonl", small_fs / "filler", deploy.root / "later-step-ran"
    cfg = deploy.config([fill_then_talk(fill), touch_step(later)], verify=None)
    r = run_here(deploy, rollback_args(cfg, log, "--yes-i-mean-it", LAUNCH_ID))
    assert r.returncode == 1 and not any(n in r.stderr for n in NOISE), r.stderr
    assert "could not be written" in r.stderr and "No space left on device" in r.stderr
    assert "NOT recorded" in r.stderr and str(running_marker(log)) in r.stderr
    assert not later.exists()  # nothing more runs once the log cannot record it
    assert "finished" not in phases(log)
    assert running_marker(log).exists()  # the runner could not record the end: the marker says so

    fill.unlink()  # space again; the next process on this log records the run from the marker
    c = check_output(deploy, cfg, log)
    assert "in progress" not in c.stdout, c.stdout
    assert "rollback failed: interrupted" in c.stdout and "No space left on device" in c.stdout
    assert not running_marker(log).exists()
    end = rollback_events(log)[-1]
    assert end["phase"] == "finished" and end["ok"] is False and end["interrupted"] is True
    state = fold(load_launch(cfg), read_log(log).events).rollback
    assert state.status == "failed"
    # never "running" once the run ended. The first step exited 0: "ok" if its end still fitted in the log's last
    # page once the output that did not fit was cut back out (how much room that page has depends on the paths'
    # lengths), "interrupted" if not
    steps = [s.status for s in state.steps]
    assert steps in (["interrupted", "pending"], ["ok", "pending"]), steps
    report = run_here(deploy, warroom_argv("report", log, "--format", "json"))
    [rb] = json.loads(report.stdout)["rollbacks"]
    assert rb["status"] == "failed" and [s["status"] for s in rb["steps"]] == steps
    again = check_output(deploy, cfg, log)
    assert [d for d in rollback_events(log) if d["phase"] == "finished"] == [end]  # recorded once only
    assert "in progress" not in again.stdout


def test_a_disk_that_frees_up_gets_the_outcome_recorded_by_the_runner_itself(deploy: Deploy, small_fs: Path):
    log, fill, later = small_fs / "launch.jsonl", small_fs / "filler", deploy.root / "later-step-ran"
    cfg = deploy.config([fill_then_talk(fill, then_free=True), touch_step(later)], verify=None)
    r = run_here(deploy, rollback_args(cfg, log, "--yes-i-mean-it", LAUNCH_ID))
    assert r.returncode == 1 and not any(n in r.stderr for n in NOISE), r.stderr
    assert "could not be written" in r.stderr and "NOT recorded" not in r.stderr
    assert not later.exists() and not running_marker(log).exists()
    first, second = finished_steps(log)
    assert (first["status"], first["exit_code"]) == ("ok", 0)
    assert first["unrecorded_lines"] > 0 and "No space left" in first["record_error"]
    assert (second["status"], second["detail"]) == ("skipped", "not run: the decision log could not be written")
    end = rollback_events(log)[-1]
    assert end["phase"] == "finished" and end["ok"] is False and "could not be written" in end["reason"]


def test_a_file_size_limit_mid_step_ends_with_a_recorded_outcome(deploy: Deploy):
    talk = py_step(
        "talks", "import time\nfor i in range(120):\n    print('x' * 60, i, flush=True)\n    time.sleep(0.01)\n"
    )
    cfg = deploy.config([talk], verify=None)
    assert check_output(deploy, cfg, deploy.log).returncode in (0, 1)  # the log exists, bound to the config
    limit = deploy.log.stat().st_size + 3000  # room for the run's start, not for the step's output

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = run_here(deploy, rollback_args(cfg, deploy.log, "--yes-i-mean-it", LAUNCH_ID), preexec_fn=small_files)
    assert r.returncode == 1 and not any(n in r.stderr for n in NOISE), r.stderr
    assert "could not be written: writing step_output: " in r.stderr and "(File too large)" in r.stderr
    # The part of the output the kernel let through is cut back out at once; whether the (short) end then fits
    # under the limit depends on where the limit fell. Either the runner recorded it, or it left the marker.
    if running_marker(deploy.log).exists():
        assert "NOT recorded" in r.stderr and "finished" not in phases(deploy.log)
        again = deploy.warroom(
            "rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", LAUNCH_ID
        )
        assert again.returncode == 0, again.stdout + again.stderr
        ends = [d for d in rollback_events(deploy.log) if d["phase"] == "finished"]
        assert [e["ok"] for e in ends] == [False, True]
        assert ends[0]["interrupted"] is True and "File too large" in ends[0]["reason"]
    else:
        assert "NOT recorded" not in r.stderr
        end = rollback_events(deploy.log)[-1]
        assert end["phase"] == "finished" and end["ok"] is False and "File too large" in end["reason"]
        [step] = finished_steps(deploy.log)
        assert step["exit_code"] == 0 and step["unrecorded_lines"] > 0
    assert "in progress" not in check_output(deploy, cfg, deploy.log).stdout
    assert not running_marker(deploy.log).exists()


# ---------------------------------------------------------------- processes that leave the step's group

ESCAPE = (
    "setsid sleep 1000 & echo $! > {pids}; "
    '{py} -c "import os, sys, time\n'
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        open(sys.argv[1], 'a').write(' %d' % os.getpid()); time.sleep(1000)\n"
    "    os._exit(0)\n"
    'os.wait()" {pids}; {tail}'
)


def escaping_step(pids: Path, tail: str, timeout: str) -> dict[str, Any]:
    return {"name": "escapes", "shell": ESCAPE.format(pids=pids, py=sys.executable, tail=tail), "timeout": timeout}


def escaped_pids(pids: Path) -> list[int]:
    wait_for("both escaped processes to write their pids", lambda: pids.exists() and len(pids.read_text().split()) == 2)
    return [int(p) for p in pids.read_text().split()]


@contextlib.contextmanager
def killed_afterwards(pids: Path) -> Iterator[None]:
    try:
        yield
    finally:  # never leave a sleeper behind, whatever the test found
        for pid in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def test_processes_that_escape_the_group_do_not_survive_the_timeout(deploy: Deploy):
    pids = deploy.root / "pids"
    cfg = deploy.config([escaping_step(pids, "sleep 60", "1s")], verify=None)
    with killed_afterwards(pids):
        t = time.monotonic()
        r = deploy.warroom("rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", LAUNCH_ID)
        took = time.monotonic() - t
        assert r.returncode == 1 and not any(n in r.stderr for n in NOISE), r.stderr
        escaped = escaped_pids(pids)
        for p in escaped:
            wait_for(f"escaped process {p} to be killed", lambda p=p: not alive(p))
    [step] = finished_steps(deploy.log)
    assert step["status"] == "timeout"
    assert any("running outside its group; stopped them" in line for line in step_output(deploy.log, 0))
    assert took < 60  # not held up by the sleepers' open pipe


async def test_processes_left_behind_by_a_step_that_finished_are_stopped_and_reaped(deploy: Deploy):
    pids = deploy.root / "pids"
    launch = load_launch(deploy.config([escaping_step(pids, "echo done", "30s")], verify=None))
    was = reaper.is_subreaper()
    with killed_afterwards(pids), DecisionLog(deploy.log, DANA) as log:
        assert await runner(launch, log).run("test") is True
        escaped = escaped_pids(pids)
        # gone entirely: killed, and (re-parented to this process) reaped, so not even a zombie is left
        for p in escaped:
            wait_for(f"escaped process {p} to be killed and reaped", lambda p=p: not Path(f"/proc/{p}").exists())
    [step] = finished_steps(deploy.log)
    assert (step["status"], step["exit_code"]) == ("ok", 0)
    assert "done" in step_output(deploy.log, 0)
    assert reaper.is_subreaper() == was  # the process-wide flag is only on while the rollback runs


# ---------------------------------------------------------------- the marker, read by the next process


def test_check_leaves_a_run_that_is_still_going_alone(deploy: Deploy):
    release = deploy.root / "release"
    hold = py_step(
        "wait for the test",
        "import pathlib, sys, time\nwhile not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.05)\n",
        str(release),
        timeout="60s",
    )
    cfg = deploy.config([hold], verify=None)
    first = deploy.spawn("rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", LAUNCH_ID)
    try:
        wait_for(
            "the first rollback to start its step", lambda: deploy.log.exists() and "step_started" in phases(deploy.log)
        )
        c = check_output(deploy, cfg, deploy.log)
        assert "rollback in progress" in c.stdout  # it is: its runner holds the lock
        assert "finished" not in phases(deploy.log) and running_marker(deploy.log).exists()
    finally:
        release.write_text("go")
        out, errs = first.communicate(timeout=60)
    assert first.returncode == 0, out + errs
    assert [d["ok"] for d in rollback_events(deploy.log) if d["phase"] == "finished"] == [True]


def test_a_marker_left_after_the_end_was_recorded_is_removed_without_a_second_record(deploy: Deploy):
    cfg = deploy.config([py_step("quick", "pass")], verify=None)
    r = deploy.warroom("rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", LAUNCH_ID)
    assert r.returncode == 0, r.stdout + r.stderr
    running_marker(deploy.log).write_text("999999 0\n")  # a runner that died between `finished` and the unlink
    c = check_output(deploy, cfg, deploy.log)
    assert "rollback failed" not in c.stdout and "in progress" not in c.stdout, c.stdout
    assert not running_marker(deploy.log).exists()
    assert [d["ok"] for d in rollback_events(deploy.log) if d["phase"] == "finished"] == [True]
    assert fold(load_launch(cfg), read_log(deploy.log).events).rollback.status == "succeeded"
