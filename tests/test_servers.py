"""Whatever a bench or a test fixture starts ends with it, however it ends (tests/servers.py).

Each test runs a real owner as a child process with TMPDIR (or pytest's basetemp) set to a
directory of its own, waits until the owner's servers are up, signals the owner, and then looks
at every process on the machine: none whose command line or working directory names that
directory may be left (a Prometheus, an Alertmanager, the bench's proxy), nor any process the owner
had started (the cleanup watchdog included), and the servers' directories must be gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
# Seconds after the signal. The servers stop in well under one; the owner itself may take longer
# to exit (pytest's session summary on a loaded machine), and the watchdog goes with it.
WITHIN = {"servers": 10.0, "dirs": 10.0, "owner": 30.0, "all": 30.0}

# An owner with one plain server (`sleep`, in its directory under argv[2]), ending as argv[1] says.
PLAIN_OWNER = """
import sys, threading, time
from pathlib import Path

import servers

how, base = sys.argv[1], Path(sys.argv[2])


def go():
    servers.start(["sleep", "1000"], name="sleep", dir=base / "srv")


if how == "thread-then-kill":  # started from a thread that has ended: no PR_SET_PDEATHSIG, the watchdog covers it
    t = threading.Thread(target=go)
    t.start()
    t.join()
else:
    go()
print("UP", flush=True)
if how == "exception":
    raise RuntimeError("the bench failed")
if how == "exit":
    sys.exit(0)  # without stopping it: the exit hook does
time.sleep(100)
"""

HOLD_TEST = """
import time

from promstack import prom_stack


def test_hold(tmp_path):
    with prom_stack(tmp_path) as stack:
        print("STACK UP", stack.prom_url, flush=True)
        time.sleep(120)
"""


def naming(base: Path, owner: int) -> list[psutil.Process]:
    """Live processes but `owner` whose command line or working directory is in `base`."""
    found = []
    for p in psutil.process_iter(["cmdline", "cwd", "status"]):
        info = p.info
        if info["status"] == psutil.STATUS_ZOMBIE or p.pid == owner:
            continue
        if str(base) in " ".join(info["cmdline"] or []) or (info["cwd"] or "").startswith(str(base)):
            found.append(p)
    return found


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (is_running checks the start time too: a reused pid is not ours)."""
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def until(what: str, check: Callable[[], object], timeout: float, out: Path) -> object:
    """waiting.wait_for, telling the owner's output on a timeout."""
    return wait_for(what, check, timeout, detail=lambda: f"owner's output:\n{tail(out)}")


def tail(out: Path) -> str:
    return "\n".join(out.read_text(errors="replace").splitlines()[-25:]) if out.exists() else "(none)"


def describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid} {' '.join(p.cmdline())[:160]}")
        except psutil.Error:
            out.append(f"{p.pid} (gone)")
    return out


class Owner:
    """The owner child process, and every process of it seen so far."""

    def __init__(self, argv: list[str], base: Path, out: Path, env: dict[str, str], cwd: Path) -> None:
        self.base, self.out = base, out
        with open(out, "wb") as f:
            self.popen = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        self.me = psutil.Process(self.popen.pid)
        self.seen: dict[int, psutil.Process] = {}

    def look(self) -> list[psutil.Process]:
        """The owner's processes now: its descendants and whatever names its directory."""
        now = naming(self.base, self.popen.pid)
        try:
            now += self.me.children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        for p in now:
            self.seen.setdefault(p.pid, p)
        return now

    def servers_up(self, *names: str) -> bool:
        cmdlines = [" ".join(p.cmdline()) for p in alive(naming(self.base, self.popen.pid))]
        return all(any(n in c for c in cmdlines) for n in names)

    def signal_and_watch(self, sig: signal.Signals, dirs: Callable[[], list[Path]]) -> dict[str, float]:
        """Send `sig` and watch. Seconds after it until: no process names the owner's directory
        ("servers"), the owner has exited ("owner"), no process of it is left, the cleanup watchdog
        included ("all"), and `dirs()` is empty ("dirs")."""
        self.look()
        assert len(self.seen) >= 2, describe(list(self.seen.values()))
        t = time.monotonic()
        self.popen.send_signal(sig)
        took: dict[str, float] = {}
        checks: dict[str, Callable[[], bool]] = {
            "servers": lambda: not alive(naming(self.base, self.popen.pid)),
            "owner": lambda: self.popen.poll() is not None,
            "all": lambda: self.popen.poll() is not None and not alive(list(self.seen.values())),
            "dirs": lambda: not dirs(),
        }
        while len(took) < len(checks) and time.monotonic() - t < max(WITHIN.values()):
            for what, check in checks.items():
                if what not in took and check() and time.monotonic() - t <= WITHIN[what]:
                    took[what] = time.monotonic() - t
            time.sleep(0.02)
        left = {
            "servers": describe(alive(naming(self.base, self.popen.pid))),
            "all": describe(alive(list(self.seen.values()))),
            "dirs": dirs(),
            "owner": self.popen.poll(),
        }
        missed = {what: left[what] for what in checks if what not in took}
        assert not missed, (
            f"limits {WITHIN} s after {sig.name}, still there: {missed}\nowner's output:\n{tail(self.out)}"
        )
        return took

    def close(self) -> None:
        """If a test failed half-way: end the owner and what it started (only those: found by its directory)."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        for p in alive([*self.seen.values(), *naming(self.base, self.popen.pid)]):
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


@pytest.fixture
def owners() -> Iterator[list[Owner]]:
    made: list[Owner] = []
    yield made
    for o in made:
        o.close()


def figures(took: dict[str, float]) -> str:
    return ", ".join(f"{what} {secs:.2f}s" for what, secs in took.items())


def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])
    env.update(extra)
    return env


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "when"),
    [
        (signal.SIGTERM, "prometheus"),  # as `timeout 55 python3 bench/poll_bench.py` sends, while it starts
        (signal.SIGINT, "proxy"),  # Ctrl-C, with the proxy running too
        (signal.SIGKILL, "proxy"),  # no chance to clean up: the kernel and the watchdog do it
    ],
)
def test_an_interrupted_bench_leaves_no_server(
    sig: signal.Signals, when: str, tmp_path: Path, owners: list[Owner]
) -> None:
    base = tmp_path / "tmp"
    base.mkdir()
    bench = Owner(
        [sys.executable, str(ROOT / "bench" / "poll_bench.py"), "--rounds", "2", "--rtt-ms", "100"],
        base,
        tmp_path / "bench.out",
        env_with(TMPDIR=str(base)),
        ROOT,
    )
    owners.append(bench)
    until("the bench's Prometheus", lambda: bench.servers_up("prometheus"), 60, bench.out)
    if when == "proxy":
        until("the bench's proxy", lambda: bench.servers_up("prometheus", "asyncio.start_server"), 120, bench.out)
    bench.look()
    took = bench.signal_and_watch(sig, lambda: list(base.iterdir()))
    assert bench.popen.returncode == -sig, f"exit status {bench.popen.returncode}:\n{tail(bench.out)}"
    print(f"\nbench, {sig.name} while {when} up: gone after {figures(took)}")


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_killed_test_run_leaves_no_server(sig: signal.Signals, tmp_path: Path, owners: list[Owner]) -> None:
    base = tmp_path / "basetemp"
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pytest.ini").write_text("[pytest]\n")
    (inner / "test_hold.py").write_text(HOLD_TEST)
    run = Owner(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"--basetemp={base}", "test_hold.py"],
        base,
        tmp_path / "pytest.out",
        env_with(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"),  # a plain pytest: the test needs no plugin
        inner,
    )
    owners.append(run)
    until("the test's Prometheus and Alertmanager", lambda: "STACK UP" in run.out.read_text(), 90, run.out)
    assert run.servers_up("prometheus", "alertmanager"), describe(naming(base, run.popen.pid))
    found = [d for d in base.rglob("*") if d.is_dir() and d.name in ("prom", "am")]  # while nothing is removed
    assert len(found) == 2, found
    took = run.signal_and_watch(sig, lambda: [d for d in found if d.exists()])
    # pytest answers Ctrl-C with its own "interrupted" status, 2; SIGTERM is re-raised, as sent
    expected = 2 if sig == signal.SIGINT else -sig
    assert run.popen.returncode == expected, f"exit status {run.popen.returncode}:\n{tail(run.out)}"
    print(f"\npytest run, {sig.name} mid-test: gone after {figures(took)}")


@pytest.mark.parametrize(("how", "status"), [("exception", 1), ("exit", 0), ("thread-then-kill", -signal.SIGKILL)])
def test_a_server_ends_with_its_owner(how: str, status: int, tmp_path: Path, owners: list[Owner]) -> None:
    base = tmp_path / "own"
    owner = Owner([sys.executable, "-c", PLAIN_OWNER, how, str(base)], base, tmp_path / "out", env_with(), tmp_path)
    owners.append(owner)
    until("the server", lambda: "UP" in owner.out.read_text() or owner.popen.poll() is not None, 30, owner.out)
    if how == "thread-then-kill":
        time.sleep(0.5)
        assert owner.servers_up("sleep 1000"), "the server died with the thread that started it"
        owner.look()
        owner.popen.kill()
    owner.popen.wait(timeout=30)
    until(
        "the server to end and its directory to go",
        lambda: not alive([*owner.seen.values(), *naming(base, owner.popen.pid)]) and not (base / "srv").exists(),
        10,
        owner.out,
    )
    assert owner.popen.returncode == status, tail(owner.out)
