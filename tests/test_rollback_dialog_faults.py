"""The guarded rollback dialog when the log cannot be written after it was filled in: a real console (Pilot), a
real deploy (tests/deploy_fixture.py), and a log that fails for real between typing and confirming:

- a PostgreSQL log (tests/pgserver.py) whose server is stopped (by pid) with the dialog filled in;
- a file log on a small tmpfs that is filled up with the dialog filled in.

Confirming then keeps the dialog open with the reason and the launch id as typed and says why it was not
recorded; no step ran and nothing of the rollback is in the log. Once the log can be written again, the same
dialog's confirm records the request once and the rollback runs (its real step flips the deploy back).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pgserver
import pytest
from deploy_fixture import LAUNCH_ID, Deploy, fixture_deploy
from pgserver import store_events as events
from textual.widgets import Input, Static
from ui_scenario import until

from warroom.config import load_launch
from warroom.core.events import Actor
from warroom.store.log import DecisionLog
from warroom.store.open import open_reader
from warroom.ui.app import WarroomApp
from warroom.ui.modals import RollbackScreen

__all__ = ["fixture_deploy"]  # the `deploy` fixture

DANA = Actor(user="ci", host="bastion", name="dana")  # commander in the fixture config
REASON = "error rate [b]climbing[/b] after v2"  # markup-looking: shown as typed, never interpreted
pytestmark = [pytest.mark.slow]


def rollback_phases(uri: str) -> list[str]:
    return [ev.data["phase"] for ev in events(uri) if ev.kind == "rollback" and ev.data["phase"] != "step_output"]


def console(deploy: Deploy, cfg: Path, log: Any) -> WarroomApp:
    return WarroomApp(
        load_launch(cfg),
        log_path=log,
        actor=DANA,
        record=False,
        config_text=cfg.read_text(),
        config_path=str(cfg),
    )


def error_shown(dialog: RollbackScreen) -> str:
    return str(dialog.query_one("#error", Static).render())


async def fill_in(pilot: Any, app: WarroomApp) -> RollbackScreen:
    """Open the rollback dialog and type a reason and the launch id: ready to confirm."""
    await pilot.press("R")
    await until(pilot, lambda: isinstance(app.screen, RollbackScreen), "the rollback dialog")
    dialog = app.screen
    assert isinstance(dialog, RollbackScreen)
    dialog.query_one("#reason", Input).focus()
    await pilot.press(*REASON)
    dialog.query_one("#confirm-id", Input).focus()
    await pilot.press(*LAUNCH_ID)
    return dialog


async def refused_kept(pilot: Any, app: WarroomApp, dialog: RollbackScreen, deploy: Deploy, says: str) -> None:
    """Confirm: refused with why, the dialog open with what was typed, nothing run."""
    before = dialog.error
    dialog.error = ""
    await pilot.press("enter")
    await until(pilot, lambda: dialog.error != "" and not dialog.saving, "the refusal")
    assert app.screen is dialog, "the dialog closed though the request was not recorded"
    assert dialog.query_one("#reason", Input).value == REASON
    assert dialog.query_one("#confirm-id", Input).value == LAUNCH_ID
    shown = error_shown(dialog)
    assert "not recorded" in shown and says in shown and "nothing was run" in shown, (shown, before)
    assert "try again" in shown
    assert deploy.served() == "v2"  # no step ran
    # and nothing said elsewhere that it was (nor that a run is left for the next console to record)
    assert not [str(n.message) for n in app._notifications if "rollback" in str(n.message)]


async def confirm_until_recorded(pilot: Any, app: WarroomApp, dialog: RollbackScreen) -> None:
    """Confirm again until the dialog closes (the log may take a moment to be writable again)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        await pilot.press("enter")
        await until(pilot, lambda: not dialog.saving, "the attempt to end")
        if app.screen is not dialog:
            return
        assert loop.time() < deadline, error_shown(dialog)
        await pilot.pause(0.5)


async def test_a_rollback_confirmed_while_the_database_is_down_keeps_its_dialog_and_runs_once_it_returns(
    deploy: Deploy,
) -> None:
    from warroom.store.pg import parse_uri

    cfg = deploy.config()
    with pgserver.running() as own:
        uri = own.create_db("rollback_dialog") + f"#{LAUNCH_ID}"
        app = console(deploy, cfg, parse_uri(uri))
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.state.seq >= 2, "the console to bind the launch and open its session")
            beats: list[float] = []
            app.set_interval(0.05, lambda: beats.append(time.monotonic()))
            dialog = await fill_in(pilot, app)
            await asyncio.to_thread(own.stop)
            # at once: the console may not know yet (the runner's append finds out), or already know (its follower)
            started = time.monotonic()
            await refused_kept(pilot, app, dialog, deploy, "database")
            took = time.monotonic() - started
            # the console kept drawing while the request's append waited for the database (not on its loop)
            during = [b for b in beats if started <= b <= started + took]
            assert took < 1.0 or len(during) >= 5, (took, len(during))
            await until(pilot, lambda: "DATABASE UNREACHABLE" in app.driver.recorder_text(), "the header to say so")
            await refused_kept(pilot, app, dialog, deploy, "database cannot be reached")
            await asyncio.to_thread(own.start)
            await confirm_until_recorded(pilot, app, dialog)
            await until(pilot, lambda: app.state.rollback.status == "succeeded", "the rollback to finish", 60)
            assert deploy.served() == "v1"
            await app.workers.wait_for_complete()
        rollbacks = [ev for ev in events(uri) if ev.kind == "rollback"]
    requested = [ev.data for ev in rollbacks if ev.data["phase"] == "requested"]
    assert [d["reason"] for d in requested] == [REASON]  # once, though confirmed twice while it was down
    phases = [ev.data["phase"] for ev in rollbacks if ev.data["phase"] != "step_output"]
    assert phases[:4] == ["requested", "started", "step_started", "step_finished"] and phases[-1] == "finished"
    assert "refused" not in phases and rollbacks[-1].data["ok"] is True


@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[None]:
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


async def test_a_rollback_confirmed_on_a_full_disk_keeps_its_dialog_and_runs_once_there_is_room(
    deploy: Deploy, tmp_path: Path
) -> None:
    cfg = deploy.config()
    disk = tmp_path / "disk"
    with small_tmpfs(disk):
        log = disk / "launch.jsonl"
        filler = disk / "filler"
        app = console(deploy, cfg, log)
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.state.seq >= 1, "the console to open its session")
            dialog = await fill_in(pilot, app)

            def fill() -> None:  # the disk, then the room left in the log's last page (another writer's notes)
                with contextlib.suppress(OSError), open(filler, "wb") as f:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
                with contextlib.suppress(OSError), DecisionLog(log, Actor("filler", "bastion")) as other:
                    for _ in range(100):
                        other.append("note", {"text": "filling the last page " + "." * 100})

            await asyncio.to_thread(fill)
            await refused_kept(pilot, app, dialog, deploy, "No space left on device")
            await refused_kept(pilot, app, dialog, deploy, "No space left on device")  # again: still refused
            assert rollback_phases(str(log)) == []
            filler.unlink()
            await confirm_until_recorded(pilot, app, dialog)
            await until(pilot, lambda: app.state.rollback.status == "succeeded", "the rollback to finish", 60)
            assert deploy.served() == "v1"
            await app.workers.wait_for_complete()
        rollbacks = [ev for ev in events(str(log)) if ev.kind == "rollback"]
        ok = open_reader(str(log)).verify()
    assert ok.ok, ok.problem
    requested = [ev.data for ev in rollbacks if ev.data["phase"] == "requested"]
    assert [d["reason"] for d in requested] == [REASON]
    phases = [ev.data["phase"] for ev in rollbacks if ev.data["phase"] != "step_output"]
    assert phases[:4] == ["requested", "started", "step_started", "step_finished"] and phases[-1] == "finished"
    assert "refused" not in phases and rollbacks[-1].data["ok"] is True
