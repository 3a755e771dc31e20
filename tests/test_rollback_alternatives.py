"""Named rollback procedures on the real deploy fixture: the primary's tool is missing, the alternative goes back."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from deploy_fixture import LAUNCH_ID, Deploy, fixture_deploy
from ui_scenario import panel_text

from warroom.store.log import read_log

__all__ = ["fixture_deploy"]  # the `deploy` fixture

PY = sys.executable
MISSING_TOOL = "kubectl-not-installed-here"


def rollback_events(path: Path) -> list[dict[str, Any]]:
    return [ev.data for ev in read_log(path).events if ev.kind == "rollback"]


def phases(path: Path) -> list[str]:
    return [d["phase"] for d in rollback_events(path) if d["phase"] not in ("step_output", "verify_output")]


def two_ways_back(deploy: Deploy, *, steps: list[dict[str, Any]] | None = None, **param: Any) -> Path:
    """A primary whose tool is not installed, and an alternative that flips `current` to the release asked for."""
    prm = {"name": "VERSION", "description": "the release to go back to", **param}
    if "pattern" not in param and "choices_command" not in param:
        prm["choices_command"] = ["ls", "releases"]
        prm["cwd"] = str(deploy.root)
    alt = {
        "id": "flip",
        "description": "when the cluster is down: flip the current symlink by hand",
        "params": [prm],
        "steps": steps or [{"name": "flip current", "run": [str(deploy.script), "${VERSION}"], "timeout": "20s"}],
    }
    primary = [{"name": "undo the rollout", "run": [MISSING_TOOL, "rollout", "undo", "deployment/app"]}]
    return deploy.config(primary, alternatives=[alt])


def rollback(deploy: Deploy, cfg: Path, *args: str) -> Any:
    return deploy.warroom(
        "rollback", str(cfg), "--log", str(deploy.log), "--as", "dana", "--yes-i-mean-it", LAUNCH_ID, *args
    )


def test_primary_fails_on_a_missing_tool_then_the_chosen_alternative_serves_the_old_version(deploy: Deploy):
    cfg = two_ways_back(deploy)
    first = rollback(deploy, cfg)
    assert first.returncode == 1, first.stdout + first.stderr
    assert MISSING_TOOL in first.stdout and "ROLLBACK FAILED" in first.stdout
    assert deploy.served() == "v2"

    second = rollback(deploy, cfg, "--procedure", "flip", "--set", "VERSION=v1")
    assert second.returncode == 0, second.stdout + second.stderr
    assert deploy.served() == "v1"
    assert "started procedure 'flip' with VERSION=v1" in second.stdout

    events = [ev for ev in read_log(deploy.log).events if ev.kind == "rollback"]
    requested = [ev for ev in events if ev.data["phase"] == "requested"]
    assert [(r.data["procedure"], r.data["values"]) for r in requested] == [
        ("primary", {}),
        ("flip", {"VERSION": "v1"}),
    ]
    assert all(r.actor.name == "dana" for r in requested)  # who chose it
    started = [ev.data for ev in events if ev.data["phase"] == "started"]
    assert [(s["procedure"], s["values"]) for s in started] == [("primary", {}), ("flip", {"VERSION": "v1"})]
    step = [ev.data for ev in events if ev.data["phase"] == "step_started"][-1]
    assert step["argv"] == [str(deploy.script), "v1"]
    assert "VERSION" in step["env_keys"]
    assert [ev.data["ok"] for ev in events if ev.data["phase"] == "finished"] == [False, True]

    md = deploy.warroom("report", str(deploy.log))
    assert md.returncode == 0, md.stderr
    assert "procedure 'primary', chosen by dana" in md.stdout
    assert "procedure 'flip' with VERSION = 'v1', chosen by dana" in md.stdout
    rep = json.loads(deploy.warroom("report", "--format", "json", str(deploy.log)).stdout)
    runs = [(r["procedure"], r["chosen_by"], r["values"], r["status"]) for r in rep["rollbacks"]]
    assert [(p, v, s) for p, _, v, s in runs] == [("primary", {}, "failed"), ("flip", {"VERSION": "v1"}, "succeeded")]
    assert all("dana" in by for _, by, _, _ in runs)


def test_a_value_outside_the_allowed_list_is_refused_before_anything_runs(deploy: Deploy):
    marker = deploy.root / "ran"
    touch = {"name": "touch", "run": [PY, "-c", "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()", str(marker)]}
    cfg = two_ways_back(deploy, steps=[touch, deploy.rollback_step("v1")])
    r = rollback(deploy, cfg, "--procedure", "flip", "--set", "VERSION=v9")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REFUSED" in r.stdout and "v9" in r.stdout and "not one of the allowed values" in r.stdout
    assert phases(deploy.log) == ["requested", "refused"]
    assert rollback_events(deploy.log)[0]["values"] == {"VERSION": "v9"}
    assert not marker.exists()
    assert deploy.served() == "v2"


def test_a_missing_or_unknown_value_and_an_unknown_procedure_are_refused(deploy: Deploy):
    cfg = two_ways_back(deploy)
    r = rollback(deploy, cfg, "--procedure", "flip")
    assert r.returncode == 1 and "needs VERSION" in r.stdout, r.stdout + r.stderr
    r = rollback(deploy, cfg, "--procedure", "flip", "--set", "VERSION=v1", "--set", "PATH=/tmp")
    assert r.returncode == 1 and "does not ask for PATH" in r.stdout, r.stdout + r.stderr
    r = rollback(deploy, cfg, "--procedure", "helm")
    assert r.returncode == 2 and "choose one of primary, flip" in r.stderr, r.stdout + r.stderr
    assert phases(deploy.log) == ["requested", "refused", "requested", "refused"]
    assert deploy.served() == "v2"


def test_shell_metacharacters_in_a_value_reach_the_step_as_one_literal_argument(deploy: Deploy, tmp_path: Path):
    pwned = tmp_path / "pwned"
    value = f"v1; touch {pwned}-$$ && touch {pwned} `touch {pwned}` $(touch {pwned})"
    seen = deploy.root / "seen.json"
    record = "import json, os, sys; json.dump([sys.argv[1:], os.environ['VERSION']], open(sys.argv[1], 'w'))"
    env_echo = f'printf "%s" "$VERSION" > {deploy.root}/env.txt'
    steps = [
        {"name": "record argv", "run": [PY, "-c", record, str(seen), "${VERSION}"]},
        {"name": "record env through a shell", "shell": env_echo},
    ]
    cfg = two_ways_back(deploy, steps=steps, pattern=".+")
    r = rollback(deploy, cfg, "--procedure", "flip", "--set", f"VERSION={value}")
    assert [d["status"] for d in rollback_events(deploy.log) if d["phase"] == "step_finished"] == ["ok", "ok"]
    argv, env = json.loads(seen.read_text())
    assert argv == [str(seen), value]  # one argument, exactly as given
    assert env == value
    assert (deploy.root / "env.txt").read_text() == value
    assert not list(tmp_path.glob("pwned*")), "a value was run as shell text"
    assert deploy.served() == "v2"  # verify fails: nothing flipped, and the run says so
    assert r.returncode == 1


# ---------------------------------------------------------------- the console


async def test_console_offers_the_alternative_after_the_primary_fails_and_it_rolls_back(deploy: Deploy):
    from textual.widgets import Static

    from warroom.config import load_launch
    from warroom.core.events import Actor
    from warroom.ui.app import WarroomApp
    from warroom.ui.modals import ProcedureScreen, RollbackScreen

    def shown(widget: Any) -> str:
        return "\n".join(str(s.content) for s in widget.query(Static))

    cfg = two_ways_back(deploy)
    app = WarroomApp(
        load_launch(cfg),
        log_path=deploy.log,
        actor=Actor(user="ci", host="bastion", name="dana"),
        record=False,
        config_text=cfg.read_text(),
        config_path=str(cfg),
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("R")
        await pilot.pause()
        chooser = app.screen
        assert isinstance(chooser, ProcedureScreen)
        text = shown(chooser)
        assert f"{MISSING_TOOL} rollout undo deployment/app" in text  # what the primary runs
        assert f"{deploy.script} '${{VERSION}}'" in text  # what the alternative runs
        await pilot.press("1")  # the primary
        await pilot.pause()
        assert isinstance(app.screen, RollbackScreen)
        await pilot.press(*LAUNCH_ID, "enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        offer = app.screen
        assert isinstance(offer, ProcedureScreen), "a failed primary offers the alternatives at once"
        text = shown(offer)
        assert "could not start kubectl-not-installed-here" in text  # the failure's output beside them
        assert "flip" in text and "1. primary" not in text
        await pilot.press("1")  # the only alternative
        await app.workers.wait_for_complete()  # its allowed values are listed off the UI thread
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, RollbackScreen)
        await pilot.press("v", "9")
        await pilot.pause()
        assert f"{deploy.script} v9" in shown(dialog.query_one("#plan"))  # the plan as it will run
        await pilot.press("tab", "tab", *LAUNCH_ID, "enter")
        await pilot.pause()
        assert isinstance(app.screen, RollbackScreen), "v9 is not a release: refused in the dialog"
        assert "not one of the allowed values" in shown(dialog)
        dialog.query_one("#value-0").value = "v1"
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        assert deploy.served() == "v1"
        rollback = panel_text(app, "rollback")  # the status over several lines, the actor whole on its own
        assert "SUCCEEDED procedure flip VERSION=v1" in rollback and "by dana [claimed] (ci@bastion)" in rollback
    started = [d for d in rollback_events(deploy.log) if d["phase"] == "started"]
    assert [(d["procedure"], d["values"]) for d in started] == [("primary", {}), ("flip", {"VERSION": "v1"})]
    assert [d["ok"] for d in rollback_events(deploy.log) if d["phase"] == "finished"] == [False, True]


# ---------------------------------------------------------------- auto-rollback


async def test_auto_rollback_runs_only_the_primary_and_a_failure_recommends_the_alternative(deploy: Deploy):
    from warroom.config import load_launch
    from warroom.core.events import Actor
    from warroom.core.state import fold
    from warroom.rollback.runner import RollbackRunner
    from warroom.store.log import DecisionLog

    cfg = two_ways_back(deploy)
    cfg.write_text(cfg.read_text().replace("cooldown: 10m", "cooldown: 10m\n  auto_allowed: true"))
    launch = load_launch(cfg)
    assert launch.rollback.auto_allowed
    auto = Actor(user="ci", host="bastion", name="auto-rollback")
    with DecisionLog(deploy.log, auto) as log:
        runner = RollbackRunner(launch, log, auto, kill_grace=1.0)
        assert not await runner.run("breach", automatic=True, procedure="flip", values={"VERSION": "v1"})
        assert phases(deploy.log) == ["requested", "refused"]
        assert "only the primary" in rollback_events(deploy.log)[-1]["reason"]
        assert not await runner.run("breach", automatic=True)
    assert deploy.served() == "v2"  # nothing switched to the alternative by itself
    assert [d["procedure"] for d in rollback_events(deploy.log) if d["phase"] == "started"] == ["primary"]
    state = fold(launch, read_log(deploy.log).events)
    assert "another way back: flip" in state.alerts["rollback"].title
