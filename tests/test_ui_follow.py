"""How the console applies what it reads: an append by someone else wakes it (it does not wait for its poll
timer), and a panel that was off screen when the log moved shows the news as soon as it is switched to."""

from __future__ import annotations

from pathlib import Path

from ui_scenario import DEVOPS, NOW, ROOT_ACTOR, Clock, demo_launch, screen_text, until, write_scenario

from warroom.core.records import ItemMark, Note
from warroom.store.log import DecisionLog
from warroom.ui.app import WarroomApp

SMALL = (80, 24)  # one panel at a time
WIDE = (160, 48)
NEVER = 3600.0  # a poll timer that never fires during a test: only a wake-up can bring an append


def app_on(path: Path, clock: Clock, poll: float = 0.25) -> WarroomApp:
    return WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=clock, record=False, poll_interval=poll)


async def test_another_writers_append_shows_without_waiting_for_the_poll(tmp_path: Path) -> None:
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    clock = Clock(NOW)
    app = app_on(path, clock, poll=NEVER)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.frame is not None, "the first frame")
        assert "[x] Dashboards visible" not in screen_text(app)
        with DecisionLog(path, DEVOPS, clock) as other:  # another console on the same log
            other.append("check", ItemMark("dashboards").to_data())
            await until(pilot, lambda: "[x] Dashboards visible" in screen_text(app), "the other console's tick")
            other.append("note", Note("canary at 10%").to_data())
            await until(pilot, lambda: "canary at 10%" in screen_text(app), "the other console's note")


async def test_a_panel_shows_what_happened_while_it_was_off_screen(tmp_path: Path) -> None:
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    clock = Clock(NOW)
    app = app_on(path, clock)
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: app.frame is not None, "the first frame")
        await pilot.press("2")
        await pilot.pause()
        assert "╭─ 2 Checklist" in screen_text(app) and "[ ] Dashboards visible" in screen_text(app)
        with DecisionLog(path, DEVOPS, clock) as other:
            other.append("note", Note("freeze repo").to_data())
            await until(pilot, lambda: "freeze repo" in [e.text for e in app.state.timeline], "the note")
            other.append("check", ItemMark("dashboards").to_data())  # seen while the checklist is shown
            await until(pilot, lambda: "[x] Dashboards visible" in screen_text(app), "the tick on the checklist")
        await pilot.press("6")
        await until(pilot, lambda: "╭─ 6 Decision log" in screen_text(app), "the decision log panel")
        assert "freeze repo" in screen_text(app)
        await pilot.press("2")
        await until(pilot, lambda: "╭─ 2 Checklist" in screen_text(app), "the checklist again")
        assert "[x] Dashboards visible" in screen_text(app)
        await pilot.resize_terminal(*WIDE)  # every panel on screen: each one up to date
        await until(pilot, lambda: "Decision log" in screen_text(app) and "Alerts" in screen_text(app), "all panels")
        text = screen_text(app)
        assert "freeze repo" in text and "[x] Dashboards visible" in text
