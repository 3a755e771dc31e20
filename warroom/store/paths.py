"""Where logs live by default (one per launch in the user's data directory), and where their side files live."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "warroom"


def default_log_path(launch_id: str, *, fresh: bool = False, now: float | None = None) -> Path:
    """`$XDG_DATA_HOME/warroom/<launch-id>.jsonl`; `fresh` adds a timestamp (the demo starts anew each time)."""
    if not fresh:
        return data_dir() / f"{launch_id}.jsonl"
    stamp = datetime.fromtimestamp(now if now is not None else datetime.now(UTC).timestamp(), UTC)
    return data_dir() / f"{launch_id}-{stamp.strftime('%Y%m%dT%H%M%SZ')}.jsonl"


class Lock(StrEnum):
    """The locks beside a log: the recorder's leader lock and the rollback lock (the suffix of each file)."""

    RECORDER = ".recorder.lock"
    ROLLBACK = ".rollback.lock"


def lock_path(log_path: str | os.PathLike[str], lock: Lock) -> Path:
    """Named from the log's real path: every name for one log shares each lock (see sidefiles.py)."""
    return side_path(log_path, lock.value)


def side_path(log_path: str | os.PathLike[str], suffix: str) -> Path:
    """`<log>.<suffix>` named from the log's real path, so every name that reaches one log file (a symlink,
    a symlinked directory, `..`) gets the same lock, marker and torn file (see sidefiles.py)."""
    return Path(os.path.realpath(log_path) + suffix)
