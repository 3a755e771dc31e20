"""A process that uses a PostgreSQL log the way a console would, for tests/test_pg_store.py and the bench.

Usage: python3 tests/pgworker.py MODE URI [ARGS]. Each mode prints one line per thing it did, flushed, so
the test can follow it: `append N TAG`, `follow`, `lead HOST`, `writer`, `rollback HOST NAME`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from warroom.core.events import Actor  # noqa: E402
from warroom.store.base import Fenced, StoreUnavailable  # noqa: E402
from warroom.store.open import open_store  # noqa: E402
from warroom.store.pg import PgFollower, PgLog  # noqa: E402


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def actor(host: str = "bench", name: str | None = None) -> Actor:
    return Actor(user="tester", host=host, ssh=None, name=name)


def main(argv: list[str]) -> int:
    mode, uri = argv[0], argv[1]
    if mode == "append":  # N events one at a time, each its own transaction
        n, tag = int(argv[2]), argv[3]
        log = open_store(uri, actor(tag))
        assert isinstance(log, PgLog)
        say("ready")
        for i in range(n):
            log.append("note", {"tag": tag, "i": i})
        say(f"done retries={log.retries}")
        return 0
    if mode == "follow":  # print each event's seq and when this process saw it
        log = open_store(uri, actor())
        f = log.follower()
        assert isinstance(f, PgFollower)
        f.poll()
        say("ready")
        while True:
            for ev in f.wait(5.0):
                say(f"seen {ev.seq} {time.time():.6f}")
    if mode == "lead":  # take the recorder lease, then append fenced samples until fenced
        host = argv[2]
        log = open_store(uri, actor(host))
        lease = log.lease("recorder")
        while not lease.try_acquire():
            time.sleep(0.1)
        ev = log.append_many([("recorder", {"state": "acquired", "host": host})], fence=lease)[0]
        say(f"acquired term={lease.term} seq={ev.seq} at={time.time():.6f}")
        i = 0
        while True:
            try:
                ev = log.append_many([("sample", {"host": host, "n": i})], fence=lease)[0]
                say(f"appended {ev.seq}")
            except Fenced as e:
                say(f"fenced {e}")
                return 3
            except StoreUnavailable as e:
                say(f"down {e}")
            i += 1
            time.sleep(0.1)
    if mode == "writer":  # append forever; say what was recorded and when the store was down
        log = open_store(uri, actor("writer"))
        i = 0
        while True:
            try:
                ev = log.append("note", {"i": i})
                say(f"recorded {ev.seq} {ev.hash} {i}")
                i += 1
            except StoreUnavailable as e:
                say(f"down {e}")
                time.sleep(0.1)
            time.sleep(0.02)
    if mode == "rollback":  # take the rollback lease, or say who holds it
        host, name = argv[2], argv[3]
        log = open_store(uri, actor(host, name))
        lease = log.lease("rollback")
        if lease.try_acquire():
            say(f"held term={lease.term}")
            time.sleep(3600)
            return 0
        say(f"refused: another rollback is running: {lease.holder_text()}")
        return 1
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
