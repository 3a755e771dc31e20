"""A log that cannot be written is said at once: a real console whose log is on a full filesystem shows
"recording FAILING: <reason>" in its header while the criteria still read GO (not 30 s later, when they go
STALE), and says "recording" again once space is back, with the gap recorded in the log.

The full filesystem is a small tmpfs mounted for the test; where mounting is not permitted, the same
console runs in a subprocess whose file size limit (RLIMIT_FSIZE) is lowered to the log's size instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ui_scenario import until  # noqa: E402

from warroom.config import parse_launch  # noqa: E402
from warroom.core.events import Actor  # noqa: E402
from warroom.core.rules import Level  # noqa: E402
from warroom.store.log import read_log, verify  # noqa: E402

DANA = Actor("dana", "bastion", name="Dana")
CONFIG = (
    "version: 1\n"
    "launch: {id: disk, name: Full disk, t0: 2027-01-15T08:00:00Z}\n"
    "roles: [{id: commander, title: Commander, members: [dana], commander: true}]\n"
    "phases: [{id: go, name: Go, at: -1d}]\n"
    "sources:\n  sim: {type: simulated, interval: 1s, signals: {x: {base: 1}}}\n"
    # a long stale limit: the header must say it long before silence would turn the criterion STALE
    "criteria:\n  - {id: x, name: X, source: sim, query: x, go: '< 5', stale_after: 10m}\n"
)


def status_line(app) -> str:  # type: ignore[no-untyped-def]
    from warroom.ui.header import Line

    return str(app.query_one("#status", Line)._shown)


async def scenario(log: Path, fill: Callable[[], None], unfill: Callable[[], None], reason: str) -> None:
    """Drive a real recording console: writable, then full, then writable again."""
    from warroom.ui.app import WarroomApp

    app = WarroomApp(parse_launch(CONFIG), log_path=log, actor=DANA, record=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.state.criteria["x"].samples > 0, "a first sample")
        await until(pilot, lambda: "LIVE  recording" in status_line(app), "LIVE recording")
        fill()
        await until(pilot, lambda: "recording FAILING" in status_line(app), "the header to say recording fails")
        line = status_line(app)
        assert reason in line, line
        assert "LIVE  recording ·" not in line
        assert app.frame is not None and app.frame.verdict.criteria[0].level == Level.GO  # not waiting for STALE
        unfill()
        await until(pilot, lambda: "recording FAILING" not in status_line(app), "recording again")
        assert "LIVE  recording" in status_line(app)
    events = read_log(log).events
    gaps = [e.data for e in events if e.kind == "recorder" and e.data.get("state") == "write_recovered"]
    assert gaps and gaps[0]["lost"] >= 1 and reason in gaps[0]["reason"], gaps
    assert verify(log).ok


@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[bool]:
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)], capture_output=True)
    try:
        yield res.returncode == 0
    finally:
        if res.returncode == 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


def test_header_says_recording_fails_on_a_full_disk(tmp_path: Path):
    disk = tmp_path / "disk"
    with small_tmpfs(disk) as mounted:
        if not mounted:
            _with_file_size_limit(tmp_path)
            return
        filler = disk / "filler"

        def fill() -> None:
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError as e:
                    assert e.errno == errno.ENOSPC
            with contextlib.suppress(OSError), open(disk / "crumbs", "wb") as f:  # the last few blocks
                while True:
                    f.write(b"\0" * 512)
                    f.flush()

        def unfill() -> None:
            filler.unlink()
            with contextlib.suppress(FileNotFoundError):
                (disk / "crumbs").unlink()

        asyncio.run(scenario(disk / "launch.jsonl", fill, unfill, "No space left on device"))


def _with_file_size_limit(tmp_path: Path) -> None:
    """The fallback: the same console in a subprocess, its file size limit lowered to the log's size."""
    proc = subprocess.run(
        [sys.executable, __file__, str(tmp_path / "launch.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _fsize_main(log: Path) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, not a signal
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def fill() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (log.stat().st_size, hard))

    def unfill() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    asyncio.run(scenario(log, fill, unfill, "File too large"))


def test_file_size_limit_fallback_works_too(tmp_path: Path):
    """The fallback path is exercised even where tmpfs can be mounted (it is what runs elsewhere)."""
    _with_file_size_limit(tmp_path)


if __name__ == "__main__":
    _fsize_main(Path(sys.argv[1]))


def test_an_alert_seen_while_writes_fail_is_recorded_once_they_work(tmp_path: Path):
    """What a failed write would have said is said again later: a firing alert is not lost for good."""
    from warroom.recorder.loop import Recorder
    from warroom.store.log import DecisionLog

    disk = tmp_path / "disk"
    cfg = CONFIG.replace(
        "signals: {x: {base: 1}}}",
        "signals: {x: {base: 1}}, alerts: [{at: 0s, labels: {alertname: Boom, severity: critical}}]}",
    )
    launch = parse_launch(cfg)

    async def run(log: Path, fill: Callable[[], None], unfill: Callable[[], None]) -> None:
        with DecisionLog(log, DANA) as dlog:
            rec = Recorder(launch, dlog, epoch=time.time() - 10)
            assert await rec.acquire()
            src = rec._sources["sim"]
            fill()
            with contextlib.suppress(OSError):  # use up the room left in the log's last page
                for _ in range(100):
                    dlog.append("note", {"text": "filling the last page " + "." * 100})
            await rec.poll_alerts(src, time.time())
            rec.flush()
            assert rec.write_failure is not None and "No space left" in rec.write_failure.reason
            unfill()
            await rec.poll_alerts(src, time.time())
            rec.flush()
            assert rec.write_failure is None
            await rec.release()

    with small_tmpfs(disk) as mounted:
        if not mounted:
            pytest.skip("mounting a tmpfs is not permitted here (the console tests above cover RLIMIT_FSIZE)")
        filler = disk / "filler"

        def fill() -> None:
            with contextlib.suppress(OSError), open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()

        asyncio.run(run(disk / "launch.jsonl", fill, filler.unlink))
        events = read_log(disk / "launch.jsonl").events
    kinds = [(e.kind, e.data.get("state") or e.data.get("status") or e.data.get("ok")) for e in events]
    assert ("recorder", "write_recovered") in kinds
    assert kinds.count(("alert", "firing")) == 1  # lost once, written once when space was back
    assert kinds.index(("recorder", "write_recovered")) < kinds.index(("alert", "firing"))
    health = [e.data for e in events if e.kind == "source"]
    assert [(d["feed"], d["ok"]) for d in health] == [("alerts", True)]
