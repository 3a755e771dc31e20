"""Shared fixtures: paths to the shipped configs and a fresh log per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from warroom.config import Launch, load_launch
from warroom.core.events import Actor
from warroom.store.log import DecisionLog

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
