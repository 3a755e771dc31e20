"""The highest (seq, hash) this user's consoles have seen of each log, kept in the user's own state directory.

A hash chain shows an edited or removed event in the middle, but not that the newest events were cut
off: the shorter log is a valid chain too. Someone who can write the log cannot write every user's home,
so the head each console saw, kept there, shows a log that is now behind it (truncated) or different at
that seq (rewritten). `$XDG_STATE_HOME/warroom/heads/`, one small JSON file per log (by real path).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from warroom.trust.guard import parse_head


def heads_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "warroom" / "heads"


def _name(log_path: str | os.PathLike[str]) -> str:
    """What names the log: a file by its real path, a shared store by its URI and launch (postgresql://…#id)."""
    text = os.fspath(log_path)
    return text if text.startswith(("postgresql://", "postgres://")) else os.path.realpath(text)


def _file(log_path: str | os.PathLike[str]) -> Path:
    return heads_dir() / (hashlib.sha256(_name(log_path).encode()).hexdigest()[:32] + ".json")


def seen(log_path: str | os.PathLike[str]) -> tuple[int, str] | None:
    """The highest head a console of this user saw of the log, or None (never seen, or unreadable)."""
    try:
        d = json.loads(_file(log_path).read_text())
        return parse_head(str(d.get("head", "")))
    except (OSError, ValueError, AttributeError):
        return None


def remember(log_path: str | os.PathLike[str], seq: int, digest: str) -> None:
    """Keep (seq, hash) if it is beyond what is kept; never lowers it (a truncated log must not reset it)."""
    old = seen(log_path)
    if old is not None and old[0] >= seq:
        return
    f = _file(log_path)
    try:
        f.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = f.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"log": _name(log_path), "head": f"{seq}:{digest}"}))
        os.replace(tmp, f)
    except OSError:
        pass  # an anchor we cannot keep weakens a check, it never blocks the console


__all__ = ["heads_dir", "remember", "seen"]
