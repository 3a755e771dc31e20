"""The one tmux the tests drive a real terminal with: a private server on a socket of its own, sessions of a fixed
size, keys sent one at a time, screens read with capture-pane, waits through tests/waiting.py.

Private, so a test never touches anyone else's sessions: the socket lives in the test's tmp dir (`-S`), or, when
that path is too long for a unix socket (a long TMPDIR), in a short directory of its own under /tmp. No user
config is read (`-f /dev/null`). Stopping kills that server only (`kill-server` on its own socket, then its pid).
Use the `tmux` fixture (tests/conftest.py), or `private_tmux(dir)`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import waiting

TMUX = shutil.which("tmux")
# sun_path holds 108 bytes on Linux; tmux refuses a longer socket path. Keep a margin.
SOCKET_PATH_MAX = 100
# between keys, as a person types: a panel switch must land before the next key goes in
PACE = 0.25


class TmuxError(RuntimeError):
    """A tmux command failed; says which, and what tmux said."""


class Tmux:
    """A private tmux server on `socket`; each `start` is a session of its own, named for the test to target."""

    def __init__(self, socket: Path):
        self.socket = socket
        self.server_pid: int | None = None

    def run(self, *args: str) -> str:
        """One tmux command on this server; its stdout. A failure raises TmuxError with tmux's message."""
        assert TMUX is not None
        r = subprocess.run(
            [TMUX, "-S", str(self.socket), "-f", "/dev/null", *args], capture_output=True, text=True, timeout=10
        )
        if r.returncode != 0:
            raise TmuxError(f"tmux {' '.join(args)}: {r.stderr.strip()}")
        if self.server_pid is None and args and args[0] == "new-session":
            self.server_pid = int(self.run("display-message", "-p", "#{pid}").strip() or 0) or None
        return r.stdout

    def start(
        self,
        name: str,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        width: int = 160,
        height: int = 48,
        cwd: Path | None = None,
        hold: float | None = None,
    ) -> int:
        """Session `name`, `width` x `height`, running the shell `command`; the pid of its pane's process.

        COLUMNS/LINES are always unset (from the test runner's environment they would pin a console at 80x24),
        and so is every name in `unset`; `env` is set on top. Without `hold` the command is exec'd, so the pid
        is the program's own (a test may SIGKILL it); with `hold`, "EXITED <status>" shows when it ends and the
        pane stays `hold` seconds so the test can read it.
        """
        drop = " ".join(f"-u {shlex.quote(u)}" for u in ("COLUMNS", "LINES", *unset))
        assign = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        line = f"env {drop} {assign} {command}"
        line = f"{line}; echo EXITED $?; sleep {hold:g}" if hold is not None else f"exec {line}"
        if cwd is not None:
            line = f"cd {shlex.quote(str(cwd))} && {line}"
        self.run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), line)
        return self.pid(name)

    def pid(self, name: str) -> int:
        return int(self.run("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def size(self, name: str) -> str:
        """The pane's size as tmux has it, "WxH": what to tell beside a screen that looks wrong."""
        return self.run("display-message", "-p", "-t", name, "#{pane_width}x#{pane_height}").strip()

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", name)

    def keys(self, name: str, *keys: str, pace: float = PACE) -> None:
        """Keys (tmux key names) one at a time, `pace` seconds apart."""
        for k in keys:
            self.run("send-keys", "-t", name, k)
            time.sleep(pace)

    def text(self, name: str, text: str) -> None:
        """`text` typed literally (no key names), given time to land."""
        self.run("send-keys", "-t", name, "-l", text)
        time.sleep(0.3)

    def wait_for(self, name: str, check: Callable[[str], bool], what: str, timeout: float = waiting.TIMEOUT) -> str:
        """The screen of session `name`, once `check` holds for it; on timeout, the last screen is told."""

        def shown() -> str | None:
            screen = self.screen(name)
            return screen if check(screen) else None

        screen = waiting.wait_for(what, shown, timeout, detail=lambda: f"the screen was:\n{self.screen(name)}")
        assert screen is not None  # wait_for returns only a truthy value
        return screen

    def stop(self) -> None:
        """This server and everything in it, and its socket; nothing else's."""
        assert TMUX is not None
        subprocess.run([TMUX, "-S", str(self.socket), "kill-server"], capture_output=True, timeout=10)
        pid = self.server_pid
        if pid is not None:
            try:
                waiting.wait_for("the tmux server to exit", lambda: not _alive(pid), 10)
            except AssertionError:  # deaf to kill-server: by its own pid, never by name
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.socket.unlink(missing_ok=True)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def private_tmux(tmp: Path) -> Iterator[Tmux]:
    """A private tmux server with its socket in `tmp` (or a short dir of its own); stopped on leaving."""
    if TMUX is None:  # a real terminal is part of what these tests test: fail loudly, never skip
        pytest.fail("tmux is required (run tests/install-deps.sh)")
    short: Path | None = None
    socket = tmp / "tmux.sock"
    if len(str(socket)) > SOCKET_PATH_MAX:
        short = Path(tempfile.mkdtemp(prefix="wrtmux-", dir="/tmp"))
        socket = short / "s"
    t = Tmux(socket)
    try:
        yield t
    finally:
        t.stop()
        if short is not None:
            shutil.rmtree(short, ignore_errors=True)
