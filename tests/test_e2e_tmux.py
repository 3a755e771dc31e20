"""End to end: the installed `warroom demo` in a real tmux session, driven by keys, read by capture-pane;
then the log file must hold exactly what was done, by whom, with an intact chain."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from tmuxsession import Tmux

from warroom.store.log import read_log, verify

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
WARROOM = shutil.which("warroom")


@pytest.fixture(autouse=True)
def _installed() -> None:
    if WARROOM is None:
        pytest.fail("the installed warroom command is required (run tests/install-deps.sh)")


def line_with(screen: str, needle: str) -> str:
    return next((ln for ln in screen.splitlines() if needle in ln), "")


def test_demo_in_tmux_toggle_signoff_note_quit(tmux: Tmux, tmp_path: Path):
    short = Path(tempfile.mkdtemp(prefix="wr-e2e-", dir="/tmp"))  # short enough to show in full in the header
    try:
        drive_demo(tmux, tmp_path, short / "demo.jsonl")
    finally:
        shutil.rmtree(short, ignore_errors=True)


def drive_demo(tmux: Tmux, tmp_path: Path, log: Path) -> None:
    # PYTHONPATH: the installed command runs this checkout's package even if an editable install points elsewhere
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    tmux.start("demo", f"{WARROOM} demo --log {log}", env=env, unset=["NO_COLOR"], width=160, height=48, hold=60)
    # the wide layout (every panel at once) shows once the console has the full 160x48 window
    # and keys go in once the console is fully up: its recorder starts after the first frame
    screen = tmux.wait_for(
        "demo", lambda s: "LIVE" in s and " recording · " in s and "╭─ 4 Sign-offs" in s, "the console"
    )
    assert "Demo Launch (simulated)" in screen and str(log) in screen

    # toggle an item: the checklist opens on the current phase (T-1 hour): phase, section, first item
    tmux.keys("demo", "2", "Down", "Down", "Space")
    screen = tmux.wait_for("demo", lambda s: "[x] Team assembled" in s, "the ticked item")
    assert "✔ demo" in line_with(screen, "[x] Team assembled")

    # a sign-off: choose GO, then confirm
    tmux.keys("demo", "s")
    tmux.wait_for("demo", lambda s: "Reason (optional)" in s, "the sign-off dialog")
    tmux.text("demo", "e2e ok")
    tmux.keys("demo", "C-g")  # one dialog, one key: no confirmation after it
    screen = tmux.wait_for("demo", lambda s: "e2e ok" in line_with(s, "│ CTO "), "the sign-off in the panel")
    assert "✔ GO" in line_with(screen, "│ CTO ")

    # a note, with brackets that must stay literal
    tmux.keys("demo", "n")
    tmux.wait_for("demo", lambda s: "Add a note" in s, "the note dialog")
    tmux.text("demo", "tmux note [literal]")
    tmux.keys("demo", "Enter")
    # the typed text shows in the dialog's own input too: wait for the dialog to close. A key sent while it is
    # still closing goes to the dialog (its input has focus), as it would for a person typing ahead.
    tmux.wait_for(
        "demo", lambda s: "tmux note [literal]" in s and "Add a note" not in s, "the note in the decision log panel"
    )

    tmux.keys("demo", "q")
    screen = tmux.wait_for("demo", lambda s: "EXITED" in s, "the console to exit")
    assert "EXITED 0" in screen and f"decision log: {log}" in screen

    assert verify(log).ok
    evs = read_log(log).events
    assert evs[0].kind == "launch"  # the config the log is bound to
    mine = [e for e in evs[1:] if e.actor.name == "demo"]
    kinds = [e.kind for e in mine]
    assert kinds[0] == "session" and kinds[-1] == "session"
    assert [e.kind for e in mine if e.kind != "session"] == ["check", "signoff", "note"]
    check, signoff, note = (e for e in mine if e.kind != "session")
    assert check.data == {"item": "team-assembled"}
    assert (signoff.data["role"], signoff.data["verdict"], signoff.data["reason"]) == ("cto", "GO", "e2e ok")
    assert set(signoff.data["snapshot"]) == {"cfur", "api-p95", "error-rate", "db-cpu", "backup-age"}
    assert note.data == {"text": "tmux note [literal]"}
    assert any(e.kind == "sample" for e in evs), "the demo console recorded simulated samples"


def test_wall_in_tmux_shows_the_verdict_in_block_letters(tmux: Tmux, tmp_path: Path):
    """`warroom wall LOG` at 240x67: the verdict word is drawn in block glyphs, several rows high."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ui_scenario import demo_launch, write_scenario

    from warroom.ui import bigtext
    from warroom.ui.fmt import LOOK

    log = tmp_path / "wall.jsonl"
    write_scenario(log, demo_launch())
    before = log.read_bytes()
    env = {"TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    tmux.start("wall", f"{WARROOM} wall {log}", env=env, unset=["NO_COLOR"], width=240, height=67, hold=60)

    def glyph_rows(screen: str) -> tuple[str, int]:
        """The verdict whose block-letter rows appear on consecutive screen lines, and how many rows."""
        lines = screen.splitlines()
        for status in LOOK:
            sym = LOOK[status][0]
            for scale in (2, 1):
                rows = [r.strip() for r in bigtext.render(f"{sym} {status}", scale)]
                for i in range(len(lines) - len(rows) + 1):
                    if all(r and r in lines[i + j] for j, r in enumerate(rows)):
                        return status, len(rows)
        return "", 0

    screen = tmux.wait_for("wall", lambda s: glyph_rows(s)[1] >= 5, "the verdict in block letters")
    status, rows = glyph_rows(screen)
    # the scenario's latency breach is no longer fresh at the wall's real clock: never GO
    assert status in ("NO-GO", "PENDING", "ROLLBACK") and rows >= 5, screen
    assert sum(1 for ln in screen.splitlines() if "█" in ln) >= 5
    assert "SIGN-OFFS" in screen and "API latency P95" in screen
    tmux.keys("wall", "s", "q")  # the wall never acts: no key writes (q quits)
    tmux.wait_for("wall", lambda s: "EXITED" in s, "the wall to quit")  # so nothing it could still write is missed
    assert log.read_bytes() == before, "the wall wrote to the log"
