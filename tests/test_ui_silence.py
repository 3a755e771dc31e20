"""The console's key for an ack's silence: `A` asks the recording console to expire it (an event in the log,
which recorder/silences.py acts on: tests/test_silences.py), from the key and the palette; an observer
changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from ui_scenario import NOW, ROOT_ACTOR, Clock, caught_up, demo_launch, write_scenario

from warroom.core.events import SYSTEM
from warroom.store.log import DecisionLog, read_log
from warroom.ui.app import WarroomApp

SIZE = (160, 48)


@pytest.fixture
def silenced(tmp_path: Path) -> Path:
    """The UI scenario, with its Alertmanager alert acknowledged and silenced by the recorder."""
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    with DecisionLog(path, ROOT_ACTOR, clock=lambda: NOW) as dl:
        dl.append("ack", {"alert": "am:f00d"})
        dl.append("silence", {"state": "created", "alert": "am:f00d", "id": "5il-1", "by": "root"}, actor=SYSTEM)
    return path


def notes(app: WarroomApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


@pytest.mark.parametrize("how", ["key", "palette"])
async def test_expire_key_asks_for_the_silence_to_go(silenced: Path, how: str) -> None:
    app = WarroomApp(demo_launch(), log_path=silenced, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=SIZE) as pilot:
        await caught_up(app, pilot, silenced)
        if how == "key":
            await pilot.press("A")
        else:
            await app.run_action("unsilence")
        await pilot.pause()
        ev = read_log(silenced).events[-1]
        assert (ev.kind, ev.data) == ("silence", {"state": "expire_requested", "alert": "am:f00d", "id": "5il-1"})
        assert ev.actor == ROOT_ACTOR
        assert "expiring silence 5il-1" in notes(app)


async def test_observer_cannot_expire(silenced: Path) -> None:
    app = WarroomApp(
        demo_launch(), log_path=silenced, actor=ROOT_ACTOR, clock=Clock(NOW), record=False, mode="observer"
    )
    size = silenced.stat().st_size
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("A")
        await pilot.pause()
        assert "read only" in notes(app)
    assert silenced.stat().st_size == size
