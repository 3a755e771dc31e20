"""The validated launch, kept per user and keyed by the config's bytes, so a second start skips validation.

Validating the reconciliation config (YAML, line map, pydantic, cross-checks) and building the models it
needs costs more than Textual takes to draw its first frame. `warroom run` asks `load_launch_cached`: the
key is the SHA-256 of the file's bytes together with the code that validates them (every module of this
package and core/units.py) and the Python and pydantic versions, so a changed file, or a changed warroom,
is validated in full, with every error reported as `load_launch` reports it (file:line:field). Only a
valid launch is ever stored.

The cache cannot be used to inject a config or code: an entry is read only from the user's own cache
directory (`$XDG_CACHE_HOME/warroom/config`, made 0700), only if that directory and the file are the
user's and writable by no one else; its header must name the key it is read for; and it is unpickled
with a loader that builds nothing but this package's models and datetimes (anything else is refused, and
the entry is ignored). A corrupt, foreign or unreadable entry is a miss; failing to write one costs only
the next start's time.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import pydantic

from warroom.config import schema
from warroom.config.loader import parse_launch, read_config
from warroom.config.schema import Launch

FORMAT = b"warroom-launch-cache 1\n"
KEEP = 32  # entries kept; the oldest go first
_ALLOWED_OTHER = {("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta"), ("datetime", "date")}


def cache_root() -> Path:
    """The user's warroom cache directory (`$XDG_CACHE_HOME/warroom`): validated configs, read themes."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "warroom"


def cache_dir() -> Path:
    return cache_root() / "config"


def _code_digest() -> bytes:
    """What validation depends on besides the file: this package's code, the units grammar, the versions."""
    h = hashlib.sha256(FORMAT)
    here = Path(__file__).resolve().parent
    for p in [*sorted(here.glob("*.py")), here.parent / "core" / "units.py"]:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(f"{sys.version}\0{pydantic.VERSION}".encode())
    return h.digest()


_CODE: bytes | None = None


def cache_key(raw: bytes) -> str:
    global _CODE
    if _CODE is None:
        _CODE = _code_digest()
    return hashlib.sha256(_CODE + raw).hexdigest()


def load_launch_cached(path: str | Path) -> Launch:
    """`load_launch`, answered from the per-user cache when this file's bytes were validated before."""
    raw, text = read_config(path)
    return _cached(raw, text, str(path))


def parse_launch_cached(text: str, name: str = "<config>") -> Launch:
    """`parse_launch`, answered from the same cache (a text is keyed by its UTF-8 bytes, as a file is): a log's
    own config, read by `warroom verify` or `report` on every run, is validated once."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not a file's text, validated as it is
        return parse_launch(text, name)
    return _cached(raw, text, name)


def _cached(raw: bytes, text: str, name: str) -> Launch:
    """The launch validated from `text` (whose bytes are `raw`) before, else validated now and kept."""
    key = cache_key(raw)
    where = cache_dir()
    launch = _get(where, key)
    if launch is not None:
        return launch
    launch = parse_launch(text, name)  # a ConfigError goes to the caller, as from parse_launch; nothing is stored
    _put(where, key, launch)
    return launch


class _ModelsOnly(pickle.Unpickler):
    """Builds this package's models and datetimes, nothing else (a pickle can name any callable)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == schema.__name__:
            found = getattr(schema, name, None)
            if isinstance(found, type) and issubclass(found, schema.Model):
                return found
        elif (module, name) in _ALLOWED_OTHER:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a launch")


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _get(where: Path, key: str) -> Launch | None:
    try:
        if not _private(os.stat(where)):
            return None
        fd = os.open(where / f"{key}.pickle", os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _private(st) or st.st_size > 16 << 20:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            blob = f.read()
    except OSError:
        return None
    finally:
        os.close(fd)
    head = FORMAT + key.encode() + b"\n"
    if not blob.startswith(head):
        return None
    try:
        launch = _ModelsOnly(io.BytesIO(blob[len(head) :])).load()
    except Exception:  # corrupt, truncated, or naming something that is not a launch's: a miss
        return None
    return launch if type(launch) is Launch else None


def _put(where: Path, key: str, launch: Launch) -> None:
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _private(os.stat(where)):
            return
        blob = FORMAT + key.encode() + b"\n" + pickle.dumps(launch, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, where / f"{key}.pickle")  # whole or not at all, for a console starting beside us
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        entries = sorted(where.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, RecursionError):
        return  # a cache that cannot be written costs the next start its time, nothing else
