"""The rollback button in the real console (Pilot) against the real deploy fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_fixture import LAUNCH_ID, Deploy, fixture_deploy
from textual.widget import Widget
from textual.widgets import Static

from warroom.config import load_launch
from warroom.core.events import Actor
from warroom.store.log import read_log
from warroom.ui.app import WarroomApp
from warroom.ui.modals import RollbackScreen

__all__ = ["fixture_deploy"]  # the `deploy` fixture

DANA = Actor(user="ci", host="bastion", name="dana")  # commander in the fixture config
WIDE = (160, 48)


def screen_text(app: WarroomApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def shown_text(widget: Widget) -> list[str]:
    """The text of every Static under `widget`, each whole: what it says, however the terminal wraps it."""
    return [str(s.content) for s in widget.query(Static)]


def step_cells(app: WarroomApp, index: int) -> list[str]:
    """The rollback panel's row for step `index`, cell by cell (Step, Status, Exit, Took)."""
    row = next(r for r in app.panel("rollback").table.rows if r.key == f"step:{index}")
    return [cell.plain for cell in row.cells]


def rollback_events(path: Path) -> list[dict]:
    return [ev.data for ev in read_log(path).events if ev.kind == "rollback"]


def console(deploy: Deploy, cfg: Path, **kw) -> WarroomApp:
    return WarroomApp(
        load_launch(cfg),
        log_path=deploy.log,
        actor=kw.pop("actor", DANA),
        record=kw.pop("record", False),
        config_text=cfg.read_text(),
        config_path=str(cfg),
        **kw,
    )


async def test_pressing_rollback_typing_the_id_and_confirming_rolls_the_deploy_back(deploy: Deploy):
    cfg = deploy.config()
    app = console(deploy, cfg)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("R")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, RollbackScreen)
        # the plan shows exactly what will run (the dialog wraps it to the terminal; read it whole)
        assert any(f"{deploy.script} v1" in line for line in shown_text(dialog.query_one("#plan")))
        await pilot.press(*LAUNCH_ID[:-1], "enter")  # not the full id: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, RollbackScreen)
        assert deploy.served() == "v2" and rollback_events(deploy.log) == []
        await pilot.press(LAUNCH_ID[-1], "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)  # the console reads its own events back from the log
        assert deploy.served() == "v1"
        assert "SUCCEEDED" in screen_text(app)
        assert step_cells(app, 0)[:3] == ["1. flip current to v1", "ok", "0"]
    events = rollback_events(deploy.log)
    assert [d["phase"] for d in events if d["phase"] != "step_output" and d["phase"] != "verify_output"] == [
        "requested",
        "started",
        "step_started",
        "step_finished",
        "verify",
        "verify",
        "finished",
    ]
    finished_step = next(d for d in events if d["phase"] == "step_finished")
    assert finished_step["exit_code"] == 0 and finished_step["status"] == "ok"
    assert next(d for d in reversed(events) if d["phase"] == "verify")["status"] == "passed"
    assert events[-1]["ok"] is True
    assert read_log(deploy.log).events[-1].kind == "session"  # closed cleanly after the run


async def test_observer_console_cannot_roll_back(deploy: Deploy):
    cfg = deploy.config()
    app = console(deploy, cfg, mode="observer")
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("R")
        await pilot.pause()
        assert not isinstance(app.screen, RollbackScreen)
        assert any("observer" in str(n.message) for n in app._notifications)
    assert deploy.served() == "v2"
    assert not deploy.log.exists() or rollback_events(deploy.log) == []


@pytest.mark.slow
async def test_recording_console_rolls_back_automatically_once_on_a_breach(deploy: Deploy):
    # the error rate steps from 0.05% to 9% two seconds in; the trigger (> 5% for 2 samples) is in auto mode
    cfg = deploy.config(auto_allowed=True, errors={"base": 0.05, "steps": [{"at": "2s", "value": 9.0}]})
    app = console(deploy, cfg, record=True)
    async with app.run_test(size=WIDE) as pilot:
        for _ in range(300):
            await pilot.pause(0.1)
            if any(d["phase"] == "finished" for d in rollback_events(deploy.log)):
                break
        assert deploy.served() == "v1"
        for _ in range(20):  # the breach goes on; the console keeps ticking and must not fire again
            await pilot.pause(0.1)
        await pilot.pause(0.3)
        assert "AUTOMATICALLY" in screen_text(app).upper()
    events = read_log(deploy.log).events
    requested = [ev for ev in events if ev.kind == "rollback" and ev.data["phase"] == "requested"]
    assert len(requested) == 1
    assert requested[0].data["automatic"] is True and requested[0].actor.name == "auto-rollback"
    trig = requested[0].data["triggering"]["criteria"]["error-rate"]
    assert trig["value"] == 9.0
    samples = [ev.data for ev in events if ev.kind == "sample"]
    assert [s["value"] for s in samples].count(9.0) >= 2  # it fired on recorded data, after the 2nd breaching sample
    assert rollback_events(deploy.log)[-1] == {"phase": "finished", "ok": True, "reason": "", "dry_run": False}
