"""The hostile log in a real tmux that would obey it: OSC 0/2 retitle the pane (allow-rename, set-titles)
and OSC 52 fills a paste buffer (set-clipboard on). First the raw bytes prove the trap works; then
`warroom log` and a console (with a hostile --as name) must leave the pane title and the buffers as they were."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hostile import CORPUS, ROOT, write_hostile_log
from runcli import argv
from tmuxsession import Tmux

pytestmark = [pytest.mark.tmux, pytest.mark.slow]
TITLE = "untouched-title"
HOSTILE_AS = "eve\x1b]0;owned\x07\x1b]52;c;ZWNobyBwd25lZA==\x07"


@pytest.fixture
def tmux(tmux: Tmux) -> Tmux:
    """The private tmux (tests/tmuxsession.py), configured to obey OSC 0/2/52 before any session starts."""
    tmux.run("start-server", ";", "set", "-g", "exit-empty", "off")
    for opt in (("set-clipboard", "on"), ("set-titles", "on"), ("allow-rename", "on"), ("remain-on-exit", "on")):
        tmux.run("set", "-g", *opt)
    return tmux


def start(tmux: Tmux, name: str, script: Path) -> None:
    """A session running `script`, whose pane starts with a known title."""
    tmux.start(name, f"sh {shlex.quote(str(script))}")
    tmux.run("select-pane", "-t", name, "-T", TITLE)
    script.with_suffix(".go").touch()  # the script waits for this: the title is set before anything prints


def title(tmux: Tmux, name: str) -> str:
    return tmux.run("display-message", "-p", "-t", name, "#{pane_title}").strip()


def buffers(tmux: Tmux) -> str:
    return tmux.run("list-buffers")


def script(tmp: Path, name: str, command: list[str]) -> Path:
    env = f"env -u NO_COLOR -u COLUMNS -u LINES TERM=xterm-256color PYTHONPATH={shlex.quote(str(ROOT))}"
    path = tmp / f"{name}.sh"
    go = shlex.quote(str(path.with_suffix(".go")))
    path.write_text(
        f"while [ ! -e {go} ]; do sleep 0.05; done\n{env} {shlex.join(command)}\necho EXITED $?\nsleep 120\n"
    )
    return path


def test_the_trap_works_on_raw_bytes(tmux: Tmux, tmp_path: Path):
    """Printed raw, the corpus retitles the pane and writes a paste buffer: the checks below can fail."""
    raw = tmp_path / "raw.txt"
    raw.write_text("\n".join(e.raw for e in CORPUS) + "\n")
    start(tmux, "raw", script(tmp_path, "raw", ["cat", str(raw)]))
    tmux.wait_for("raw", lambda s: "EXITED 0" in s, "cat to finish")
    assert title(tmux, "raw") in ("owned", "payload")  # OSC 0, or APC (tmux takes it as a title too)
    assert "ZWNobyBwd25lZA==" not in buffers(tmux) and "echo pwned" in tmux.run("show-buffer")


def test_warroom_log_and_the_console_leave_title_and_clipboard_alone(tmux: Tmux, tmp_path: Path):
    log, cfg, _ = write_hostile_log(tmp_path)
    start(tmux, "log", script(tmp_path, "log", argv("log", log)))
    screen = tmux.wait_for("log", lambda s: "EXITED" in s, "warroom log to finish")
    assert "EXITED 0" in screen and "rollback finished" in screen
    assert title(tmux, "log") == TITLE
    assert buffers(tmux) == ""

    # a console on the same log as an observer whose --as name is itself an attack
    console = argv("run", cfg, "--log", log, "--observer", "--as", HOSTILE_AS)
    start(tmux, "console", script(tmp_path, "console", console))
    screen = tmux.wait_for("console", lambda s: "OBSERVER" in s and "hx-" in s, "the console on the hostile log")
    assert "eve" in screen
    tmux.keys("console", *"123456", pace=0.3)  # every panel, in case the wide layout hides one
    tmux.wait_for("console", lambda s: "hx-" in s, "the panels")
    assert title(tmux, "console") == TITLE
    assert buffers(tmux) == ""
    tmux.keys("console", "q")
    tmux.wait_for("console", lambda s: "EXITED" in s, "the console to exit")
    assert title(tmux, "console") == TITLE
    assert buffers(tmux) == ""
