"""Every console action, driven with keys through Pilot: each test checks what the screen shows AND
the event that reached the decision log (the screen only ever shows what was read back from the log)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input
from ui_scenario import (
    DEVOPS,
    NOW,
    ROOT_ACTOR,
    SECURITY,
    Clock,
    caught_up,
    column_text,
    demo_launch,
    panel_text,
    screen_text,
    until,
    write_scenario,
)

from warroom.core.events import SYSTEM, Actor
from warroom.store.log import DecisionLog, read_log
from warroom.ui.app import WarroomApp
from warroom.ui.modals import ConfirmScreen, RecommendationScreen, RollbackScreen, TextScreen, VerdictScreen

WIDE = (160, 48)


def events(path: Path):
    return read_log(path).events


def notes(app: WarroomApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


@pytest.fixture
def scenario(tmp_path: Path) -> tuple[Path, Clock]:
    path = tmp_path / "launch.jsonl"
    write_scenario(path, demo_launch())
    return path, Clock(NOW)


def make_app(path: Path, clock: Clock, actor: Actor = ROOT_ACTOR, **kw) -> WarroomApp:
    return WarroomApp(demo_launch(), log_path=path, actor=actor, clock=clock, record=False, **kw)


async def focus_item(app: WarroomApp, pilot, item: str) -> None:
    await pilot.press("2")
    table = app.panel("checklist").table
    assert table.move_cursor_to_key(f"item:{item}")
    await pilot.pause()


async def test_toggle_item_records_check_then_uncheck(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await focus_item(app, pilot, "dashboards")
        assert "[ ] Dashboards" in screen_text(app)
        clock.t += 3
        await pilot.press("space")
        ev = events(path)[-1]
        assert (ev.kind, ev.data, ev.actor) == ("check", {"item": "dashboards"}, ROOT_ACTOR)
        assert ev.ts == clock.t
        assert "[x] Dashboards" in screen_text(app)
        await pilot.press("x")
        ev = events(path)[-1]
        assert (ev.kind, ev.data) == ("uncheck", {"item": "dashboards"})
        assert "[ ] Dashboards" in screen_text(app)


async def test_linked_item_cannot_be_ticked_by_hand(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await focus_item(app, pilot, "health")
        before = len(events(path))
        await pilot.press("space")
        assert len(events(path)) == before
        assert "ticks itself from criterion error-rate" in notes(app)


async def test_signoff_takes_one_dialog_and_one_key_and_records_its_snapshot(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, VerdictScreen)
        shown = screen_text(app)
        # the snapshot is on screen before the key that records it
        assert "What is recorded with it" in shown and "API latency P95" in shown and "NO-GO" in shown
        assert "ctrl+g records GO" in shown
        await pilot.press(*"ship it")
        before = len(events(path))
        await pilot.press("ctrl+g")  # the one key: no second dialog
        await pilot.pause()
        assert not isinstance(app.screen, (VerdictScreen, ConfirmScreen)) and len(app.screen_stack) == 1
        evs = events(path)
        assert len(evs) == before + 1
        ev = evs[-1]
        assert ev.kind == "signoff" and ev.actor == ROOT_ACTOR
        assert (ev.data["role"], ev.data["verdict"], ev.data["reason"]) == ("cto", "GO", "ship it")
        assert ev.data["snapshot"]["api-p95"]["level"] == "NO-GO"
        assert set(ev.data["snapshot"]) == {"cfur", "api-p95", "error-rate", "db-cpu", "backup-age"}
        assert "sign-off recorded: CTO GO" in notes(app)
        text = screen_text(app)
        cto_line = next(line for line in text.splitlines() if "│ CTO " in line)
        assert "✔ GO" in cto_line and "STALE" not in cto_line and "ship it" in cto_line


async def test_signoff_nogo_is_its_own_key(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        ev = events(path)[-1]
        assert ev.kind == "signoff" and ev.data["verdict"] == "NO-GO" and ev.data["reason"] == ""
        assert ev.data["snapshot"]["api-p95"]["level"] == "NO-GO"


async def test_signoff_cancelled_records_nothing(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        before = len(events(path))
        await pilot.press("s")
        await pilot.pause()
        await pilot.press(*"maybe")
        await pilot.press("escape")
        await pilot.pause()
        assert len(events(path)) == before
        assert "sign-off not recorded" in notes(app)


async def write_note(app, pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    """n, the text, enter: as a user writes a note, each step once the console has shown the one before."""
    await pilot.press("n")
    await until(pilot, lambda: shown(app, TextScreen), "the note dialog")
    await pilot.press(*text, "enter")
    await until(pilot, lambda: not isinstance(app.screen, TextScreen), "the note recorded")


async def test_note_is_recorded_and_shown_literally(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await write_note(app, pilot, "p95 [b]up[/b]")
        ev = events(path)[-1]
        assert (ev.kind, ev.data) == ("note", {"text": "p95 [b]up[/b]"})
        assert "p95 [b]up[/b]" in screen_text(app)


async def test_a_note_dialog_opened_again_starts_empty(scenario):
    """The note dialog is made once and opened again: what was typed into a cancelled note is not there."""
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.flows.note_dialog().is_mounted, "the note dialog composed ahead")
        for typed in ("first thoughts", "second"):
            await pilot.press("n")
            await until(pilot, lambda: shown(app, TextScreen), "the note dialog")
            assert app.screen.query_one(Input).value == ""
            assert "enter: save · escape: cancel" in screen_text(app)
            await pilot.press(*typed, "escape")
            await until(pilot, lambda: not isinstance(app.screen, TextScreen), "the dialog closed")
        assert [e for e in events(path) if e.kind == "note" and "first" in e.data["text"]] == []
        await write_note(app, pilot, "third")
        ev = events(path)[-1]
        assert (ev.kind, ev.data) == ("note", {"text": "third"})


async def test_tick_keys_typed_in_a_note_are_text(scenario):
    """space and x tick the highlighted item, but in a note they are what was typed: nothing is ticked."""
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await focus_item(app, pilot, "dashboards")
        before = len(events(path))
        await write_note(app, pilot, "fix x now")
        assert [(e.kind, e.data) for e in events(path)[before:]] == [("note", {"text": "fix x now"})]
        assert "[ ] Dashboards" in screen_text(app)


async def test_ack_acknowledges_newest_firing_alert(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("a")
        ev = events(path)[-1]
        assert (ev.kind, ev.data) == ("ack", {"alert": "criterion:api-p95"})
        line = next(ln for ln in screen_text(app).splitlines() if "CRIT API latency P95" in ln)
        assert "acked root" in line  # the alert's status, beside its title's first line
        # the highlighted alert, when the alert panel has focus
        await pilot.press("3")
        table = app.panel("alerts").table
        assert table.move_cursor_to_key("am:f00d")
        await pilot.press("a")
        ev = events(path)[-1]
        assert (ev.kind, ev.data) == ("ack", {"alert": "am:f00d"})


async def test_trigger_mode_switch_is_recorded_and_shown_in_header(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        assert "api-p95 recommend" in screen_text(app)
        await pilot.press("1")
        app.panel("gates").table.move_cursor_to_key("api-p95")
        await pilot.press("m")
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        ev = events(path)[-1]
        assert (ev.kind, ev.data) == ("trigger_mode", {"criterion": "api-p95", "mode": "off"})
        header = screen_text(app).splitlines()[2]
        assert "api-p95 off" in header


async def test_commander_decision_is_confirmed_and_recorded(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("d")
        await pilot.pause()
        await pilot.press(*"latency", "ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        ev = events(path)[-1]
        assert (ev.kind, ev.data) == ("decision", {"verdict": "NO-GO", "reason": "latency"})
        assert "FINAL" in screen_text(app)
        await pilot.press("r")
        await pilot.pause()
        assert "commander decided NO-GO: latency" in screen_text(app)


async def test_decision_needs_the_commander_role(scenario):
    path, clock = scenario
    app = make_app(path, clock, actor=SECURITY)
    async with app.run_test(size=WIDE) as pilot:
        before = len(events(path))
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, VerdictScreen)
        assert "only the launch commander" in notes(app)
        assert len(events(path)) == before


async def test_rollback_needs_the_launch_id_typed(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RollbackScreen)
        text = screen_text(app)
        assert "Roll back the deployment (demo prints only)" in text and "DRY RUN" in text
        before = len(events(path))
        await pilot.press(*"demo", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RollbackScreen), "a wrong id must not confirm"
        assert len(events(path)) == before
        await pilot.press(*"-launch", "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        new = [e for e in events(path)[before:] if e.kind == "rollback"]
        assert new and new[0].data["phase"] in ("requested", "started")
        assert new[0].actor == ROOT_ACTOR
        assert "rollback requested" in screen_text(app) or "rollback started" in screen_text(app)


async def test_rollback_refused_for_a_role_that_may_not(scenario):
    path, clock = scenario
    app = make_app(path, clock, actor=SECURITY)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("R")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert not isinstance(app.screen, RollbackScreen)
        ev = events(path)[-1]
        assert ev.kind == "rollback" and ev.data["phase"] == "refused" and ev.actor == SECURITY
        assert "rollback refused" in notes(app)


async def test_a_second_rollback_while_one_runs_is_refused_and_recorded(scenario):
    path, clock = scenario
    with DecisionLog(path, DEVOPS, clock) as other:  # another console's rollback, still running
        other.append(
            "rollback", {"phase": "started", "steps": ["flip"], "dry_run": False, "automatic": False, "reason": "p95"}
        )
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        assert "RUNNING" in screen_text(app)
        await pilot.press("R")
        await pilot.pause()
        assert not isinstance(app.screen, RollbackScreen)
        ev = events(path)[-1]
        assert ev.kind == "rollback" and ev.data["phase"] == "refused" and ev.actor == ROOT_ACTOR
        assert "already running (started by devops" in ev.data["reason"]


@pytest.mark.parametrize("how", ["flag", "no-role"])
async def test_observer_changes_nothing(scenario, how):
    path, clock = scenario
    actor = ROOT_ACTOR if how == "flag" else Actor("dana", "bastion", name="Dana (CTO)")
    app = make_app(path, clock, actor=actor, mode="observer" if how == "flag" else "live")
    size = path.stat().st_size
    async with app.run_test(size=WIDE) as pilot:
        assert app.mode == "observer"
        assert "OBSERVER" in screen_text(app).splitlines()[1]
        await focus_item(app, pilot, "dashboards")
        for key in ("space", "s", "n", "a", "m", "d", "R"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.screen_stack[0], f"{key} opened a dialog"
        assert "read only" in notes(app)
    assert path.stat().st_size == size, "an observer appended to the log"


async def test_other_consoles_decisions_appear_within_a_second(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        assert "[ ] Rollback proc" in screen_text(app)
        with DecisionLog(path, DEVOPS, clock) as other:  # the item's owner role (devops-lead)
            other.append("check", {"item": "rollback-ready"})
        await caught_up(app, pilot, path)  # its next poll (every 0.25 s) reads the other console's event
        line = next(ln for ln in screen_text(app).splitlines() if "Rollback proc" in ln)
        assert "[x] Rollback proc" in line and "✔ devops" in line


async def test_recommend_trigger_prompts_once_per_breach(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    with DecisionLog(path, SYSTEM, clock) as rec:
        async with app.run_test(size=WIDE) as pilot:
            for i in range(2):  # two samples over the trigger (> 1%) confirm the breach
                clock.t = NOW + 5 * (i + 1)
                rec.append("sample", {"criterion": "error-rate", "value": 2.5, "t": clock.t})
            await until(pilot, lambda: shown(app, RecommendationScreen), "the recommendation")
            text = screen_text(app)
            assert "Error rate" in text and "2.50%" in text and "> 1%" in text and "Since: T+00:07:40" in text
            await pilot.press("h")
            await pilot.pause()
            ev = events(path)[-1]
            assert ev.kind == "rollback" and ev.data["phase"] == "recommendation"
            assert (ev.data["choice"], ev.data["criterion"], ev.data["since"]) == ("hold", "error-rate", NOW + 10)
            clock.t += 5
            rec.append("sample", {"criterion": "error-rate", "value": 2.6, "t": clock.t})
            await caught_up(app, pilot, path)
            await pilot.pause(0.3)  # time enough to open a dialog, had it wanted to
            assert not isinstance(app.screen, RecommendationScreen), "asked twice about one breach"
            for v in (0.05, 0.05, 3.0, 3.0):  # clears, then breaches anew
                clock.t += 5
                rec.append("sample", {"criterion": "error-rate", "value": v, "t": clock.t})
            await until(pilot, lambda: shown(app, RecommendationScreen), "a recommendation on the new breach")


async def test_help_lists_every_key(scenario):
    from warroom.ui.keymap import KEYS

    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=(120, 80)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        for k in KEYS:
            assert k.help in text, k.id


def shown(app: WarroomApp, dialog: type) -> bool:
    """`dialog` is the screen on top and is mounted, its widgets composed (pushing it is not enough)."""
    return isinstance(app.screen, dialog) and app.screen.is_mounted


def palette_offers(app: WarroomApp, text: str) -> bool:
    """The command palette has finished searching and highlights `text` first (enter runs it)."""
    from textual.command import CommandList, CommandPalette

    palette = app.screen
    if not isinstance(palette, CommandPalette):
        return False
    if any(w.group == palette._GATHER_COMMANDS_GROUP and not w.is_finished for w in app.workers):
        return False  # still searching
    found = palette.query_one(CommandList)
    if found.highlighted is None:
        return False
    return str(found.get_option_at_index(found.highlighted).prompt).lower().startswith(text.lower())


async def test_palette_offers_actions_and_switches_theme(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Theme: light")
        await until(pilot, lambda: palette_offers(app, "Theme: light"), "the palette's search")
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "light"
        await pilot.press("ctrl+p")
        await pilot.press(*"add a note")
        await until(pilot, lambda: palette_offers(app, "add a note"), "the palette's search")
        await pilot.press("enter")
        await pilot.pause()
        assert "Add a note" in screen_text(app)


async def test_untrusted_text_is_shown_literally(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("3")
        app.panel("alerts").table.move_cursor_to_key("am:f00d")
        await pilot.pause()
        text = screen_text(app)
        titles = column_text(app, "alerts", "Alert", "Status")  # the title column read down (it wraps)
        assert "HighLatency: P95 [bold]latency[/bold] above 500ms on [api]" in titles  # literally, brackets and all
        assert "summary: P95 [bold]latency[/bold] above 500ms on [api]" in panel_text(app, "alerts")
        assert "service=[api]" in text
        assert "pwned" not in text and "\x1b" not in text and "\x07" not in text


async def test_small_terminal_shows_one_panel_at_a_time(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        text = screen_text(app)
        assert "1 Go / No-go" in text and "Alerts ─" not in text
        await pilot.press("3")
        await pilot.pause()
        text = screen_text(app)
        assert "3 Alerts" in text and "Criterion" not in text
        assert all(len(line) <= 80 for line in text.splitlines())
        await pilot.press("4")
        await pilot.pause()
        top = next(line for line in screen_text(app).splitlines() if "4 Sign-offs ─" in line)
        assert top.startswith("╭") and top.rstrip().endswith("╮") and len(top.rstrip()) == 80  # the full width
        await pilot.press("6")
        await pilot.pause()
        assert "console opened (live)" in screen_text(app)  # the tail shows the newest entry


async def test_torn_tail_is_reported_at_startup(scenario):
    path, clock = scenario
    with open(path, "ab") as f:
        f.write(b'{"v":1,"seq":999,"ts":"2026-01-01T12:07:')
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert "torn" in notes(app)
        assert events(path)[-1].kind == "session"  # the log carried on after the torn line was set aside
    assert Path(str(path) + ".torn").exists()


async def test_no_color_selects_monochrome(scenario, monkeypatch):
    path, clock = scenario
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(path, clock)
    async with app.run_test(size=WIDE):
        assert app.theme == "monochrome"


async def test_unknown_theme_falls_back_with_a_message(scenario):
    path, clock = scenario
    app = make_app(path, clock, theme="nope")
    async with app.run_test(size=WIDE) as pilot:
        assert app.theme == "dark"
        await until(pilot, lambda: "theme 'nope' not found" in notes(app), "the message that says so")


async def test_session_opened_and_closed_are_recorded(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("q")
    kinds = [(e.kind, e.data.get("state")) for e in events(path)[-2:]]
    assert kinds == [("session", "opened"), ("session", "closed")]


async def test_notifications_quote_untrusted_text_literally(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("3")
        app.panel("alerts").table.move_cursor_to_key("am:f00d")
        await pilot.press("a")
        await pilot.pause()
        n = next(n for n in app._notifications if "acknowledged" in str(n.message))
        assert n.message == "acknowledged: HighLatency: P95 [bold]latency[/bold] above 500ms  on [api]"
        assert n.markup is False  # so the toast shows the brackets instead of interpreting them


async def test_a_log_of_another_launch_is_refused_at_startup(tmp_path):
    from warroom.store.launchlog import bind

    other = demo_launch().model_copy(deep=True)
    path = tmp_path / "other.jsonl"
    data = other.model_dump(by_alias=True)
    data["launch"]["id"] = "some-other-launch"
    from warroom.config import Launch

    with DecisionLog(path, ROOT_ACTOR) as lg:
        bind(lg, Launch.model_validate(data), "", "other.yaml")
    size = path.stat().st_size
    app = make_app(path, Clock(NOW))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
    assert app.return_code == 2
    assert app.startup_error is not None and "belongs to launch 'some-other-launch'" in app.startup_error
    assert path.stat().st_size == size


async def test_recommendation_roll_back_opens_the_guarded_rollback(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    with DecisionLog(path, SYSTEM, clock) as rec:
        async with app.run_test(size=WIDE) as pilot:
            for i in range(2):
                clock.t = NOW + 5 * (i + 1)
                rec.append("sample", {"criterion": "error-rate", "value": 2.5, "t": clock.t})
            await until(pilot, lambda: shown(app, RecommendationScreen), "the recommendation")
            await pilot.press("b")
            await pilot.pause()
            ev = events(path)[-1]
            assert ev.data["phase"] == "recommendation" and ev.data["choice"] == "rollback"
            assert isinstance(app.screen, RollbackScreen)  # still guarded: the launch id must be typed
            assert "recommended by trigger error-rate" in screen_text(app)
            await pilot.press("escape")
            await pilot.pause()
            assert events(path)[-1] == ev  # cancelled: nothing more recorded


async def test_console_keys_do_nothing_while_a_dialog_is_open(scenario):
    path, clock = scenario
    app = make_app(path, clock)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("d")  # the decision dialog (reason field focused)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        before = len(events(path))
        await pilot.press("s", "a", "q", "R", "space", "3")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and len(app.screen_stack) == 2
        assert len(events(path)) == before
        await pilot.press("tab")  # focus still moves inside the dialog
        assert app.focused is not None and app.focused.id == "no"
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.screen_stack) == 1
