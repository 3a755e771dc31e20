"""What the terminal shows when a cell's colour changes and its text does not: a value whose criterion goes
STALE keeps its text ("99.92%") and its trend, and must not stay green beside "? UNKNOWN".

Textual's Content compares by text alone (`==`), so a table that diffs rows with it saw no change in such a
cell, and the terminal kept its old colour. Only a real terminal shows that (a full render of the screen, as
the in-process tests read it, draws every line anew and hides it)."""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tmuxsession import Tmux

from warroom.config import parse_launch
from warroom.core.events import SYSTEM, Actor
from warroom.store.launchlog import bind
from warroom.store.log import DecisionLog

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
STALE_AFTER = 4  # seconds: the criterion's stale_after here (the demo's is 30 s)
SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def colours(line: str) -> list[tuple[str, str]]:
    """(character, foreground) for each character of a `capture-pane -e` line: the foreground as the SGR
    parameters that set it ("" for the terminal's default)."""
    out: list[tuple[str, str]] = []
    fg = ""
    pos = 0
    for m in SGR.finditer(line + "\x1b[m"):
        out.extend((ch, fg) for ch in line[pos : m.start()])
        pos = m.end()
        params = m.group(1).split(";") if m.group(1) else ["0"]
        i = 0
        while i < len(params):
            p = params[i]
            if p in ("", "0", "39"):
                fg = ""
            elif p == "38" and i + 1 < len(params):
                n = 5 if params[i + 1] == "2" else 3  # 38;2;r;g;b or 38;5;n
                fg = ";".join(params[i : i + n])
                i += n - 1
            elif p in ("48", "58") and i + 1 < len(params):
                i += 4 if params[i + 1] == "2" else 2
            elif p.isdigit() and (30 <= int(p) <= 37 or 90 <= int(p) <= 97):
                fg = p
            i += 1
    return out


def colour_of(line: str, text: str) -> str:
    """The foreground `text` is drawn in on `line` (a `capture-pane -e` line); every character of it alike."""
    cells = colours(line)
    plain = "".join(ch for ch, _ in cells)
    at = plain.index(text)
    got = {fg for _ch, fg in cells[at : at + len(text)]}
    assert len(got) == 1, f"{text!r} is drawn in more than one colour: {got}"
    return got.pop()


def trend(line: str) -> str:
    """The sparkline on a `capture-pane -e` line."""
    found = re.search("[▁-█]+", SGR.sub("", line))
    assert found, line
    return found.group()


def config_text() -> str:
    """The demo launch with T-0 now and its crash-free rate going stale after STALE_AFTER seconds."""
    text = (ROOT / "configs" / "demo.yaml").read_text()
    t0 = datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = text.replace("t0: 2026-01-01T12:00:00Z", f"t0: {t0}").replace(
        "stale_after: 30s", f"stale_after: {STALE_AFTER}s", 1
    )
    assert f"stale_after: {STALE_AFTER}s" in text, "configs/demo.yaml changed: update the test"
    return text


def test_a_value_going_stale_is_redrawn_in_the_unknown_colour(tmux: Tmux, tmp_path: Path):
    cfg = tmp_path / "launch.yaml"
    cfg.write_text(config_text())
    log = tmp_path / "launch.jsonl"
    launch = parse_launch(cfg.read_text(), str(cfg))
    with DecisionLog(log, Actor("root", "bastion")) as dlog:
        bind(dlog, launch, cfg.read_text(), str(cfg))
        for _ in range(3):  # fresh samples, GO: an observer records none, so they age from now
            dlog.append("sample", {"criterion": "cfur", "value": 99.92, "t": time.time()}, actor=SYSTEM)
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env["PYTHONPATH"] = str(ROOT)
    tmux.start("obs", f"{sys.executable} -m warroom run {cfg} --log {log} --observer", env=env,
               unset=["NO_COLOR"], width=100, height=30)  # fmt: skip

    def row(screen: str) -> str:
        return next((ln for ln in screen.splitlines() if "Crash-free user rate" in ln and "99.92%" in ln), "")

    def coloured() -> str:
        return tmux.run("capture-pane", "-e", "-p", "-t", "obs")

    tmux.wait_for("obs", lambda s: "✔ GO" in row(s), "the crash-free rate GO")
    # the cursor on another criterion: the detail below the table keeps its height (a change of it lays the
    # screen out again, which redraws every cell and would hide what is tested here)
    tmux.keys("obs", "1", "Down", "Down", "Down", "Down")
    tmux.wait_for("obs", lambda s: "Active backups:" in s, "the detail of the last criterion")
    line = row(coloured())
    go = colour_of(line, "✔ GO")
    assert colour_of(line, "99.92%") == go  # the value and its trend in its criterion's colour
    assert colour_of(line, trend(line)) == go
    tmux.wait_for("obs", lambda s: "? UNKNOWN" in row(s), "the crash-free rate STALE", timeout=STALE_AFTER + 30)
    time.sleep(0.5)  # settled: what stays on screen is judged (the old code left the trend green for good)
    line = row(coloured())
    unknown = colour_of(line, "? UNKNOWN")
    assert unknown != go
    assert colour_of(line, "99.92%") == unknown, f"the stale value is still drawn as GO: {line!r}"
    assert colour_of(line, trend(line)) == unknown, f"the stale trend is still drawn as GO: {line!r}"
