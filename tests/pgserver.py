"""A real PostgreSQL for the tests and benches: `initdb` in a temp dir, one server on a free 127.0.0.1 port.

The server runs as the `postgres` account when we are root (PostgreSQL refuses root), with its unix
socket in a short directory under /tmp (a socket path must fit 107 bytes, and TMPDIR may be long).
It is started and stopped through tests/servers.py, so it ends with its owner however that ends.
A missing server binary fails loudly: the Debian `postgresql` package is installed by tests/install-deps.sh.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import servers

from warroom.store.base import StoreUnavailable
from warroom.store.open import open_reader

SUPERUSER = "warroom_admin"


def bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        on_path = shutil.which("postgres")
        if on_path:
            return Path(on_path).parent
        raise RuntimeError(
            "PostgreSQL is required by these tests and is not installed: no /usr/lib/postgresql/*/bin/postgres "
            "(run bash tests/install-deps.sh, which installs the Debian postgresql package)"
        )
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One running PostgreSQL: `dsn(db)` to connect as the superuser, `restart()`, `stop()`."""

    def __init__(self) -> None:
        self.bin = bindir()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="wrpg", dir="/tmp"))  # short: the socket lives here
        servers.own_dir(self.root)
        self.data = self.root / "data"
        self.port = free_port()
        self.server: servers.Server | None = None
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(
                "fsync = on\nsynchronous_commit = on\nmax_connections = 100\nshared_buffers = 32MB\n"
                "log_min_messages = warning\n"
            )
        self.start()

    def _run(self, argv: list[str]) -> None:
        res = subprocess.run(argv, user=self.user, capture_output=True, text=True, cwd=self.root, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({res.returncode}): {res.stderr or res.stdout}")

    def start(self) -> None:
        argv = [
            str(self.bin / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.root),
        ]
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 (the server writes it until it stops)
        self.server = servers.start(argv, name="postgres", stdout=log, stderr=subprocess.STDOUT, user=self.user)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.server.alive():
                raise RuntimeError(f"postgres exited at start: {(self.root / 'server.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                if self._ready():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"postgres did not start within 60 s: {(self.root / 'server.log').read_text()[-2000:]}")

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        """A fast shutdown (SIGINT: clients are cut off, committed work is kept), then servers.py's stop."""
        if self.server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server.pid, signal.SIGINT)  # SIGTERM would be a "smart" shutdown, waiting on clients
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.server.popen.wait(20)
            self.server.stop()
            self.server = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, db: str, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        """A fresh database (each test its own); returns its URI."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def sql(self, db: str, query: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.dsn(db), autocommit=True) as c:
            cur = c.execute(query)
            return list(cur.fetchall()) if cur.description else []


@contextlib.contextmanager
def running() -> Iterator[PgServer]:
    pg = PgServer()
    try:
        yield pg
    finally:
        pg.close()


def store_events(uri: str) -> list[Any]:
    """The events a store holds now, or none while it cannot be read (a fault test polls through its outage)."""
    try:
        r = open_reader(uri)
    except StoreUnavailable:
        return []
    try:
        return list(r.events())
    except StoreUnavailable:
        return []
    finally:
        r.close()
