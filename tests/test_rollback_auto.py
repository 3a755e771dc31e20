"""Auto-rollback triggers: fire once per confirmed breach, never on UNKNOWN data, not again within the cooldown."""

from __future__ import annotations

import time
from typing import Any

from deploy_fixture import Deploy, fixture_deploy

from warroom.config import Launch, load_launch
from warroom.core.events import SYSTEM, Actor
from warroom.core.state import LaunchState, fold, view
from warroom.rollback.auto import AutoRollbackWatcher, auto_rollback_due
from warroom.store.log import DecisionLog, read_log

__all__ = ["fixture_deploy"]  # the `deploy` fixture

DANA = Actor(user="ci", host="bastion", name="dana")
CID = "error-rate"  # in the fixture config: go < 1%, trigger > 5% for 2 samples, mode auto, stale after 1m


def sample(log: DecisionLog, value: float | None, t: float, error: str | None = None) -> None:
    data: dict[str, Any] = {"criterion": CID, "value": value, "t": t}
    if error:
        data |= {"error": error, "reason": f"{error} from the source"}
    log.append("sample", data, actor=SYSTEM)


def state_of(launch: Launch, log: DecisionLog) -> LaunchState:
    return fold(launch, read_log(log.path).events)


def due(launch: Launch, log: DecisionLog, now: float) -> tuple[str, dict] | None:
    st = state_of(launch, log)
    return auto_rollback_due(st, view(st, now), now)


def auto_launch(deploy: Deploy, **rollback: Any) -> Launch:
    return load_launch(deploy.config(auto_allowed=True, **rollback))


def test_fires_only_on_a_confirmed_breach_with_the_triggering_values(deploy: Deploy):
    launch = auto_launch(deploy)
    now = time.time()
    with DecisionLog(deploy.log, DANA) as log:
        sample(log, 0.05, now - 20)
        assert due(launch, log, now) is None  # GO
        sample(log, 9.0, now - 15)
        assert due(launch, log, now) is None  # one breaching sample: not confirmed (trigger needs 2)
        sample(log, 9.5, now - 10)
        got = due(launch, log, now)
    assert got is not None
    reason, triggering = got
    assert reason.startswith("auto-rollback: Error rate ") and "(trigger > 5%)" in reason
    values = triggering["criteria"][CID]
    assert values["value"] == 9.5 and values["since"] == now - 10 and values["trigger"] == "> 5%"


def test_never_fires_on_unknown_data(deploy: Deploy):
    launch = auto_launch(deploy)
    now = time.time()
    with DecisionLog(deploy.log, DANA) as log:
        for i, (value, error) in enumerate(
            [(9.0, None), (None, "timeout"), (9.0, None), (float("nan"), None), (None, "no-data"), (9.0, None)]
        ):
            sample(log, value, now - 30 + i, error)
        # every breaching run was broken by UNKNOWN before it reached 2 samples
        assert due(launch, log, now) is None
        sample(log, 9.0, now - 20)
        assert due(launch, log, now) is not None  # two in a row now
        # the same breach, but the data is stale by the time we look: the verdict still says ROLLBACK
        # (a confirmed breach is not cleared by silence) but nothing fires on data we no longer see
        st = state_of(launch, log)
        assert view(st, now + 120).status == "ROLLBACK"
        assert auto_rollback_due(st, view(st, now + 120), now + 120) is None
        sample(log, None, now + 1, "connection")
        st = state_of(launch, log)
        assert view(st, now + 2).status == "ROLLBACK"
        assert auto_rollback_due(st, view(st, now + 2), now + 2) is None
        sample(log, 9.0, now + 3)  # fresh breaching data again: now it may fire
        assert due(launch, log, now + 4) is not None


def test_respects_trigger_mode_switches_and_auto_allowed(deploy: Deploy):
    now = time.time()
    with DecisionLog(deploy.log, DANA) as log:
        sample(log, 9.0, now - 10)
        sample(log, 9.0, now - 5)
        assert due(load_launch(deploy.config(auto_allowed=False, name="no-auto.yaml")), log, now) is None
        launch = auto_launch(deploy)
        assert due(launch, log, now) is not None
        log.append("trigger_mode", {"criterion": CID, "mode": "recommend"})
        assert due(launch, log, now) is None
        log.append("trigger_mode", {"criterion": CID, "mode": "off"})
        assert due(launch, log, now) is None
        log.append("trigger_mode", {"criterion": CID, "mode": "auto"})
        assert due(launch, log, now) is not None


async def fire_once(launch: Launch, log: DecisionLog, now: float) -> None:
    """A breach since `now - 10`; the watcher ticks on it five times and must start exactly one rollback."""
    watcher = AutoRollbackWatcher(launch, log, DANA)
    sample(log, 0.05, now - 30)
    sample(log, 9.0, now - 20)
    sample(log, 9.5, now - 10)
    task = None
    for tick in range(5):  # the console's ticks: the same breach seen again and again
        started = await watcher.on_state(state_of(launch, log), now + tick)
        if started is not None:
            assert task is None, "fired twice"
            task = started
    assert task is not None
    assert await task is True
    assert await watcher.on_state(state_of(launch, log), now + 6) is None


async def test_watcher_rolls_back_once_per_breach(deploy: Deploy):
    launch = auto_launch(deploy)  # cooldown 10m
    now = time.time()
    with DecisionLog(deploy.log, DANA, clock=lambda: now) as log:
        await fire_once(launch, log, now)
        assert deploy.served() == "v1"
        events = [ev for ev in read_log(log.path).events if ev.kind == "rollback"]
        requested = [ev for ev in events if ev.data["phase"] == "requested"]
        assert len(requested) == 1
        assert requested[0].data["automatic"] is True and requested[0].actor.name == "auto-rollback"
        assert requested[0].data["triggering"]["criteria"][CID]["value"] == 9.5
        assert events[-1].data["phase"] == "finished" and events[-1].data["ok"] is True

        # the same breach goes on past the cooldown; a fresh watcher (another console took over
        # recording) sees from the log that this breach already fired
        other = AutoRollbackWatcher(launch, log, DANA)
        sample(log, 9.7, now + 700)
        assert await other.on_state(state_of(launch, log), now + 701) is None
        # it clears and breaches again: a new breach, past the cooldown, may fire
        sample(log, 0.05, now + 710)
        sample(log, 9.0, now + 720)
        sample(log, 9.0, now + 730)
        st = state_of(launch, log)
        assert auto_rollback_due(st, view(st, now + 731), now + 731) is not None


async def test_cooldown_stops_a_new_breach_from_rolling_back_again_too_soon(deploy: Deploy):
    launch = auto_launch(deploy)  # cooldown 10m
    now = time.time()
    with DecisionLog(deploy.log, DANA, clock=lambda: now) as log:
        await fire_once(launch, log, now)
        watcher = AutoRollbackWatcher(launch, log, DANA)
        sample(log, 0.05, now + 20)
        sample(log, 9.0, now + 30)
        sample(log, 9.0, now + 40)  # a new breach, 40s after the rollback
        assert await watcher.on_state(state_of(launch, log), now + 41) is None
        sample(log, 9.0, now + 598)
        assert await watcher.on_state(state_of(launch, log), now + 599) is None
        sample(log, 9.0, now + 601)  # the same breach, once the cooldown has passed
        task = await watcher.on_state(state_of(launch, log), now + 602)
        assert task is not None
        assert await task is True
    requested = [
        ev.data for ev in read_log(deploy.log).events if ev.kind == "rollback" and ev.data["phase"] == "requested"
    ]
    assert len(requested) == 2
    assert requested[1]["triggering"]["criteria"][CID]["since"] == now + 40  # confirmed by its 2nd sample


def test_not_while_a_rollback_is_running(deploy: Deploy):
    launch = auto_launch(deploy, cooldown="0s")
    now = time.time()
    with DecisionLog(deploy.log, DANA) as log:
        sample(log, 9.0, now - 10)
        sample(log, 9.0, now - 5)
        assert due(launch, log, now) is not None
        log.append("rollback", {"phase": "started", "steps": ["x"], "reason": "manual"})
        assert state_of(launch, log).rollback.status == "running"
        assert due(launch, log, now) is None
