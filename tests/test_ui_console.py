"""The console as a screen fed by a driver: live and replay draw one log the same way, writes are refused in one
gate (keys and palette alike), and the layout follows the terminal's size, also when it changes under a dialog."""

from __future__ import annotations

from pathlib import Path

import pytest
from ui_scenario import NOW, ROOT_ACTOR, Clock, FoldReplay, demo_launch, screen_text, until, write_scenario

from warroom.ui.app import WarroomApp
from warroom.ui.modals import HelpScreen

WIDE, SMALL = (160, 48), (80, 24)
TABS = "1 Go/No-go"  # the tab bar's label (the wide layout's panel title reads "1 Go / No-go")
PANEL_IDS = ("gates", "checklist", "alerts", "signoffs", "rollback", "log")


def rows(app: WarroomApp) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """What each panel's table shows, as plain text (keys and cells)."""
    return {pid: [(r.key, tuple(str(c) for c in r.cells)) for r in app.panel(pid).table.rows] for pid in PANEL_IDS}


async def test_live_and_replay_draw_one_log_the_same(tmp_path: Path):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    rp = FoldReplay(path)
    live = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, mode="observer", clock=Clock(rp.end))
    async with live.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: live.frame is not None, "the first frame")
        assert live.frame is not None
        live_verdict, live_rows = live.frame.verdict, rows(live)
    replay = WarroomApp(rp.launch, log_path=None, actor=ROOT_ACTOR, mode="replay", replay=rp, at="T+00:07:30")
    async with replay.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: replay.frame is not None and replay.now() == rp.end, "the playhead at the end")
        assert replay.frame is not None
        assert replay.frame.verdict == live_verdict
        assert rows(replay) == live_rows
        assert replay.frame.info.mode == "replay" and replay.frame.position is not None
    assert live.frame.position is None


@pytest.mark.parametrize("action", ["note", "signoff", "rollback"])
async def test_an_observer_is_refused_from_the_palette_as_from_the_key(tmp_path: Path, action: str):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    size = path.stat().st_size
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, mode="observer", clock=Clock(NOW), record=False)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.frame is not None, "the first frame")
        assert await app.run_action(action)  # what a palette entry does
        await pilot.pause()
        assert app.screen is app.screen_stack[0], f"{action} opened a dialog on an observer console"
        said = [str(n.message) for n in app._notifications]
        assert any("OBSERVER console: read only (--observer)" in m for m in said), said
    assert path.stat().st_size == size, "an observer appended to the log"


async def test_the_layout_follows_the_terminal_also_under_a_dialog(tmp_path: Path):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, mode="observer", clock=Clock(NOW), record=False)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.frame is not None, "the first frame")
        assert TABS not in screen_text(app), "a wide terminal shows every panel, no tab bar"
        await pilot.resize_terminal(*SMALL)
        await until(pilot, lambda: TABS in screen_text(app), "the tab bar on a small terminal")
        await pilot.resize_terminal(*WIDE)
        await until(pilot, lambda: TABS not in screen_text(app), "every panel again")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await pilot.resize_terminal(*SMALL)  # under the dialog
        await pilot.pause()
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.screen_stack[0], "the help screen closed")
        await until(pilot, lambda: TABS in screen_text(app), "the tab bar after a resize under the dialog")


LONG_REASON = (
    "the payment provider's sandbox keeps timing out on refunds and we hold the launch until their status page "
    "has been green for a full hour"
)


@pytest.mark.parametrize("size", [SMALL, WIDE])
async def test_a_long_reason_ends_in_an_ellipsis_before_the_hint(tmp_path: Path, size: tuple[int, int]):
    """The header's why line cuts a long free-text reason where the line has room, and keeps the r hint."""
    from warroom.store.log import DecisionLog

    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    with DecisionLog(path, ROOT_ACTOR, Clock(NOW - 5)) as log:
        log.append("decision", {"verdict": "NO-GO", "reason": LONG_REASON})
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: "why: commander decided NO-GO" in screen_text(app), "the decision as the reason")
        assert app.frame is not None
        more = len(app.frame.verdict.reasons) - 1
        assert more > 0
        line = next(ln for ln in screen_text(app).splitlines() if "why: " in ln).rstrip()
        shown = line[line.index("why: ") :]
        assert shown.endswith(f"…  +{more} more (r)"), shown
        cut = shown[len("why: commander decided NO-GO: ") : shown.index("…")]
        assert cut and LONG_REASON.startswith(cut), shown
        assert len(line) <= size[0]


async def test_a_console_started_without_the_garbage_collector_turns_it_on_after_its_first_frame(tmp_path: Path):
    """`warroom run` starts with the cyclic collector off (warroom.cli.QUIET_START): the console turns it back on
    once its first frame is drawn, or it would stay off for the whole launch."""
    import gc

    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    gc.disable()
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: "console opened" in screen_text(app), "the first frame")
            await until(pilot, gc.isenabled, "the collector on again")
    finally:
        gc.enable()
        gc.unfreeze()
