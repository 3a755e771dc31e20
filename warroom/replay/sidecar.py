"""The replay index saved after a first full pass, so a second open of an unchanged log is ready at once.

What it holds: the checkpoints (folded states, byte offsets, chain positions), the decision marks, the
log's range and counts, backfilled points and signature verdicts: everything `open_replay` learns from
one pass. A second open of the same bytes loads it instead of folding the log again.

Where it lives, and why pickling it is safe. Checkpoints are folded `LaunchState`s, pickled (as replay
always kept them in memory). Unpickling data someone else wrote can run code, so the index is never kept
beside the log (a shared, perhaps read-only, directory another user could write): only in this user's
own cache, `$XDG_CACHE_HOME/warroom/replay/` (default `~/.cache`), made 0700, files 0600, opened without
following symlinks and refused unless owned by this user. What can write there can already run code as
this user. As a second wall the unpickler loads only classes of `warroom.core` (the fold's own data
types) and `collections.deque`: no function, no other module.

Never trusted for integrity. The key is the format, the fold's code (a hash of its source), the log's
size and the hash of its last complete line (the chain head: it commits to every byte before it). A key
that matches only says which index to try: the replay still re-hashes the whole chain in the background
and checks every checkpoint's position against it (timeline.py), and throws the index away and rebuilds
it at the first disagreement. PostgreSQL logs are replayed from a private snapshot file that is new each
time, so they get no sidecar (the command turns it off).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

FORMAT = 1
KEEP = 16  # sidecars kept (one per log); the oldest beyond it are removed
_MAGIC = b"warroom-replay-index\n"
_TAIL = 1 << 16  # bytes read back from the end to find the last complete line (more if a line is longer)
_MAX_HEADER = 1 << 12


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "warroom" / "replay"


def sidecar_path(log: str | os.PathLike[str]) -> Path:
    """One index per log, named from its real path (every name of the log finds the same index)."""
    name = hashlib.sha256(os.path.realpath(log).encode()).hexdigest()[:32]
    return cache_dir() / f"{name}.idx"


def _code_hash() -> str:
    """The fold's code: an index folded by other code is not this code's fold (a new warroom rebuilds it)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for sub in ("core", "replay", "trust", "config"):
        for f in sorted((root / sub).glob("*.py")):
            with contextlib.suppress(OSError):
                h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:32]


_CODE: str | None = None


def code_hash() -> str:
    global _CODE
    if _CODE is None:
        _CODE = _code_hash()
    return _CODE


def tail_head(path: str | os.PathLike[str], size: int) -> tuple[int, str, float | None]:
    """(seq, hash, ts) of the last complete line, read from the end only; (0, "", None) if there is none.

    Only a key: nothing here is trusted (the background verify checks the whole chain)."""
    from warroom.core.events import parse_iso

    want = _TAIL
    with open(path, "rb") as f:
        while True:
            start = max(0, size - want)
            f.seek(start)
            data = f.read(size - start)
            end = data.rfind(b"\n")
            if end < 0:
                if start == 0:
                    return 0, "", None
                want *= 4
                continue
            begin = data.rfind(b"\n", 0, end) + 1
            if begin == 0 and start > 0:
                want *= 4
                continue
            try:
                d = orjson.loads(data[begin:end])
                return int(d["seq"]), str(d["hash"]), parse_iso(str(d["ts"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                return 0, "", None


@dataclass(frozen=True)
class Key:
    """What an index was built from; an index whose key differs is not looked at."""

    log: str  # the real path
    size: int
    seq: int  # of the last complete line
    head: str  # its hash
    extra: str = ""  # anything else the fold depended on (checkpoint spacing, the allowed_signers file)

    def header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "code": code_hash(),
            "log": self.log,
            "size": self.size,
            "seq": self.seq,
            "head": self.head,
            "extra": self.extra,
        }


def key_for(path: str | os.PathLike[str], extra: str = "") -> Key:
    size = os.path.getsize(path)
    seq, head, _ts = tail_head(path, size)
    return Key(os.path.realpath(path), size, seq, head, extra)


# ---------------------------------------------------------------- the restricted unpickler

_ALLOWED = {("collections", "deque"): deque, ("builtins", "set"): set, ("builtins", "frozenset"): frozenset}


class SafeUnpickler(pickle.Unpickler):
    """Loads only warroom.core classes and a few containers: a planted pickle cannot name a function to call."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module.startswith("warroom.core.") and "." not in name:
            obj = super().find_class(module, name)
            if isinstance(obj, type):
                return obj
        raise pickle.UnpicklingError(f"the replay index names {module}.{name}: not one of the fold's types")


def safe_loads(blob: bytes) -> Any:
    return SafeUnpickler(io.BytesIO(blob)).load()


# ---------------------------------------------------------------- reading and writing


def _private_dir() -> Path | None:
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = os.lstat(d)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            return None
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(d, 0o700)
    except OSError:
        return None
    return d


def load(key: Key) -> dict[str, Any] | None:
    """The saved index for exactly this key, or None (missing, another key, unreadable, not ours, unsafe)."""
    path = sidecar_path(key.log)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            if f.read(len(_MAGIC)) != _MAGIC:
                return None
            header = f.readline(_MAX_HEADER)
            try:
                if orjson.loads(header) != key.header():
                    return None
            except orjson.JSONDecodeError:
                return None
            body = f.read()
        data = safe_loads(body)
        return data if isinstance(data, dict) else None
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError):
        return None
    finally:
        os.close(fd)


def save(key: Key, data: dict[str, Any]) -> Path | None:
    """Write the index atomically in the private cache; None if it cannot be (the replay works without it)."""
    d = _private_dir()
    if d is None:
        return None
    path = sidecar_path(key.log)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + orjson.dumps(key.header()) + b"\n" + blob)
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError):
        with contextlib.suppress(OSError):
            tmp.unlink()
        return None
    _prune(d, keep=path)
    return path


def discard(log: str | os.PathLike[str]) -> None:
    """Remove the index of a log (it did not match the log's bytes)."""
    with contextlib.suppress(OSError):
        sidecar_path(log).unlink()


def _prune(d: Path, keep: Path) -> None:
    try:
        files = sorted(d.glob("*.idx"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in files[KEEP:]:
        if old != keep:
            with contextlib.suppress(OSError):
                old.unlink()


__all__ = ["FORMAT", "Key", "SafeUnpickler", "cache_dir", "discard", "key_for", "load", "safe_loads", "save"]
