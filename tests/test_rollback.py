"""Rollback against a real deploy: real subprocesses, a real symlink flip, a real HTTP server, no mocks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from deploy_fixture import LAUNCH_ID, Deploy, alive, fixture_deploy
from waiting import wait_for

from warroom.config import Launch, load_launch
from warroom.core.events import Actor
from warroom.core.state import fold, view
from warroom.rollback.runner import LOG_LINES, RollbackRunner, plan_text, running_marker
from warroom.store.log import DecisionLog, FileLock, read_log
from warroom.store.paths import Lock, lock_path

__all__ = ["fixture_deploy"]  # the `deploy` fixture

DANA = Actor(user="ci", host="bastion", name="dana")  # commander in the fixture config
EVE = Actor(user="ci", host="bastion", name="eve")  # viewer: may not roll back
PY = sys.executable


def rollback_events(path: Path) -> list[dict[str, Any]]:
    return [ev.data for ev in read_log(path).events if ev.kind == "rollback"]


def phases(path: Path) -> list[str]:
    return [d["phase"] for d in rollback_events(path) if d["phase"] not in ("step_output", "verify_output")]


def step_output(path: Path, index: int) -> list[str]:
    return [
        line
        for d in rollback_events(path)
        if d["phase"] == "step_output" and d["index"] == index
        for line in d["lines"]
    ]


def finished_steps(path: Path) -> list[dict[str, Any]]:
    return [d for d in rollback_events(path) if d["phase"] == "step_finished"]


def py_step(name: str, code: str, *args: str, timeout: str = "20s") -> dict[str, Any]:
    return {"name": name, "run": [PY, "-c", code, *args], "timeout": timeout}


def touch_step(target: Path) -> dict[str, Any]:
    return py_step(
        f"create {target.name}", "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text('ran')", str(target)
    )


def runner(launch: Launch, log: DecisionLog, actor: Actor = DANA, **kw: Any) -> RollbackRunner:
    return RollbackRunner(launch, log, actor, kill_grace=kw.pop("kill_grace", 1.0), **kw)


# ---------------------------------------------------------------- the headless command


def test_headless_rollback_serves_the_old_version_again_and_logs_every_step(deploy: Deploy):
    cfg = deploy.config()
    assert deploy.served() == "v2"
    r = deploy.warroom("rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", LAUNCH_ID)
    assert r.returncode == 0, r.stdout + r.stderr
    assert deploy.served() == "v1"
    assert phases(deploy.log) == [
        "requested",
        "started",
        "step_started",
        "step_finished",
        "verify",
        "verify",
        "finished",
    ]
    [step] = finished_steps(deploy.log)
    assert (step["exit_code"], step["status"]) == (0, "ok") and step["duration"] >= 0
    assert step_output(deploy.log, 0) == ["current is releases/v2", "current is now releases/v1"]
    verify = [d for d in rollback_events(deploy.log) if d["phase"] == "verify"]
    assert verify[-1]["status"] == "passed" and verify[-1]["exit_code"] == 0
    assert rollback_events(deploy.log)[-1] == {"phase": "finished", "ok": True, "reason": "", "dry_run": False}
    assert "rollback succeeded" in r.stdout and "current is now releases/v1" in r.stdout
    launch = load_launch(cfg)
    state = fold(launch, read_log(deploy.log).events)
    assert state.rollback.status == "succeeded" and state.rollback.verify == "passed"
    assert [(s.status, s.exit_code) for s in state.rollback.steps] == [("ok", 0)]
    assert not running_marker(deploy.log).exists()


def test_headless_without_confirmation_prints_the_plan_and_runs_nothing(deploy: Deploy):
    cfg = deploy.config()
    r = deploy.warroom("rollback", str(cfg), "--log", str(deploy.log), "--as", "dana")
    assert r.returncode == 2
    assert f"{deploy.script} v1" in r.stdout and "timeout: 20 s" in r.stdout
    assert f"--yes-i-mean-it {LAUNCH_ID}" in r.stderr
    r = deploy.warroom("rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", "other")
    assert r.returncode == 2 and "'other'" in r.stderr
    assert deploy.served() == "v2"
    assert not deploy.log.exists() or rollback_events(deploy.log) == []


def test_headless_refuses_an_actor_without_an_allowed_role(deploy: Deploy):
    cfg = deploy.config()
    r = deploy.warroom("rollback", str(cfg), "--log", str(deploy.log), "--as", "eve", "--yes-i-mean-it", LAUNCH_ID)
    assert r.returncode == 1
    assert deploy.served() == "v2"
    assert phases(deploy.log) == ["requested", "refused"]
    refused = rollback_events(deploy.log)[-1]["reason"]
    assert "eve may not roll back" in refused and "commander, sre" in refused and "viewer" in refused
    assert "REFUSED" in r.stdout


def test_headless_dry_run_records_every_step_and_executes_nothing(deploy: Deploy):
    marker = deploy.root / "would-be-created"
    cfg = deploy.config([touch_step(marker), deploy.rollback_step()])
    r = deploy.warroom(
        "rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--dry-run", "--yes-i-mean-it", LAUNCH_ID
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert not marker.exists()
    assert deploy.served() == "v2"
    steps = finished_steps(deploy.log)
    assert [(s["index"], s["status"], s["detail"]) for s in steps] == [
        (0, "skipped", "skipped (dry run)"),
        (1, "skipped", "skipped (dry run)"),
    ]
    assert not any(d["phase"] in ("step_started", "step_output") for d in rollback_events(deploy.log))
    started = next(d for d in rollback_events(deploy.log) if d["phase"] == "started")
    assert started["dry_run"] is True and any(str(deploy.script) in line for line in started["plan"])
    verify = [d for d in rollback_events(deploy.log) if d["phase"] == "verify"]
    assert [v["status"] for v in verify] == ["skipped"]


async def test_config_dry_run_cannot_be_overridden_by_the_console(deploy: Deploy):
    marker = deploy.root / "would-be-created"
    launch = load_launch(deploy.config([touch_step(marker)], dry_run=True))
    assert plan_text(launch, False)[1].startswith("DRY RUN (rollback.dry_run is set in the config)")
    with DecisionLog(deploy.log, DANA) as log:
        assert await runner(launch, log, dry_run=False).run("test") is True
    assert not marker.exists()
    assert [s["status"] for s in finished_steps(deploy.log)] == ["skipped"]


def test_second_rollback_from_another_process_is_refused_while_one_runs(deploy: Deploy):
    release = deploy.root / "release-first"
    hold = py_step(
        "wait for the test",
        "import pathlib, sys, time\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "for _ in range(600):\n"
        "    if p.exists(): break\n"
        "    time.sleep(0.05)\n",
        str(release),
        timeout="60s",
    )
    cfg = deploy.config([hold, deploy.rollback_step()])
    args = ("rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", LAUNCH_ID)
    first = deploy.spawn(*args)
    try:
        wait_for(
            "the first rollback to start its step", lambda: deploy.log.exists() and "step_started" in phases(deploy.log)
        )
        second = deploy.warroom(*args)
        assert second.returncode == 1
        assert f"pid {first.pid}" in second.stdout
    finally:
        release.write_text("go")
        out, errs = first.communicate(timeout=60)
    assert first.returncode == 0, out + errs
    assert deploy.served() == "v1"
    events = rollback_events(deploy.log)
    refused = [d for d in events if d["phase"] == "refused"]
    assert len(refused) == 1
    assert f"another rollback is running (pid {first.pid}" in refused[0]["reason"]
    assert refused[0]["holder_pid"] == first.pid
    assert [d["phase"] for d in events].count("started") == 1  # the refused one never started
    state = fold(load_launch(cfg), read_log(deploy.log).events)
    assert state.rollback.status == "succeeded"
    assert any(h["status"] == "refused" for h in state.rollback.history)


# ---------------------------------------------------------------- the runner


async def test_step_that_times_out_is_killed_with_its_children(deploy: Deploy):
    pids = deploy.root / "pids"
    later = deploy.root / "later-step-ran"
    spawn_child = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}')\n"
        "print('spawned', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    launch = load_launch(
        deploy.config([py_step("hangs", spawn_child, str(pids), timeout="1s"), touch_step(later)], verify=None)
    )
    with DecisionLog(deploy.log, DANA) as log:
        t = time.monotonic()
        assert await runner(launch, log).run("test timeout") is False
        assert time.monotonic() - t < 15
    step_pid, child_pid = map(int, pids.read_text().split())
    assert not alive(step_pid) and not alive(child_pid)
    assert not later.exists()
    first, second = finished_steps(deploy.log)
    assert first["status"] == "timeout" and first["exit_code"] == -signal.SIGTERM
    assert second["status"] == "skipped" and "earlier step failed" in second["detail"]
    assert f"spawned {child_pid}" in step_output(deploy.log, 0)
    finished = rollback_events(deploy.log)[-1]
    assert finished["ok"] is False and "timed out after 1 s" in finished["reason"]


async def test_a_step_group_that_ignores_sigterm_is_killed(deploy: Deploy):
    pids = deploy.root / "pids"
    stubborn = {
        "name": "stubborn",
        "shell": f"trap '' TERM; sleep 60 & echo $$ $! > {pids}; wait; sleep 60",
        "timeout": "1s",
    }
    launch = load_launch(deploy.config([stubborn], verify=None))
    with DecisionLog(deploy.log, DANA) as log:
        assert await runner(launch, log, kill_grace=0.5).run("test") is False
    for pid in map(int, pids.read_text().split()):
        assert not alive(pid)
    [step] = finished_steps(deploy.log)
    assert step["status"] == "timeout" and step["exit_code"] == -signal.SIGKILL


async def test_failing_step_stops_the_procedure_raises_an_alert_and_turns_the_verdict_no_go(deploy: Deploy):
    first, later = deploy.root / "first-ran", deploy.root / "later-ran"
    steps = [touch_step(first), py_step("fails", "import sys; print('boom'); sys.exit(3)"), touch_step(later)]
    launch = load_launch(deploy.config(steps))
    with DecisionLog(deploy.log, DANA) as log:
        assert await runner(launch, log).run("test failure") is False
    assert first.exists() and not later.exists()
    assert [(s["status"], s["exit_code"]) for s in finished_steps(deploy.log)] == [
        ("ok", 0),
        ("failed", 3),
        ("skipped", None),
    ]
    assert "verify" not in phases(deploy.log)
    assert step_output(deploy.log, 1) == ["boom"]
    state = fold(launch, read_log(deploy.log).events)
    alert = state.alerts["rollback"]
    assert alert.firing and alert.severity == "critical" and "step 2 'fails' failed: exit 3" in alert.title
    v = view(state, time.time())
    assert v.status == "NO-GO"
    assert v.reasons[0] == "NO-GO: rollback failed: step 2 'fails' failed: exit 3"


async def test_a_failed_verify_fails_the_rollback(deploy: Deploy):
    launch = load_launch(deploy.config([py_step("does nothing", "pass")]))  # verify wants v1; still v2
    with DecisionLog(deploy.log, DANA) as log:
        assert await runner(launch, log).run("test") is False
    verify = [d for d in rollback_events(deploy.log) if d["phase"] == "verify"][-1]
    assert verify["status"] == "failed" and verify["exit_code"] == 1
    assert "served v2" in [
        ln for d in rollback_events(deploy.log) if d["phase"] == "verify_output" for ln in d["lines"]
    ]
    assert view(fold(launch, read_log(deploy.log).events), time.time()).status == "NO-GO"


async def test_a_program_that_does_not_exist_fails_its_step_cleanly(deploy: Deploy):
    launch = load_launch(deploy.config([{"name": "missing", "run": [str(deploy.root / "no-such-program")]}]))
    with DecisionLog(deploy.log, DANA) as log:
        assert await runner(launch, log).run("test") is False
    [step] = finished_steps(deploy.log)
    assert step["status"] == "failed" and step["exit_code"] is None and "could not start" in step["detail"]


async def test_observer_and_not_allowed_actors_are_refused_and_recorded(deploy: Deploy):
    launch = load_launch(deploy.config([deploy.rollback_step()]))
    with DecisionLog(deploy.log, DANA) as log:
        r = runner(launch, log)
        assert r.refusal(["commander"], observer=False) is None
        assert "observer" in (r.refusal(["commander"], observer=True) or "")
        assert await r.run("pressed on an observer console", observer=True) is False
        assert await runner(launch, log, EVE).run("not allowed") is False
    assert deploy.served() == "v2"
    refused = [d["reason"] for d in rollback_events(deploy.log) if d["phase"] == "refused"]
    assert len(refused) == 2
    assert "observer console" in refused[0]
    assert "eve may not roll back" in refused[1]
    assert "started" not in phases(deploy.log)


async def test_second_runner_in_the_same_process_is_refused(deploy: Deploy):
    release = deploy.root / "release"
    wait = py_step(
        "wait",
        "import pathlib, sys, time\nwhile not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.05)\n",
        str(release),
    )
    launch = load_launch(deploy.config([wait], verify=None))
    with DecisionLog(deploy.log, DANA) as log:
        first = asyncio.create_task(runner(launch, log).run("first"))
        for _ in range(400):
            if "step_started" in phases(deploy.log):
                break
            await asyncio.sleep(0.05)
        assert await runner(launch, log).run("second") is False
        release.write_text("go")
        assert await first is True
    refused = [d for d in rollback_events(deploy.log) if d["phase"] == "refused"]
    assert len(refused) == 1 and f"pid {os.getpid()}" in refused[0]["reason"]


async def test_cancelling_a_run_kills_the_step_records_it_and_frees_the_lock(deploy: Deploy):
    pids = deploy.root / "pids"
    launch = load_launch(
        deploy.config(
            [
                py_step(
                    "long",
                    "import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(60)\n",
                    str(pids),
                    timeout="60s",
                )
            ],
            verify=None,
        )
    )
    with DecisionLog(deploy.log, DANA) as log:
        task = asyncio.create_task(runner(launch, log).run("cancel me"))
        for _ in range(400):
            if pids.exists() and pids.read_text():
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    wait_for("the cancelled step's process to be gone", lambda: not alive(int(pids.read_text())))
    assert rollback_events(deploy.log)[-1]["reason"].startswith("cancelled")
    lock = FileLock(lock_path(deploy.log, Lock.ROLLBACK))
    assert lock.try_acquire()
    lock.release()


def test_a_runner_that_died_mid_run_blocks_while_its_step_lives_then_is_recorded_as_failed(deploy: Deploy):
    pidfile = deploy.root / "step.pid"
    hold = py_step(
        "hangs",
        "import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(60)\n",
        str(pidfile),
        timeout="60s",
    )
    cfg = deploy.config([hold], verify=None)
    args = ("rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", LAUNCH_ID)
    first = deploy.spawn(*args)
    try:
        wait_for("the step to write its pid", lambda: pidfile.exists() and pidfile.read_text() != "")
        step_pid = int(pidfile.read_text())
        first.send_signal(signal.SIGKILL)  # the console dies (e.g. its SSH session dropped) ...
        first.communicate(timeout=10)
        assert alive(step_pid)  # ... but the step it started runs on in its own session
        launch = fold(load_launch(cfg), read_log(deploy.log).events)
        assert launch.rollback.status == "running"
        launch2 = load_launch(deploy.config([py_step("quick", "pass")], verify=None, name="again.yaml"))
        with DecisionLog(deploy.log, DANA) as log:
            assert asyncio.run(runner(launch2, log).run("while the orphan runs")) is False
            refused = rollback_events(deploy.log)[-1]
            assert refused["phase"] == "refused" and refused["orphan_pgid"] == step_pid
            os.killpg(step_pid, signal.SIGKILL)
            wait_for("the killed orphan step to be gone", lambda: not alive(step_pid))
            assert asyncio.run(runner(launch2, log).run("again")) is True
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=10)
        if pidfile.exists() and pidfile.read_text():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
    events = rollback_events(deploy.log)
    interrupted = [d for d in events if d.get("interrupted")]
    assert len(interrupted) == 1 and f"pid {first.pid}" in interrupted[0]["reason"]
    assert fold(load_launch(cfg), read_log(deploy.log).events).rollback.status == "succeeded"


# ---------------------------------------------------------------- output and untrusted data


async def test_output_is_batched_trimmed_and_cleaned(deploy: Deploy):
    noisy = (
        "import sys\n"
        "sys.stdout.buffer.write(b'nul\\x00byte bad\\xff\\xfeutf8 \\x1b[31mred\\n')\n"
        "for i in range(3000): print('line', i)\n"
        "print('x' * 5000)\n"
        "print('last line')\n"
    )
    launch = load_launch(deploy.config([py_step("noisy", noisy)], verify=None))
    live: list[str] = []
    with DecisionLog(deploy.log, DANA) as log:
        assert await runner(launch, log, on_output=lambda i, lines: live.extend(lines)).run("test") is True
    lines = step_output(deploy.log, 0)
    assert len(lines) <= LOG_LINES + 1
    assert lines[0] == "nul" + "byte bad\ufffd\ufffdutf8 \x1b[31mred"  # NUL gone, bad bytes replaced, ESC kept as-is
    assert lines[1] == "line 0"
    assert lines[-1] == "last line"
    assert lines[-2].startswith("x" * 1000) and "4000 more characters cut" in lines[-2]
    cut = [ln for ln in lines if ln.startswith("[warroom] …")]
    assert len(cut) == 1 and "lines" in cut[0] and "not recorded here" in cut[0]
    assert sum(len(ln) for ln in lines) < 20_000
    assert len(live) == 3003  # the live hook saw everything
    batches = [d for d in rollback_events(deploy.log) if d["phase"] == "step_output"]
    assert len(batches) >= 2 and any("cut" in b for b in batches)


async def test_triggering_values_never_reach_a_command_line(deploy: Deploy):
    """Steps run verbatim: no templating of observed data into argv or environment."""
    pwned = deploy.root / "pwned"
    echo = (
        "import json, os, sys\n"
        "print(json.dumps(sys.argv[1:]))\n"
        "print(json.dumps(sorted(k for k in os.environ if k.startswith('WR'))))\n"
    )
    steps = [
        py_step("echo argv", echo, "{value}", "$VALUE", "{{ labels.alertname }}", "%(criterion)s"),
        {"name": "shell", "shell": 'echo "$WR_FIXED" {value}', "env": {"WR_FIXED": "fixed"}},
    ]
    launch = load_launch(deploy.config(steps, verify=None, auto_allowed=True))
    evil = f"$(touch {pwned}); `touch {pwned}`"
    triggering = {
        "criteria": {
            "error-rate": {
                "name": evil,
                "value": 7.5,
                "shown": evil,
                "since": 1.0,
                "reason": evil,
                "labels": {"alertname": evil},
            }
        }
    }
    with DecisionLog(deploy.log, DANA) as log:
        assert await runner(launch, log).run(evil, automatic=True, triggering=triggering) is True
    assert not pwned.exists()
    assert step_output(deploy.log, 0) == [
        '["{value}", "$VALUE", "{{ labels.alertname }}", "%(criterion)s"]',
        "[]",
    ]  # no environment from the data either
    assert step_output(deploy.log, 1) == ["fixed {value}"]
    started = [d for d in rollback_events(deploy.log) if d["phase"] == "step_started"]
    assert started[0]["argv"] == launch.rollback.steps[0].run
    assert started[1]["argv"] == ["/bin/sh", "-c", launch.rollback.steps[1].shell]
    requested = rollback_events(deploy.log)[0]
    assert requested["triggering"] == triggering  # recorded as evidence, verbatim


def test_plan_text_shows_exactly_what_will_run(deploy: Deploy):
    steps = [
        deploy.rollback_step(cwd=str(deploy.root), env={"KUBECONFIG": "/etc/k", "TOKEN": "s3cret"}),
        {"name": "purge cache", "shell": "curl -X PURGE 'https://cdn/a b'", "timeout": "45s"},
    ]
    plan = plan_text(load_launch(deploy.config(steps)))
    text = "\n".join(plan)
    assert f"1. flip current to v1\n   run:     {deploy.script} v1\n   cwd:     {deploy.root}\n" in text
    assert "env:     KUBECONFIG, TOKEN" in text and "s3cret" not in text
    assert "2. purge cache\n   shell:   /bin/sh -c 'curl -X PURGE '\"'\"'https://cdn/a b'\"'\"''" in text
    assert "timeout: 45 s" in text
    assert "must exit 0 within 20 s" in plan[-1]


# ---------------------------------------------------------------- verify by criterion


async def test_verify_by_criterion_waits_for_a_fresh_go_sample_in_the_log(deploy: Deploy):
    launch = load_launch(deploy.config([deploy.rollback_step()], verify={"criterion": "error-rate", "within": "20s"}))
    with DecisionLog(deploy.log, DANA) as log:
        for t in (1.0, 2.0):
            log.append("sample", {"criterion": "error-rate", "value": 9.0, "t": time.time() - t})
        task = asyncio.create_task(runner(launch, log).run("verify by criterion"))
        for _ in range(400):
            if any(d.get("status") == "running" for d in rollback_events(deploy.log) if d["phase"] == "verify"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)
        assert not task.done()  # no fresh sample yet: still waiting
        # the recorder (here: this test) appends a good sample once the old version serves again
        assert deploy.served() == "v1"
        log.append("sample", {"criterion": "error-rate", "value": 0.05, "t": time.time()})
        assert await asyncio.wait_for(task, 10) is True
    verify = [d for d in rollback_events(deploy.log) if d["phase"] == "verify"][-1]
    assert verify["status"] == "passed" and "Error rate is GO" in verify["detail"]


async def test_verify_by_criterion_fails_when_no_go_arrives_in_time(deploy: Deploy):
    launch = load_launch(deploy.config([deploy.rollback_step()], verify={"criterion": "error-rate", "within": "1s"}))
    with DecisionLog(deploy.log, DANA) as log:
        log.append("sample", {"criterion": "error-rate", "value": 0.05, "t": time.time()})  # GO, but from before
        assert await runner(launch, log).run("verify by criterion") is False
    verify = [d for d in rollback_events(deploy.log) if d["phase"] == "verify"][-1]
    assert verify["status"] == "failed" and "no new sample arrived" in verify["detail"]
    state = fold(launch, read_log(deploy.log).events)
    assert state.rollback.status == "failed" and state.rollback.verify == "failed"
    assert view(state, time.time()).status == "NO-GO"


def test_fold_records_recommendation_choices_and_step_durations(deploy: Deploy):
    launch = load_launch(deploy.config())
    with DecisionLog(deploy.log, DANA) as log:
        log.append("rollback", {"phase": "recommendation", "choice": "hold", "criterion": "error-rate"})
        log.append("rollback", {"phase": "started", "steps": ["a"], "reason": "r"})
        log.append("rollback", {"phase": "step_finished", "index": 0, "exit_code": 0, "status": "ok", "duration": 1.25})
    state = fold(launch, read_log(deploy.log).events)
    texts = [e.text for e in state.timeline]
    assert "rollback recommendation (error-rate): commander chose hold" in texts
    assert "rollback step 1 'a': ok (exit 0, 1.2s)" in texts
    assert state.rollback.steps[0].duration == 1.25
