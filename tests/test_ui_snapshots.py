"""SVG snapshots of the console on the scripted scenario with a frozen clock (no recorder).

The main screen at 80x24 (one panel at a time) and 160x48 (everything at once) in every shipped theme,
plus the checklist tab and the sign-off dialog on a small terminal. Update with
`python3 -m pytest tests/test_ui_snapshots.py --snapshot-update` after a deliberate change, and look at
the SVGs before committing them.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path

import pytest
from ui_scenario import NOW, ROOT_ACTOR, Clock, demo_launch, write_scenario

from warroom.ui.app import WarroomApp

THEMES = ("dark", "light", "high-contrast", "monochrome")
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
# A fixed path, because the header shows the log's path.
SNAP_DIR = Path("/tmp/warroom-snapshots")


def console(name: str, theme: str) -> WarroomApp:
    SNAP_DIR.mkdir(exist_ok=True)
    path = SNAP_DIR / f"{name}.jsonl"
    path.unlink(missing_ok=True)
    launch = demo_launch()
    write_scenario(path, launch)
    return WarroomApp(launch, log_path=path, actor=ROOT_ACTOR, clock=Clock(NOW), record=False, theme=theme)


@pytest.fixture(autouse=True)
def _one_suite_at_a_time() -> Iterator[None]:
    """The logs are at fixed paths (the header shows the path): another test run on this machine must not
    rewrite one while this test reads it (seen as 'Log damaged: ... shrank under us' in a snapshot)."""
    SNAP_DIR.mkdir(exist_ok=True)
    with open(SNAP_DIR / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(autouse=True)
def _colour(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
@pytest.mark.parametrize("theme", THEMES)
def test_main_screen(snap_compare, theme, size):
    assert snap_compare(console(f"{theme}-{size}", theme), terminal_size=SIZES[size])


def test_checklist_tab_small(snap_compare):
    assert snap_compare(console("checklist-80x24", "dark"), press=["2"], terminal_size=(80, 24))


def test_signoff_dialog_small(snap_compare):
    assert snap_compare(console("signoff-80x24", "dark"), press=["s", "o", "k"], terminal_size=(80, 24))


@pytest.mark.parametrize("theme", ("dark", "monochrome"))
def test_note_dialog_over_console(snap_compare, theme):
    """A dialog over the whole console: the console still shows behind it, dimmed (warroom/ui/dim.py draws it
    from the console's own lines, as Textual's blend would), its keys and links inert."""
    assert snap_compare(console(f"note-{theme}-160x48", theme), press=["n", *"rollback?"], terminal_size=(160, 48))


def test_replay_small(snap_compare, tmp_path):
    from ui_scenario import FoldReplay

    path = tmp_path / "recorded.jsonl"
    write_scenario(path, demo_launch())
    rp = FoldReplay(path)
    app = WarroomApp(rp.launch, log_path=None, actor=ROOT_ACTOR, mode="replay", replay=rp, clock=Clock(0.0))
    assert snap_compare(app, press=["g", *"T+00:06:30", "enter"], terminal_size=(80, 24))


def test_help_small(snap_compare):
    assert snap_compare(console("help-80x24", "dark"), press=["question_mark"], terminal_size=(80, 24))


# ---------------------------------------------------------------- the wall

WALL_SIZES = {"80x24": (80, 24), "160x48": (160, 48), "240x67": (240, 67)}


def wall(name: str, theme: str):  # type: ignore[no-untyped-def]
    from warroom.ui.wall import WallApp

    SNAP_DIR.mkdir(exist_ok=True)
    path = SNAP_DIR / f"wall-{name}.jsonl"
    path.unlink(missing_ok=True)
    launch = demo_launch()
    write_scenario(path, launch)
    return WallApp(launch, path, clock=Clock(NOW), theme=theme)


@pytest.mark.parametrize("size", WALL_SIZES, ids=list(WALL_SIZES))
@pytest.mark.parametrize("theme", ("dark", "monochrome"))
def test_wall(snap_compare, theme, size):
    assert snap_compare(wall(f"{theme}-{size}", theme), terminal_size=WALL_SIZES[size])


# ---------------------------------------------------------------- layouts that adapt

RECON = Path(__file__).resolve().parent.parent / "configs" / "reconciliation-platform.yaml"


def recon_console(name: str, theme: str = "dark") -> WarroomApp:
    from ui_scenario import T0

    from warroom.config import load_launch
    from warroom.store.launchlog import with_t0

    SNAP_DIR.mkdir(exist_ok=True)
    path = SNAP_DIR / f"{name}.jsonl"
    path.unlink(missing_ok=True)
    launch = with_t0(load_launch(RECON), T0)
    return WarroomApp(
        launch,
        log_path=path,
        actor=ROOT_ACTOR,
        clock=Clock(T0 - 1800),
        record=False,
        theme=theme,
        config_text=RECON.read_text(),
        config_path=str(RECON),
    )


@pytest.mark.parametrize("theme", ("dark", "monochrome"))
def test_main_screen_reconciliation_wide(snap_compare, theme):
    """160x48 with long checklist items: the checklist takes the width its items need."""
    assert snap_compare(recon_console(f"recon-{theme}-160x48", theme), terminal_size=(160, 48))


@pytest.mark.parametrize("theme", ("dark", "monochrome"))
def test_main_screen_reconciliation_claimed_rollback(snap_compare, theme):
    """160x48 after dana (a claimed name) rolled back by the Docker procedure: every step name and the
    actor read whole (the steps wrap in the side column; the actor has a line of its own)."""
    from ui_scenario import T0, write_recon_rollback

    SNAP_DIR.mkdir(exist_ok=True)
    path = SNAP_DIR / f"recon-rollback-{theme}.jsonl"
    config = SNAP_DIR / "recon-claimed.yaml"
    path.unlink(missing_ok=True)
    launch = write_recon_rollback(path, config)
    app = WarroomApp(
        launch,
        log_path=path,
        actor=ROOT_ACTOR,
        clock=Clock(T0 - 1800),
        record=False,
        theme=theme,
        config_text=config.read_text(),
        config_path=str(config),
    )
    assert snap_compare(app, terminal_size=(160, 48))
