"""Shared fixtures: paths to the shipped configs and a fresh log per test."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from warroom.config import Launch, load_launch
from warroom.core.events import Actor
from warroom.store.log import DecisionLog

if TYPE_CHECKING:
    from pgserver import PgServer
    from tmuxsession import Tmux

# A non-interactive shell starts background jobs with SIGINT ignored, and an ignored signal survives exec:
# every `warroom` and server the tests start would then ignore the Ctrl-C the tests send them (check --watch
# never exits, interrupted benches keep their servers). A handler of ours is reset to the default at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


@pytest.fixture
def demo_launch() -> Launch:
    return load_launch(CONFIGS / "demo.yaml")


@pytest.fixture
def actor() -> Actor:
    return Actor(user="dana", host="bastion", ssh="10.0.0.7", name="Dana (CTO)")


@pytest.fixture
def log(tmp_path: Path, actor: Actor):
    with DecisionLog(tmp_path / "launch.jsonl", actor) as lg:
        yield lg


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Consoles keep the heads they saw in the user's state dir (warroom.trust.heads): each test gets its own,
    so a log a test rebuilds at a fixed path is not taken for one truncated since an earlier run."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    # and its own cache dir: `warroom run` keeps validated configs there (warroom.config.cache), replay its
    # saved indexes (warroom.replay.sidecar)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL (tests/pgserver.py) shared by one module's tests, each in its own database (`pg_db`)."""
    import pgserver  # here, not at the top: only the modules that ask for a server pay for its helpers

    with pgserver.running() as pg:
        yield pg


_pg_dbs = itertools.count(1)


@pytest.fixture
def pg_db(pg_server: PgServer) -> str:
    """A fresh database on the module's server: its URI (without a launch)."""
    return pg_server.create_db(f"t{os.getpid()}_{next(_pg_dbs)}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    """A private tmux server (tests/tmuxsession.py), its socket in this test's tmp dir; killed after the test."""
    from tmuxsession import private_tmux

    with private_tmux(tmp_path) as t:
        yield t
