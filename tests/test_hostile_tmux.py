"""The hostile log in a real tmux that would obey it: OSC 0/2 retitle the pane (allow-rename, set-titles)
and OSC 52 fills a paste buffer (set-clipboard on). First the raw bytes prove the trap works; then
`warroom log` and a console (with a hostile --as name) must leave the pane title and the buffers as they were."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import waiting
from hostile import CORPUS, ROOT, write_hostile_log

pytestmark = [pytest.mark.tmux, pytest.mark.slow]
TMUX = shutil.which("tmux")
TITLE = "untouched-title"
HOSTILE_AS = "eve\x1b]0;owned\x07\x1b]52;c;ZWNobyBwd25lZA==\x07"


class Tmux:
    """A private tmux server on a socket in a short directory of its own, configured to obey OSC 0/2/52."""

    def __init__(self, socket: Path):
        self.socket = socket

    def run(self, *args: str) -> str:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-S", str(self.socket), "-f", "/dev/null", *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout

    def start(self, name: str, script: Path) -> None:
        """A window running `script`, whose pane starts with a known title."""
        command = f"sh {shlex.quote(str(script))}"
        if self.sessions():
            self.run("new-window", "-d", "-t", "hx", "-n", name, command)
        else:
            self.run("new-session", "-d", "-s", "hx", "-x", "160", "-y", "48", "-n", name, command)
        self.run("select-pane", "-t", f"hx:{name}", "-T", TITLE)
        script.with_suffix(".go").touch()  # the script waits for this: the title is set before anything prints

    def sessions(self) -> bool:
        try:
            return bool(self.run("list-sessions"))
        except subprocess.CalledProcessError:
            return False

    def title(self, name: str) -> str:
        return self.run("display-message", "-p", "-t", f"hx:{name}", "#{pane_title}").strip()

    def buffers(self) -> str:
        return self.run("list-buffers")

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", f"hx:{name}")

    def wait_for(self, name: str, check: Callable[[str], bool], what: str, timeout: float = waiting.TIMEOUT) -> str:
        """The screen of window `name`, once `check` holds for it."""

        def shown() -> str | None:
            screen = self.screen(name)
            return screen if check(screen) else None

        return waiting.wait_for(what, shown, timeout, detail=lambda: f"the screen was:\n{self.screen(name)}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if TMUX is None:
        pytest.fail("tmux is required (run tests/install-deps.sh)")
    short = Path(tempfile.mkdtemp(prefix="wrhx-", dir="/tmp"))  # a socket path must stay short
    t = Tmux(short / "s")
    t.run("start-server", ";", "set", "-g", "exit-empty", "off")
    for opt in (("set-clipboard", "on"), ("set-titles", "on"), ("allow-rename", "on"), ("remain-on-exit", "on")):
        t.run("set", "-g", *opt)
    try:
        yield t
    finally:
        subprocess.run([TMUX, "-S", str(t.socket), "kill-server"], capture_output=True, timeout=10)
        shutil.rmtree(short, ignore_errors=True)


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
    tmux.start("raw", script(tmp_path, "raw", ["cat", str(raw)]))
    tmux.wait_for("raw", lambda s: "EXITED 0" in s, "cat to finish")
    assert tmux.title("raw") in ("owned", "payload")  # OSC 0, or APC (tmux takes it as a title too)
    assert "ZWNobyBwd25lZA==" not in tmux.buffers() and "echo pwned" in tmux.run("show-buffer")


def test_warroom_log_and_the_console_leave_title_and_clipboard_alone(tmux: Tmux, tmp_path: Path):
    log, cfg, _ = write_hostile_log(tmp_path)
    py = sys.executable
    tmux.start("log", script(tmp_path, "log", [py, "-m", "warroom", "log", str(log)]))
    screen = tmux.wait_for("log", lambda s: "EXITED" in s, "warroom log to finish")
    assert "EXITED 0" in screen and "rollback finished" in screen
    assert tmux.title("log") == TITLE
    assert tmux.buffers() == ""

    # a console on the same log as an observer whose --as name is itself an attack
    console = [py, "-m", "warroom", "run", str(cfg), "--log", str(log), "--observer", "--as", HOSTILE_AS]
    tmux.start("console", script(tmp_path, "console", console))
    screen = tmux.wait_for("console", lambda s: "OBSERVER" in s and "hx-" in s, "the console on the hostile log")
    assert "eve" in screen
    for key in "123456":  # every panel, in case the wide layout hides one
        tmux.run("send-keys", "-t", "hx:console", key)
        time.sleep(0.3)
    tmux.wait_for("console", lambda s: "hx-" in s, "the panels")
    assert tmux.title("console") == TITLE
    assert tmux.buffers() == ""
    tmux.run("send-keys", "-t", "hx:console", "q")
    tmux.wait_for("console", lambda s: "EXITED" in s, "the console to exit")
    assert tmux.title("console") == TITLE
    assert tmux.buffers() == ""
