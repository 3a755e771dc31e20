"""Three real consoles in tmux on one PostgreSQL log (tests/pgserver.py): shared ticks, one recorder, faults told."""

from __future__ import annotations

import os
import shlex
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pgserver
import pytest
from runcli import argv
from test_multiconsole import ITEM, PACE, ROOT, start
from tmuxsession import Tmux
from waiting import wait_for

from warroom.store.base import StoreUnavailable
from warroom.store.open import open_reader

pytestmark = [pytest.mark.tmux, pytest.mark.slow]


def events(uri: str) -> list[dict[str, Any]]:
    try:
        r = open_reader(uri)
    except StoreUnavailable:
        return []
    try:
        return [{"kind": e.kind, "data": e.data, "ts": e.ts, "seq": e.seq} for e in r.events()]
    except StoreUnavailable:
        return []
    finally:
        r.close()


def test_three_consoles_on_one_postgresql_log(tmux: Tmux, tmp_path: Path) -> None:
    text = (ROOT / "configs" / "demo.yaml").read_text()
    t0 = datetime.fromtimestamp(time.time() + 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = text.replace("t0: 2026-01-01T12:00:00Z", f"t0: {t0}").replace("interval: 5s", "interval: 1s")
    launch_file = tmp_path / "launch.yaml"
    launch_file.write_text(text)
    with pgserver.running() as pg:
        uri = pg.create_db("consoles") + "#demo-launch"
        env = {
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "HOME": str(tmp_path),
            "TERM": "xterm-256color",
            "PYTHONPATH": str(ROOT),
        }
        names = {"c1": "demo", "c2": "cto", "c3": "devops"}
        pids = {}
        for name, who in names.items():
            cmd = shlex.join(argv("run", launch_file, "--log", uri, "--as", who))
            pids[name] = start(tmux, name, cmd, env)
            wait_for(f"console {name}", lambda n=name: "Checklist" in tmux.screen(n), timeout=60)

        holder = wait_for(
            "a recorder",
            lambda: [e for e in events(uri) if e["kind"] == "recorder" and e["data"].get("state") == "acquired"],
            timeout=30,
        )
        leader = holder[-1]["data"]["pid"]
        assert leader in pids.values()
        wait_for("samples", lambda: sum(e["kind"] == "sample" for e in events(uri)) >= 10)

        # a tick in one console reaches the others within a second of its commit
        tmux.keys("c1", "2", "Down", "Down", pace=PACE)
        wait_for("cursor on the item", lambda: ITEM in tmux.screen("c1"))
        tmux.keys("c1", "Space", pace=PACE)
        check = wait_for("the check", lambda: [e for e in events(uri) if e["kind"] == "check"], every=0.01)
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:  # both screens watched at once
            for n in ("c3", "c2"):
                if n not in seen and f"[x] {ITEM}" in tmux.screen(n):
                    seen[n] = time.time() - check[0]["ts"]
        # Each console waits on its connection's socket (store/wake.py): the NOTIFY wakes it, not its poll timer
        assert len(seen) == 2 and all(d < 1.0 for d in seen.values()), (seen, leader, pids)
        print(f"commit -> other consoles' screens: {seen}")

        # the recorder's console killed outright: another takes over within 5 s, no tick twice
        os.kill(leader, signal.SIGKILL)
        killed = time.time()
        took = wait_for(
            "a new recorder",
            lambda: [
                e
                for e in events(uri)
                if e["kind"] == "recorder" and e["data"].get("state") == "acquired" and e["data"].get("pid") != leader
            ],
            timeout=15,
        )
        assert took[0]["ts"] - killed < 5.0
        n_before = sum(e["kind"] == "sample" for e in events(uri))
        wait_for("new samples", lambda: sum(e["kind"] == "sample" for e in events(uri)) >= n_before + 5)
        ticks = Counter(
            (e["data"]["criterion"], e["data"].get("tick"))
            for e in events(uri)
            if e["kind"] == "sample" and not e["data"].get("baseline")
        )
        assert not {k: c for k, c in ticks.items() if c > 1}

        # the database goes away: the living consoles say so within seconds; it comes back: they carry on
        alive = [n for n, p in pids.items() if p != leader]
        pg.stop()
        for n in alive:
            wait_for(f"{n} says the database is down", lambda n=n: "DATABASE UNREACHABLE" in tmux.screen(n), timeout=15)
        pg.start()
        for n in alive:
            wait_for(f"{n} recovers", lambda n=n: "DATABASE UNREACHABLE" not in tmux.screen(n), timeout=20)
        n_back = sum(e["kind"] == "sample" for e in events(uri))
        wait_for("samples again", lambda: sum(e["kind"] == "sample" for e in events(uri)) > n_back)
        assert open_reader(uri).verify().ok
