"""Files beside the log (locks, torn bytes, the rollback marker): never through a symlink, never wider than the log.

Identity. Every side file is named from the log's *real* path (`paths.side_path`:
symlinks anywhere in the path resolved), so `Rlink.jsonl -> R.jsonl` and
`R.jsonl` share one `R.jsonl.recorder.lock` and one `R.jsonl.rollback.lock`:
single flight holds for every name that reaches the file. A second hard link
would be a second name the resolution cannot see, so `DecisionLog` refuses to
write a log with more than one link.

Opening. `O_NOFOLLOW` (a planted symlink is refused, never followed),
`O_CLOEXEC` (a rollback step does not inherit a lock), `O_NONBLOCK` (a planted
FIFO cannot hang us), `O_EXCL` where the file must be new; then `fstat`: it
must be a regular file with one link, else it is refused. A new file gets the
log's permission bits (the umask can only narrow them); an existing one wider
than the log is narrowed to it.

Lock holders. A refusal names the holder from the kernel's own table
(`/proc/locks`: the pid that took the flock, recorded at that instant), so it
never depends on the holder having written its pid yet; the pid in the file is
only a fallback where `/proc/locks` cannot be read.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

DEFAULT_MODE = 0o640
_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class UnsafePath(OSError):
    """A path warroom will not write through (a symlink, not a regular file, not a warroom log, ...).

    An OSError, so every caller that reports a failed write reports this too.
    """

    def __init__(self, path: str | os.PathLike[str], why: str):
        super().__init__(errno.EPERM, f"{os.fspath(path)}: {why}", os.fspath(path))
        self.why = why

    def __str__(self) -> str:
        return f"{self.filename}: {self.why}"


def file_mode(path: str | os.PathLike[str], default: int = DEFAULT_MODE) -> int:
    """The permission bits of `path` (no execute bits), or `default` if it cannot be read."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o666
    except OSError:
        return default


def one_regular_file(fd: int, path: str | os.PathLike[str], *, not_regular: str, links: str) -> os.stat_result:
    """The opened file's status, if it is a regular file with exactly one name (locks are keyed on that name);
    otherwise UnsafePath with `not_regular`, or with the link count and `links`."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(path, not_regular)
    if st.st_nlink != 1:
        raise UnsafePath(path, f"has {st.st_nlink} hard links; {links}")
    return st


def make_blocking(fd: int) -> None:
    """Clear O_NONBLOCK once the file is known to be a regular file (it was only there so a FIFO cannot hang us)."""
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)


def open_side(path: str | os.PathLike[str], flags: int, mode: int = DEFAULT_MODE) -> int:
    """Open a side file safely (see module docstring); raises UnsafePath when it is not one of ours."""
    try:
        fd = os.open(path, flags | _FLAGS, mode & 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(path, "is a symbolic link; warroom never writes through one (remove it)") from None
        if e.errno == errno.EEXIST and os.path.islink(path):
            raise UnsafePath(path, "is a symbolic link; warroom never writes through one (remove it)") from None
        if e.errno == errno.EEXIST:
            raise UnsafePath(path, "already exists where warroom creates a new file (remove it)") from None
        if e.errno == errno.ENXIO:  # a FIFO with no reader, opened for writing
            raise UnsafePath(path, "is not a regular file (remove it)") from None
        raise
    try:
        st = one_regular_file(
            fd, path, not_regular="is not a regular file (remove it)", links="warroom writes only files with one name"
        )
        wanted = stat.S_IMODE(st.st_mode) & (mode & 0o666)
        if wanted != stat.S_IMODE(st.st_mode):
            try:
                os.fchmod(fd, wanted)  # an older file wider than the log: narrow it
            except PermissionError:
                pass  # not ours to change; it was made by another member of the group
        make_blocking(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def append_side(path: str | os.PathLike[str], blob: bytes, mode: int = DEFAULT_MODE) -> None:
    """Append `blob` to a side file durably (created if missing, never through a symlink)."""
    fd = open_side(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    try:
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def create_side(path: str | os.PathLike[str], text: str, mode: int = DEFAULT_MODE) -> None:
    """Create a new side file holding `text` (O_EXCL: an existing file or symlink there is refused)."""
    fd = open_side(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def rewrite_side(path: str | os.PathLike[str], text: str) -> None:
    """Replace the content of an existing side file in place (it must be ours: no symlink, one link)."""
    fd = open_side(path, os.O_WRONLY)
    try:
        data = text.encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def read_side(path: str | os.PathLike[str], limit: int = 4096) -> str | None:
    """The start of a small side file, or None if it is missing, a symlink or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | _FLAGS)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.pread(fd, limit, 0).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_table() -> str | None:
    """The kernel's table of file locks, or None where it cannot be read (not Linux, no /proc)."""
    try:
        return Path("/proc/locks").read_text()
    except OSError:
        return None


def flock_holder(path: str | os.PathLike[str], table: str) -> int | None:
    """The pid holding a flock on `path`'s file according to `table` (/proc/locks); None if nobody does."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    same_inode: int | None = None
    for line in table.splitlines():
        parts = line.split()
        if len(parts) < 6 or parts[1] == "->" or parts[1] != "FLOCK":
            continue
        try:
            pid = int(parts[4])
        except ValueError:
            continue
        if pid <= 0:
            continue
        if parts[5] == dev:
            return pid
        if parts[5].rsplit(":", 1)[-1] == str(st.st_ino):
            same_inode = pid  # a filesystem that reports another device number here (overlay, ...)
    return same_inode


class FileLock:
    """A non-blocking exclusive lock on a file beside the log; the OS drops it when the process dies."""

    def __init__(self, path: str | Path, mode: int = DEFAULT_MODE):
        self.path = Path(path)
        self.mode = mode
        self._fd = -1

    def try_acquire(self) -> bool:
        if self._fd >= 0:
            return True
        fd = open_side(self.path, os.O_RDWR | os.O_CREAT, self.mode)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        # one fixed-width write: a reader sees the old pid or the new one, never a torn or empty one
        data = f"{os.getpid():>10}\n".encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def holder_pid(self) -> int | None:
        """Who holds the lock: the kernel's word first, the pid in the file (if that process lives) second."""
        if self._fd >= 0:
            return os.getpid()
        table = lock_table()
        if table is not None:
            return flock_holder(self.path, table)
        text = read_side(self.path, 64)
        try:
            pid = int((text or "").strip() or 0) or None
        except ValueError:
            return None
        return pid if pid is not None and _alive(pid) else None

    def holder_text(self) -> str:
        """'pid N', or an honest word when the holder cannot be named (it let go a moment ago)."""
        pid = self.holder_pid()
        return f"pid {pid}" if pid else "its holder let go a moment ago or is just starting; try again"

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
