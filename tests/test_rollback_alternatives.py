"""Named rollback procedures on the real deploy fixture: the primary's tool is missing, the alternative goes back."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from deploy_fixture import LAUNCH_ID, Deploy, fixture_deploy

from warroom.log import read_log

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
