"""Server processes that end with their owner, however the owner ends.

Benches (bench/*.py) and test fixtures (tests/promstack.py) start real servers: Prometheus,
Alertmanager, proxies, and later PostgreSQL and a browser. `start()` starts one so that it is
stopped (SIGTERM, then SIGKILL; waited for; its directory removed) when its owner ends:

- normal exit or an exception: the caller's `with`/`stop()`, and an atexit hook for any left;
- SIGINT: Python's KeyboardInterrupt unwinds the same way (left as Python has it, so asyncio.run
  and pytest keep their own Ctrl-C handling); the process still exits as killed by SIGINT;
- SIGTERM and SIGHUP: a handler raises `Terminated` (a KeyboardInterrupt, so pytest and asyncio
  stop the run instead of counting one failed test), the stack unwinds and stops the servers, and
  the process then re-raises the signal on itself, so its parent sees it killed by SIGTERM. A
  second signal while stopping kills the owner at once (the two backstops below clean up);
- SIGKILL of the owner, or anything else that skips the above: the kernel kills each server
  (PR_SET_PDEATHSIG, set in the child before exec), and a small watchdog process, which sees the
  owner's end as EOF on a pipe, kills whatever registered server is still alive and removes the
  registered directories.

Servers go in a new session by default, so a Ctrl-C typed at the terminal reaches the owner
only, and the owner stops them in order (not both at once, with the owner's last queries failing
on a dead server).

This module lives in tests/ (on sys.path for the tests, and added by the benches that already use
tests/promstack.py) and needs only the standard library: no install, no warroom import.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1
STOP_TIMEOUT = 10.0  # seconds a server gets to exit on SIGTERM before SIGKILL

_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int

_lock = threading.RLock()
_servers: dict[int, Server] = {}  # pid -> server not yet stopped
_dirs: set[Path] = set()  # temp_dir()s not yet removed
_watchdog: subprocess.Popen[bytes] | None = None
_received = 0  # the termination signal received, 0 if none
_exiting = False


class Terminated(KeyboardInterrupt):
    """The owner was sent SIGTERM/SIGHUP: unwind like Ctrl-C, so every `with` stops its servers."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the pid,
    names one process for good, so a reused pid is never mistaken for our server."""
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat[stat.rfind(b")") + 2 :].split()[19])


class Server:
    """A server process we started; `stop()` ends it, waits for it and removes its directory."""

    def __init__(self, name: str, popen: subprocess.Popen[Any], dir: Path | None, group: bool) -> None:
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.dir = dir
        self.group = group  # it leads its own process group: signal the group (its children too)
        self.started = start_time(self.pid)

    @property
    def stdout(self) -> IO[Any] | None:
        return self.popen.stdout

    def alive(self) -> bool:
        return self.popen.poll() is None

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.group and self.popen.returncode is None:
                os.killpg(self.pid, sig)  # unreaped, the leader holds its pid: the group id is still ours
            elif self.popen.returncode is None:
                os.kill(self.pid, sig)

    def _exited(self) -> bool:
        """Whether it has exited, leaving it unreaped (a zombie keeps its pid, and so its group id, ours)."""
        if self.popen.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, wait up to `timeout`, then SIGKILL; wait; remove its directory. Idempotent."""
        deadline = time.monotonic() + timeout
        if not self._exited():
            self._signal(signal.SIGTERM)
            while not self._exited() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not self._exited():
                self._signal(signal.SIGKILL)
        if self.group:
            self._signal(signal.SIGKILL)  # anything it forked and left in its group
        self.popen.wait()
        for f in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        with _lock:
            _servers.pop(self.pid, None)
        _tell({"op": "del", "pid": self.pid, "dir": str(self.dir) if self.dir else None})

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Server {self.name} pid={self.pid} {'running' if self.alive() else 'exited'}>"


def start(
    argv: list[str],
    *,
    name: str | None = None,
    dir: Path | None = None,
    new_session: bool = True,
    stdin: Any = subprocess.DEVNULL,
    stdout: Any = None,
    stderr: Any = None,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    text: bool = False,
    user: str | None = None,
) -> Server:
    """Start `argv` as a server owned by this process.

    `dir` is the server's own directory (created if missing, removed when it stops); it is also its
    working directory unless `cwd` is given. `new_session` keeps it out of the terminal's Ctrl-C.
    `user` runs it as that account (PostgreSQL refuses to run as root); the credentials change before
    the PDEATHSIG is set, which a change of credentials would clear.
    Start servers from the main thread: PR_SET_PDEATHSIG fires when the *thread* that forked the
    child ends, so from another thread it is not set and only the watchdog covers the owner's death.
    """
    _install()
    if dir is not None:
        dir.mkdir(parents=True, exist_ok=True)
    main = threading.current_thread() is threading.main_thread()
    parent = os.getpid()

    def child() -> None:  # runs in the child between fork and exec: no allocation-heavy work here
        if main:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the owner died before the prctl took effect
                os._exit(1)

    with _deferred():  # a SIGTERM now waits until the server is registered, to be stopped
        popen = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd if cwd is not None else dir,
            env=env,
            text=text,
            start_new_session=new_session,
            preexec_fn=child,
            user=user,
            group=user,
            extra_groups=[] if user is not None else None,
        )
        server = Server(name or Path(argv[0]).name, popen, dir, new_session)
        with _lock:
            _servers[server.pid] = server
        where = str(dir) if dir else None
        _tell({"op": "add", "pid": server.pid, "start": server.started, "group": new_session, "dir": where})
    return server


def interrupt(popen: subprocess.Popen[Any], grace: float = 15.0) -> None:
    """Stop a child as a person would, with Ctrl-C's SIGINT (a warroom process records its own end then), and
    SIGKILL it if it has not ended within `grace` seconds. For a test's own children, not `start()`'s servers."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGINT)
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)


def own_dir(path: Path) -> Path:
    """Have `path` removed when this process ends, if it is still there: by the exit hook, or by the
    watchdog if the process is killed. (The caller may remove it earlier, as it always did.)"""
    _install()
    with _deferred():
        with _lock:
            _dirs.add(path)
        _tell({"op": "add", "pid": None, "dir": str(path)})
    return path


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A fresh temporary directory, removed on exit; removed by the watchdog if the owner is killed."""
    with _deferred():
        path = own_dir(Path(tempfile.mkdtemp(prefix=prefix)))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with _lock:
            _dirs.discard(path)
        _tell({"op": "del", "pid": None, "dir": str(path)})


def stop_all() -> None:
    """Stop every server still running (newest first: a proxy before the server behind it), remove
    every temp_dir() left."""
    while True:
        with _lock:
            if not _servers:
                break
            server = next(reversed(_servers.values()))
        server.stop()
    with _lock:
        dirs = list(_dirs)
        _dirs.clear()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
        _tell({"op": "del", "pid": None, "dir": str(d)})


# ----------------------------------------------------------------------------- signals and exit

_installed = _handled = False
_owner = 0  # the pid that installed the hooks: a child forked from it (not exec'd) owns nothing


def _install() -> None:
    """Once per process: the exit hook; and, from the main thread (the only one that may), handlers
    for SIGTERM/SIGHUP where none is set yet."""
    global _installed, _handled, _owner
    with _lock:
        if not _installed:
            _installed, _owner = True, os.getpid()
            atexit.register(_at_exit)
            _hook = sys.excepthook

            def excepthook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
                if isinstance(exc, Terminated):  # asked to stop, not a crash: one line, no traceback
                    print(f"{Path(sys.argv[0]).name}: {exc}; its servers are stopped", file=sys.stderr)
                else:
                    _hook(kind, exc, tb)

            sys.excepthook = excepthook
    if not _handled and threading.current_thread() is threading.main_thread():
        _handled = True
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)


_defer = 0  # > 0 while a server is being started and registered
_pending = 0  # a signal that arrived meanwhile


@contextlib.contextmanager
def _deferred() -> Iterator[None]:
    """Signal handlers run in the main thread: there, hold a SIGTERM/SIGHUP until the block is done."""
    global _defer, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _defer += 1
    try:
        yield
    finally:
        _defer -= 1
        if not _defer and _pending:
            signum, _pending = _pending, 0
            _on_signal(signum, None)


def _on_signal(signum: int, _frame: object) -> None:
    global _received, _pending
    if os.getpid() != _owner:  # a forked child: the signal's usual effect
        _die(signum)
    if _defer and not _received:
        _pending = signum
        return
    if _exiting:  # already stopping in the exit hook: let it finish, then die by this signal
        _received = _received or signum
        return
    if _received:  # a second signal while stopping: die now, the kernel and the watchdog clean up
        _die(signum)
    _received = signum
    raise Terminated(signum)


def _die(signum: int) -> None:
    for f in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            f.flush()
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached


def _at_exit() -> None:
    global _exiting, _watchdog
    if os.getpid() != _owner:  # a forked child exiting: the servers are its parent's
        return
    _exiting = True
    try:
        stop_all()
    finally:
        wd, _watchdog = _watchdog, None
        if wd is not None and wd.stdin is not None:
            with contextlib.suppress(OSError):
                wd.stdin.close()  # EOF: nothing left registered, so it just exits
        if _received:
            _die(_received)  # exit as killed by the signal, as the sender expects


# ----------------------------------------------------------------------------- the watchdog

WATCHDOG = r"""
import json, os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
pids, dirs = {}, set()
for line in sys.stdin:
    m = json.loads(line)
    if m["op"] == "add":
        if m["pid"] is not None:
            pids[m["pid"]] = (m["start"], m["group"])
        if m["dir"]:
            dirs.add(m["dir"])
    else:
        pids.pop(m["pid"], None)
        dirs.discard(m["dir"])
# EOF: the owner has ended. Whatever it did not stop is ours to stop.
def same(pid, start):
    try:
        stat = open(f"/proc/{pid}/stat", "rb").read()
    except OSError:
        return False
    rest = stat[stat.rfind(b")") + 2:].split()
    return rest[0] not in (b"Z", b"X") and int(rest[19]) == start
def kill(sig):
    for pid, (start, group) in pids.items():
        if same(pid, start):
            try:
                os.killpg(pid, sig) if group else os.kill(pid, sig)
            except OSError:
                pass
kill(signal.SIGTERM)
deadline = time.monotonic() + 5
while any(same(p, s) for p, (s, _g) in pids.items()) and time.monotonic() < deadline:
    time.sleep(0.05)
kill(signal.SIGKILL)
while any(same(p, s) for p, (s, _g) in pids.items()):
    time.sleep(0.05)
for d in dirs:
    shutil.rmtree(d, ignore_errors=True)
"""


def _tell(message: dict[str, object]) -> None:
    """Register with (or unregister from) the watchdog, starting it on first use."""
    global _watchdog
    with _lock:
        if _watchdog is None:
            if message["op"] == "del":
                return
            _watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", WATCHDOG],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # neither the terminal's Ctrl-C nor a kill of our group ends it
            )
        if _watchdog.stdin is None or _watchdog.stdin.closed:
            return
        try:
            _watchdog.stdin.write(json.dumps(message).encode() + b"\n")
            _watchdog.stdin.flush()
        except OSError as e:
            print(f"servers: the cleanup watchdog is gone ({e}); a killed owner may leave files", file=sys.stderr)
            with contextlib.suppress(OSError):
                _watchdog.stdin.close()
