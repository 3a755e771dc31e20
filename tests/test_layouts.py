"""Layouts that adapt, and the wall in the console: asserted on the text a person reads, not on positions."""

from __future__ import annotations

from pathlib import Path

from ui_scenario import (
    DOCKER_STEPS,
    NOW,
    ROOT_ACTOR,
    T0,
    Clock,
    column_text,
    demo_launch,
    panel_text,
    screen_text,
    until,
    write_recon_rollback,
    write_scenario,
)

from warroom.config import load_launch
from warroom.core.events import Actor
from warroom.store.launchlog import with_t0
from warroom.store.log import read_log
from warroom.ui.app import WarroomApp
from warroom.ui.wall import WallApp, WallScreen

SPARK = "▁▂▃▄▅▆▇█·"
RECON = Path(__file__).resolve().parent.parent / "configs" / "reconciliation-platform.yaml"


def recon_app(tmp_path: Path) -> WarroomApp:
    launch = with_t0(load_launch(RECON), T0)
    return WarroomApp(
        launch,
        log_path=tmp_path / "recon.jsonl",
        actor=ROOT_ACTOR,
        clock=Clock(T0 - 1800),
        record=False,
        config_text=RECON.read_text(),
        config_path=str(RECON),
    )


async def test_no_checklist_item_is_cut_at_160x48(tmp_path):
    app = recon_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = app.console_screen.panel("checklist").table
        shown_items = [k[5:] for k in table.visible_keys if k.startswith("item:")]
        assert len(shown_items) >= 15  # the phases due now are open
        for item_id in shown_items:
            assert table.move_cursor_to_key(f"item:{item_id}")
            await pilot.pause()
            text = app.launch.items_by_id[item_id][2].text
            rows = [ln for ln in screen_text(app).splitlines() if f"[ ] {text}" in ln]
            assert rows, f"'{text}' is cut or missing"


async def test_nothing_is_cut_at_160x48_after_a_claimed_rollback(tmp_path):
    """Checklist items, rollback step names and the claimed actor who ran the rollback are read whole."""
    config = tmp_path / "recon.yaml"
    launch = write_recon_rollback(tmp_path / "recon.jsonl", config)
    app = WarroomApp(
        launch,
        log_path=tmp_path / "recon.jsonl",
        actor=ROOT_ACTOR,
        clock=Clock(T0 - 1800),
        record=False,
        config_text=config.read_text(),
        config_path=str(config),
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: "3. Start" in panel_text(app, "rollback"), "the rollback laid out")
        rollback = panel_text(app, "rollback")
        assert "SUCCEEDED procedure docker PREVIOUS_STABLE_VERSION=v2.3.1" in rollback
        assert "by dana [claimed] (ci@bastion)" in rollback  # the claim spelled out, the account beside it
        steps = column_text(app, "rollback", "Step", "Status")  # what is under the Step heading, read down
        for i, name in enumerate(DOCKER_STEPS):
            assert f"{i + 1}. {name}" in steps, f"step {i + 1} is cut or missing: {steps}"
        assert "…" not in rollback
        checklist = panel_text(app, "checklist")
        table = app.console_screen.panel("checklist").table
        shown_items = [k[5:] for k in table.visible_keys if k.startswith("item:")]
        assert len(shown_items) >= 10
        for item_id in shown_items[:10]:  # the rows on screen (the rest scroll)
            assert f"[ ] {launch.items_by_id[item_id][2].text}" in checklist
        assert "…" not in checklist


async def test_sparklines_span_their_column(tmp_path):
    """The trend shows as many recent points as its column has cells, at each width (the history is longer)."""
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=(160, 48)) as pilot:
        spans = []
        for size in ((160, 48), (200, 50)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            table = app.console_screen.panel("gates").table
            width = table.column_width("trend")
            assert width is not None and width > 12  # more than the fixed twelve points it had
            lines = screen_text(app).splitlines()
            header = next(ln for ln in lines if "Criterion" in ln and "Trend" in ln)
            start = header.index("Trend")
            assert app.frame is not None
            for cv in app.frame.verdict.criteria:
                row = next(ln for ln in lines if cv.criterion.name in ln and "│" in ln)
                cells = row[start : start + width + 1]
                assert len(cv.trend) >= width and all(c in SPARK for c in cells[:width]) and cells[width] == " ", (
                    f"{cv.criterion.name}: {cells!r} does not fill {width} cells"
                )
            spans.append(width)
        assert spans[1] > spans[0]  # a wider terminal: a longer history


async def test_labels_are_abbreviated_not_cut_at_80x24(tmp_path):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        lines = screen_text(app).splitlines()
        tabs = next(ln for ln in lines if "Sign" in ln and "Log" in ln)
        assert "Sign-offs 4 due" in tabs or "Sign 4 due" in tabs
        status = next(ln for ln in lines if "LIVE" in ln)
        assert "…" not in status and "Launch Commander" in status
        triggers = next(ln for ln in lines if "auto-r" in ln)
        assert "…" not in triggers
        for cid in ("cfur", "api-p95", "error-rate"):
            assert cid in triggers


async def test_a_long_actor_label_is_abbreviated_not_cut_at_80x24(tmp_path):
    """An SSH origin and three roles do not fit the header's status line at 80 columns: the actor loses its
    host and origin (the log panel keeps them) before anything is cut, and the roles stay named or counted."""
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    actor = Actor("root", "bastion", ssh="203.0.113.7 51234 22")
    app = WarroomApp(demo_launch(), log_path=path, actor=actor, clock=Clock(NOW), record=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        status = next(ln for ln in screen_text(app).splitlines() if "LIVE" in ln)
        assert "…" not in status and "· root as " in status and "roles" in status, status


def test_the_header_shortens_an_actor_to_its_name_and_claim():
    from warroom.ui.header import _bare_actor

    assert _bare_actor("dana [claimed, account ci]@bastion (ssh 10.0.0.1 22 22, client-supplied)") == "dana [claimed]"
    assert _bare_actor("root@bastion (ssh 10.0.0.1 22 22, client-supplied)") == "root"
    assert _bare_actor("root@bastion") == "root"


async def test_the_console_opens_the_wall_and_returns(tmp_path):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        before = len(read_log(path).events)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WallScreen) and "SIGN-OFFS" in screen_text(app), "the wall")
        text = screen_text(app)
        assert "█" in text and "API latency P95" in text and "✖ NO-GO" in text
        await pilot.press("s", "space", "a")  # the wall never acts: console keys do nothing here
        await pilot.pause()
        assert isinstance(app.screen, WallScreen) and len(read_log(path).events) == before
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, WallScreen)


async def test_the_wall_is_in_the_command_palette(tmp_path):
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WarroomApp(demo_launch(), log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Wall view")
        await until(pilot, lambda: "Wall view" in screen_text(app), "the palette entry")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WallScreen), "the wall")


async def test_the_wall_reads_state_in_words_without_colour(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    app = WallApp(demo_launch(), path, clock=Clock(NOW))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "SIGN-OFFS" in screen_text(app) and "Error rate" in screen_text(app), "the wall")
        assert app.theme == "monochrome"
        text = screen_text(app)
        assert "✖ NO-GO" in text and "✔ GO" in text  # each tile says its state in a word and a symbol
        assert "WHY" in text and "730 ms misses < 500ms" in text  # the first reason, in human units
        assert sum(1 for ln in text.splitlines() if "█   █" in ln) >= 2  # the verdict in block letters


def test_wall_command_says_what_is_wrong(tmp_path):
    import functools

    from runcli import warroom

    wall = functools.partial(warroom, "wall")

    res = wall(str(tmp_path / "nope.jsonl"))
    assert res.returncode == 2 and "no such log or config file" in res.stderr
    res = wall(str(RECON), "--log", str(tmp_path / "none.jsonl"))
    assert res.returncode == 2 and "no decision log yet" in res.stderr and "Traceback" not in res.stderr
    not_a_log = tmp_path / "notes.txt"
    not_a_log.write_text("hello\n")
    res = wall(str(not_a_log))
    assert res.returncode != 0 and "damaged" in res.stderr and "Traceback" not in res.stderr, res.stderr
