"""A success metric measured outside Prometheus, entered in the console (Pilot) by its owner, in the report."""

from __future__ import annotations

from pathlib import Path

from ui_scenario import NOW, SECURITY, Clock, demo_launch, write_scenario

from warroom.report.build import build_report, to_json
from warroom.store.log import read_log
from warroom.ui.app import WarroomApp
from warroom.ui.measure import MeasureScreen


async def test_a_measurement_entered_in_the_console_reaches_the_report_with_its_author(tmp_path: Path):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=SECURITY, clock=Clock(NOW), record=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("M")
        await pilot.pause()
        assert isinstance(app.screen, MeasureScreen)
        await pilot.press(*"abc", "enter")  # not a number: said in the dialog, nothing recorded
        await pilot.pause()
        assert isinstance(app.screen, MeasureScreen)
        assert not [e for e in read_log(path).events if e.kind == "measurement"]
        for _ in range(3):
            await pilot.press("backspace")
        await pilot.press(*"99.7", "tab", *"week 1", "tab", *"https://survey/1", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, MeasureScreen)
    (ev,) = [e for e in read_log(path).events if e.kind == "measurement"]
    assert ev.actor == SECURITY
    assert ev.data == {
        "metric": "cfur-week",
        "value": 99.7,
        "period": "week 1",
        "source": "manual",
        "link": "https://survey/1",
    }
    m = next(m for m in to_json(build_report(path))["success_metrics"] if m["id"] == "cfur-week")
    (row,) = m["measurements"]
    assert row["by"].startswith("security") and row["status"] == "MISSED"  # 99.7 % is below ">= 99.8%"
    assert m["status"] == "MISSED" and "entered by security" in m["origin"]
