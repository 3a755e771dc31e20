"""The real `warroom` command in a child process, as a user runs it: the one way the tests start it.

The child runs this checkout's package (PYTHONPATH), not whatever an editable install points at, and gets the
test's environment as it is when the command starts, so the per-test XDG dirs tests/conftest.py sets reach it
(an environment copied at import time would hand it the real user's state and cache dirs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A timeout here bounds a hung command, not a slow one: minutes, not seconds.
TIMEOUT = 120.0


def checkout_env(**extra: str) -> dict[str, str]:
    """This process's environment now, with PYTHONPATH at this checkout, and `extra` on top."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def argv(*args: str | Path) -> list[str]:
    """The command line of `warroom ARGS` run by this interpreter."""
    return [sys.executable, "-m", "warroom", *map(str, args)]


def warroom(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
    errors: str = "strict",
) -> subprocess.CompletedProcess[str]:
    """`warroom ARGS`, waited for: its returncode, stdout and stderr (UTF-8 text; `errors` as for bytes.decode).

    `env` replaces the whole environment (start from `checkout_env(...)`); the default is `checkout_env()`.
    The returncode is the test's to judge: a failure here is never raised.
    """
    return subprocess.run(
        argv(*args),
        cwd=cwd,
        env=checkout_env() if env is None else dict(env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors=errors,
        timeout=timeout,
        check=False,
    )


def spawn(*args: str | Path, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """`warroom ARGS` started and left running, its stdout and stderr pipes of UTF-8 text; the caller stops it."""
    return subprocess.Popen(
        argv(*args),
        cwd=cwd,
        env=checkout_env() if env is None else dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
