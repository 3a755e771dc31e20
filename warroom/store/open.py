"""Opening a decision log by what the user gave: a file path, or `postgresql://USER@HOST:PORT/DB#LAUNCH_ID`.

Every command that takes a log opens it here, so the choice of backend is made in one place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from warroom.config import Launch
from warroom.core.events import Actor
from warroom.store.base import LogReader, Store
from warroom.store.log import DecisionLog, FileLog
from warroom.store.pg import PgSpec, is_uri, parse_uri


def spec_of(
    text: str | Path, launch_id: str | None = None, *, password_env: str | None = None, password_file: str | None = None
) -> Path | PgSpec:
    """The log a --log value names: a PgSpec for a PostgreSQL URI, else a file path."""
    if isinstance(text, str) and is_uri(text):
        return parse_uri(text, launch_id, password_env=password_env, password_file=password_file)
    return Path(text)


def spec_for(text: str | None, launch: Launch) -> Path | PgSpec | None:
    """The log for a launch: `--log` if given, else the config's `store:` (None if neither); the password
    source from `store:` either way."""
    st = launch.store
    env, file = (st.password_env, st.password_file) if st is not None else (None, None)
    if text:
        return spec_of(text, launch.id, password_env=env, password_file=file)
    if st is not None:
        return parse_uri(st.url, launch.id, password_env=env, password_file=file)
    return None


def open_store(
    spec: str | Path | PgSpec, actor: Actor, clock: Callable[[], float] = time.time, *, launch_id: str | None = None
) -> Store:
    """Open a log for appending (a file is created if missing; a database's tables on first use)."""
    where = spec if isinstance(spec, PgSpec) else spec_of(spec, launch_id)
    if isinstance(where, PgSpec):
        from warroom.store.pg import PgLog

        return PgLog(where, actor, clock)
    return DecisionLog(where, actor, clock)


def open_reader(spec: str | Path | PgSpec, *, launch_id: str | None = None) -> LogReader:
    """Open a log for reading only (nothing is created; a file must exist)."""
    where = spec if isinstance(spec, PgSpec) else spec_of(spec, launch_id)
    if isinstance(where, PgSpec):
        from warroom.store.pg import PgReader

        return PgReader(where)
    if not where.is_file():
        raise FileNotFoundError(f"{where}: no such log file")
    return FileLog(where)


def local_snapshot(text: str, *, launch_id: str | None = None) -> Path:
    """A PostgreSQL launch's exact lines in a private temporary file, removed at exit.

    The read-only commands (verify, log, report, replay) then read the very bytes the database holds
    through the file code, so their output is the same from either store by construction. The database's
    own checks (its head and seq column agree with the lines) are made here first: LogCorrupt if not.
    """
    import atexit
    import shutil
    import tempfile

    from warroom.store.log import LogCorrupt, verify

    reader = open_reader(text, launch_id=launch_id)
    try:
        res = reader.verify()
        where = Path(tempfile.mkdtemp(prefix="warroom-pg-"))
        atexit.register(shutil.rmtree, where, True)
        path = where / f"{getattr(reader, 'launch', 'log')}.jsonl"
        with open(path, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            for line in reader.lines():
                f.write(line + b"\n")
    finally:
        reader.close()
    if res.problem is not None and verify(path).ok:  # the lines are sound: the database's own records disagree
        raise LogCorrupt(f"{reader.name}: {res.problem.reason}", res.problem)
    return path
