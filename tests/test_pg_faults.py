"""Faults on a PostgreSQL log (tests/pgserver.py), each with its own server so it can be stopped mid-run:

- the recorder's samples during an outage are dropped, and the outage is in the log afterwards as one
  `write_recovered` event saying since when and how many were lost; the chain stays valid;
- a console's note typed while the database is down is refused with a message, the dialog keeps the text,
  the console keeps drawing meanwhile (the append waits in a thread, not on its message loop), and once the
  database is back the same note is recorded, once; a sign-off comes back with its reason, a tick and a
  rollback are refused at once; after `pg_terminate_backend` of the console's connections a note is
  recorded once;
- a rollback whose runner was killed on one "host" (its own data directory, so its crash marker is not
  shared) is recorded as interrupted by another, through the lapsed rollback lease: by `check` and by the
  recording console's watcher; the other host can then roll back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pgserver
import pytest
import servers
from cutproxy import cut_proxy
from pgserver import store_events as events
from runcli import argv as warroom_argv
from runcli import checkout_env
from waiting import wait_for

from warroom.config import load_launch
from warroom.core.state import fold
from warroom.store.open import open_reader

if TYPE_CHECKING:
    from deploy_fixture import Deploy

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow]


def launch_config(tmp: Path, launch_id: str) -> Path:
    t0 = datetime.fromtimestamp(time.time() - 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cfg = tmp / "launch.yaml"
    cfg.write_text(
        f"""
version: 1
identity: claimed  # the test types its notes as a named commander from one account
launch: {{id: {launch_id}, name: Faults test, t0: {t0}}}
roles:
  - {{id: commander, title: Launch Commander, commander: true}}
phases:
  - {{id: live, name: Live, at: -1h}}
sources:
  sim:
    type: simulated
    interval: 0.5s
    signals:
      lat: {{base: 100}}
criteria:
  - {{id: latency, name: API latency, source: sim, query: lat, unit: ms, go: "< 500ms"}}
"""
    )
    return cfg


def _end_rollback(runner: subprocess.Popen[bytes] | None, pidfile: Path, deploy: Deploy) -> None:
    """A test's rollback runner killed if still going, the step it left behind (its pid in `pidfile`) too."""
    if runner is not None and runner.poll() is None:
        runner.kill()
        runner.wait(10)
    if pidfile.exists() and pidfile.read_text().strip():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    deploy.close()


def test_an_outage_drops_the_samples_and_is_recorded_as_a_gap_once_the_database_returns(tmp_path: Path) -> None:
    cfg = launch_config(tmp_path, "outage")
    with pgserver.running() as own:
        uri = own.create_db("outage") + "#outage"
        rec = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "notify_recorder.py"), str(cfg), uri],
            env=checkout_env(),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for("samples", lambda: sum(ev.kind == "sample" for ev in events(uri)) >= 4, 60)
            stopping = time.time()
            own.stop()
            stopped = time.time()  # a poll taken while the server shut down may still have been written
            time.sleep(6.0)  # past the lease's TTL: the recorder lets go, and contends again
            restarted = time.time()
            own.start()
            gap = wait_for(
                "the gap event",
                lambda: [
                    ev for ev in events(uri) if ev.kind == "recorder" and ev.data.get("state") == "write_recovered"
                ],
                60,
            )
            wait_for("samples again", lambda: any(ev.kind == "sample" and ev.ts > gap[0].ts for ev in events(uri)), 30)
        finally:
            servers.interrupt(rec)
        evs = events(uri)
        res = open_reader(uri).verify()
    assert res.ok, res.problem
    (g,) = gap  # one gap event for the one outage
    d = g.data
    # it covers the outage: it began after the server stopped (the first write that failed) and is told after it
    # came back; at least one poll's events were lost, and why is said in words
    assert stopping <= d["since"] <= stopped + 5.0, (stopping, stopped, d)
    assert g.ts >= restarted
    assert d["lost"] >= 1 and "not recorded" in d["reason"] and "database" in d["reason"]
    # nothing observed during the outage was written late: the samples stop before it and resume after it
    during = [ev for ev in evs if ev.kind == "sample" and stopped < ev.data["t"] < restarted]
    assert during == []
    assert any(ev.kind == "sample" and ev.data["t"] > restarted for ev in evs)
    said = " ".join(e.text for e in fold(load_launch(cfg), evs).timeline)
    assert "recording resumed after failing writes" in said and f"{d['lost']} events were not recorded" in said


async def test_a_note_typed_while_the_database_is_down_is_kept_refused_and_recorded_once_it_returns() -> None:
    import asyncio

    from textual.widgets import Input, Static
    from ui_scenario import ROOT_ACTOR, demo_launch, screen_text, until

    from warroom.store.pg import parse_uri
    from warroom.ui.app import WarroomApp
    from warroom.ui.modals import TextScreen

    text = "db failover started [b]by hand[/b]"
    with pgserver.running() as own:
        uri = own.create_db("console") + "#demo-launch"
        app = WarroomApp(demo_launch(), log_path=parse_uri(uri), actor=ROOT_ACTOR, record=False)
        beats: list[float] = []
        async with app.run_test(size=(160, 48)) as pilot:
            app.set_interval(0.05, lambda: beats.append(time.monotonic()))
            await until(pilot, lambda: app.state.seq >= 2, "the console to bind the launch and open its session")
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, TextScreen), "the note dialog")
            await pilot.press(*text)
            await asyncio.to_thread(own.stop)
            dialog = app.screen
            assert isinstance(dialog, TextScreen)
            started = time.monotonic()
            await pilot.press("enter")
            shown = lambda: str(dialog.query_one("#error", Static).render())  # noqa: E731
            await until(pilot, lambda: "not recorded" in shown(), "the refusal")
            took = time.monotonic() - started
            # refused with a message, the dialog still open with the text as typed
            assert app.screen is dialog and dialog.query_one(Input).value == text
            assert "database cannot be reached" in shown() and "try again" in shown()
            # the console kept drawing while the append waited (its timer ran all along), not frozen for seconds
            during = [b for b in beats if started <= b <= started + took]
            assert took < 1.0 or len(during) >= 5, (took, len(during))
            await until(pilot, lambda: "DATABASE UNREACHABLE" in screen_text(app), "the header to say so")
            # again while still down: refused at once, nothing recorded, the text still there
            await pilot.press("enter")
            await until(pilot, lambda: "not recorded" in shown() and not dialog.saving, "the second refusal")
            assert dialog.query_one(Input).value == text
            # cancelled and opened again: a new note, empty, without the refusal of the one cancelled
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, TextScreen), "the dialog closed")
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, TextScreen) and app.screen.is_mounted, "the note again")
            dialog = app.screen
            assert isinstance(dialog, TextScreen)
            assert dialog.query_one(Input).value == "" and "not recorded" not in shown(), shown()
            await pilot.press(*text)
            await asyncio.to_thread(own.start)

            # the database is back: the same dialog, the same text, recorded on enter
            async def recorded() -> bool:
                await pilot.press("enter")
                await until(pilot, lambda: not dialog.saving, "the attempt to end")
                return app.screen is not dialog

            deadline = time.monotonic() + 30
            while not await recorded():
                assert time.monotonic() < deadline, shown()
                await pilot.pause(0.5)
            await until(pilot, lambda: any(e.text == text for e in app.state.timeline), "the note read back")
            # in the decision log panel (its width cuts the rest), drawn a frame after the panel on top
            await until(pilot, lambda: "db failover started" in screen_text(app), "the note in the log panel")
        notes = [ev for ev in events(uri) if ev.kind == "note"]
    assert [ev.data["text"] for ev in notes] == [text]  # once, though enter was pressed while it was down
    assert notes[0].actor.user == ROOT_ACTOR.user


def test_a_rollback_whose_runner_died_on_another_host_is_recorded_as_interrupted_there(tmp_path: Path) -> None:
    """The crash marker lives on the runner's host; another host sees the run left open and its lease lapsed."""
    from deploy_fixture import Deploy

    deploy = Deploy(tmp_path / "deploy")
    pidfile = tmp_path / "step.pid"
    step = {"name": "slow step", "run": ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"], "timeout": "2m"}
    cfg = deploy.config(steps=[step], verify=None)

    def host(name: str, origin: str) -> dict[str, str]:  # its own data directory: no shared crash marker
        (tmp_path / name).mkdir(exist_ok=True)
        return checkout_env(XDG_DATA_HOME=str(tmp_path / name), SSH_CONNECTION=f"{origin} 50000 10.0.0.9 22")

    runner: subprocess.Popen[bytes] | None = None
    try:
        with pgserver.running() as own:
            uri = own.create_db("rollback") + "#deploy-test"
            argv = warroom_argv("rollback", cfg, "--log", uri, "--yes-i-mean-it")
            runner = subprocess.Popen(
                [*argv, "deploy-test", "--as", "dana"],
                env=host("a", "10.0.0.1"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for("the step running", lambda: pidfile.exists() and pidfile.read_text().strip(), 60)
            started = next(ev for ev in events(uri) if ev.kind == "rollback" and ev.data.get("phase") == "started")
            runner.kill()  # SIGKILL: no outcome recorded, its marker left on host a
            runner.wait(10)

            # host b: `check` records the run as interrupted once the runner's lease has lapsed (about its TTL)
            def recorded() -> list[Any]:
                res = subprocess.run(
                    warroom_argv("check", cfg, "--log", uri),
                    env=host("b", "10.0.0.2"),
                    capture_output=True,
                    timeout=120,
                    check=False,
                )
                assert res.returncode in (0, 1), res.stderr
                return [ev for ev in events(uri) if ev.kind == "rollback" and ev.data.get("phase") == "finished"]

            (finished,) = wait_for("the run recorded as interrupted", recorded, 60)
            assert finished.data["ok"] is False and finished.data["interrupted"] is True
            reason = finished.data["reason"]
            assert f"pid {started.data['pid']} on {started.actor.host}" in reason and "rollback lease" in reason
            assert finished.actor.ssh == "10.0.0.2"  # told by the other host
            evs = events(uri)
            assert fold(load_launch(cfg), evs).rollback.status != "running"
            # and host b may roll back now: the lease is free, the log says no run is open
            quick = deploy.config(steps=[{"name": "quick step", "run": ["true"]}], verify=None, name="quick.yaml")
            argv[4] = str(quick)
            res = subprocess.run(
                [*argv, "deploy-test", "--as", "dana"], env=host("b", "10.0.0.2"), capture_output=True, timeout=120
            )
            assert res.returncode == 0, res.stdout + res.stderr
            phases = [ev.data.get("phase") for ev in events(uri)[len(evs) :] if ev.kind == "rollback"]
            assert "started" in phases and "refused" not in phases, (phases, res.stderr)
            assert open_reader(uri).verify().ok
    finally:
        _end_rollback(runner, pidfile, deploy)


async def test_a_signoff_and_a_tick_while_the_database_is_down_are_refused_and_the_reason_kept() -> None:
    import asyncio

    from textual.widgets import Input
    from ui_scenario import ROOT_ACTOR, demo_launch, until

    from warroom.store.pg import parse_uri
    from warroom.ui.app import WarroomApp
    from warroom.ui.modals import VerdictScreen

    def notes(app: WarroomApp) -> str:
        return "\n".join(str(n.message) for n in app._notifications)

    with pgserver.running() as own:
        uri = own.create_db("signoff") + "#demo-launch"
        app = WarroomApp(demo_launch(), log_path=parse_uri(uri), actor=ROOT_ACTOR, record=False)
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.state.seq >= 2, "the console to bind the launch and open its session")
            await asyncio.to_thread(own.stop)
            await until(pilot, lambda: "DATABASE UNREACHABLE" in app.driver.recorder_text(), "the header to say so")
            # a tick: refused at once with the reason (the console knows the database is gone)
            await pilot.press("2")
            table = app.panel("checklist").table
            assert table.move_cursor_to_key("item:code-review")
            await pilot.pause()
            await pilot.press("space")
            await until(pilot, lambda: "not recorded" in notes(app), "the refusal")
            # refused at once, from what the console knows (its follower lost the database), not after the
            # append's seconds of trying on the message loop (that one says the store's own words)
            assert notes(app).startswith("not recorded: the database cannot be reached (")
            # a sign-off: refused, and the dialog comes back with the reason as typed and why
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, VerdictScreen), "the sign-off dialog")
            await pilot.press(*"db failover done", "ctrl+g")
            await until(
                pilot,
                lambda: isinstance(app.screen, VerdictScreen) and app.screen.error != "",
                "the dialog again, with the reason it was not recorded",
            )
            again = app.screen
            assert isinstance(again, VerdictScreen)
            assert again.query_one("#reason", Input).value == "db failover done" and "not recorded" in again.error
            # a rollback: refused before its dialog opens, saying why; nothing was run
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, VerdictScreen), "the sign-off dialog set aside")
            await pilot.press("R")
            await until(pilot, lambda: "rollback refused: not recorded" in notes(app), "the rollback refused")
            assert "nothing was run" in notes(app) and len(app.screen_stack) == 1
            # the sign-off again: the reason typed before is gone with the dialog escaped, so type it again
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, VerdictScreen), "the sign-off dialog")
            await pilot.press(*"db failover done")
            await asyncio.to_thread(own.start)
            await until(pilot, lambda: "DATABASE UNREACHABLE" not in app.driver.recorder_text(), "the database back")
            await pilot.press("ctrl+g")
            await until(pilot, lambda: "sign-off recorded" in notes(app), "the sign-off recorded")
        signoffs = [ev for ev in events(uri) if ev.kind == "signoff"]
    assert [ev.data["reason"] for ev in signoffs] == ["db failover done"]
    assert not any(ev.kind in ("check", "uncheck") for ev in events(uri))  # the refused tick left nothing


async def test_the_recording_consoles_watcher_records_a_dead_runners_rollback_from_the_lease(tmp_path: Path) -> None:
    """The same crash seen by the recording console of another host: its auto-rollback watcher, which looks while
    the fold says a rollback runs, records the run as interrupted once the runner's lease lapsed."""
    import asyncio

    from deploy_fixture import Deploy

    from warroom.core.events import Actor
    from warroom.rollback.auto import AutoRollbackWatcher
    from warroom.store.open import open_store

    deploy = Deploy(tmp_path / "deploy")
    pidfile = tmp_path / "step.pid"
    step = {"name": "slow step", "run": ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"], "timeout": "2m"}
    cfg = deploy.config(steps=[step], verify=None)
    (tmp_path / "a").mkdir()
    runner: subprocess.Popen[bytes] | None = None
    try:
        with pgserver.running() as own:
            uri = own.create_db("watcher") + "#deploy-test"
            runner = subprocess.Popen(
                warroom_argv("rollback", cfg, "--log", uri, "--yes-i-mean-it", "deploy-test", "--as", "dana"),
                env=checkout_env(XDG_DATA_HOME=str(tmp_path / "a")),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await asyncio.to_thread(wait_for, "the step running", lambda: pidfile.exists() and pidfile.read_text(), 60)
            runner.kill()
            runner.wait(10)
            launch = load_launch(cfg)
            log = open_store(uri, Actor(user="ops", host="console-b"))
            try:
                watcher = AutoRollbackWatcher(launch, log, Actor(user="ops", host="console-b"))
                deadline = time.monotonic() + 30
                while True:
                    state = fold(launch, events(uri))
                    if state.rollback.status != "running":
                        break
                    assert time.monotonic() < deadline, "not recorded as interrupted"
                    await watcher.on_state(state, time.time())
                    await asyncio.sleep(0.5)
            finally:
                log.close()
            (finished,) = [ev for ev in events(uri) if ev.kind == "rollback" and ev.data.get("phase") == "finished"]
            assert finished.data["interrupted"] is True and "rollback lease" in finished.data["reason"]
            assert finished.actor.host == "console-b"
            assert open_reader(uri).verify().ok
    finally:
        _end_rollback(runner, pidfile, deploy)


async def test_a_note_after_the_consoles_backends_were_terminated_is_recorded_once() -> None:
    """`pg_terminate_backend` of every connection of the console (its writer and its follower): the next note
    reconnects, is recorded once, and is read back; nothing is said to be lost."""
    from ui_scenario import ROOT_ACTOR, demo_launch, until

    from warroom.store.pg import parse_uri
    from warroom.ui.app import WarroomApp
    from warroom.ui.modals import TextScreen

    with pgserver.running() as own:
        uri = own.create_db("terminate") + "#demo-launch"
        app = WarroomApp(demo_launch(), log_path=parse_uri(uri), actor=ROOT_ACTOR, record=False)
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.state.seq >= 2, "the console to bind the launch and open its session")
            killed = own.sql(
                "postgres",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name = 'warroom pid {os.getpid()}'",
            )
            assert len(killed) >= 2  # the console's writer and its follower
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, TextScreen), "the note dialog")
            await pilot.press(*"after the cut", "enter")
            await until(pilot, lambda: not isinstance(app.screen, TextScreen), "the note recorded")
            await until(pilot, lambda: any(e.text == "after the cut" for e in app.state.timeline), "it read back")
        notes = [ev.data["text"] for ev in events(uri) if ev.kind == "note"]
    assert notes == ["after the cut"]


async def test_a_note_whose_commit_went_unanswered_is_said_unconfirmed_then_recorded_once_the_database_is_back() -> (
    None
):
    """The note's statement commits and the network is cut before the answer, and the database stays out of
    reach while the console asks: the dialog says "not confirmed" (never "not recorded", which would be false)
    and keeps the text, and enter again is refused while nobody can tell; once the database is back, the
    console reads the note in the log and says it was recorded after all, and enter closes the dialog without
    recording it again. The log holds it once."""
    from textual.widgets import Input, Static
    from ui_scenario import ROOT_ACTOR, demo_launch, until

    from warroom.store.pg import parse_uri
    from warroom.ui.app import WarroomApp
    from warroom.ui.modals import TextScreen

    with pgserver.running() as own, cut_proxy(own.port) as proxy:
        uri = proxy.uri(own.create_db("unanswered")) + "#demo-launch"
        app = WarroomApp(demo_launch(), log_path=parse_uri(uri), actor=ROOT_ACTOR, record=False)
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.state.seq >= 2, "the console to bind the launch and open its session")
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, TextScreen), "the note dialog")
            dialog = app.screen
            assert isinstance(dialog, TextScreen)
            await pilot.press(*"failover done")
            proxy.cut_next_reply(partition=True)  # the console's follower cannot read it back either
            await pilot.press("enter")
            shown = lambda: str(dialog.query_one("#error", Static).render())  # noqa: E731
            await until(pilot, lambda: "not confirmed" in shown(), "the dialog to say the note is not confirmed")
            assert proxy.replies_cut >= 1  # its answer (and whatever else the server sent since) lost
            assert "not recorded" not in shown() and "it may be" in shown(), shown()
            assert app.screen is dialog and dialog.query_one(Input).value == "failover done"  # the text kept
            # enter again while nobody can tell: refused, as it could record the note twice
            await pilot.press("enter")
            await until(pilot, lambda: "still not confirmed" in shown() and not dialog.saving, "the refusal")
            assert app.screen is dialog
            proxy.heal()
            told = lambda: "\n".join(str(n.message) for n in app._notifications)  # noqa: E731
            await until(pilot, lambda: "recorded after all" in told(), "the console to say it was recorded", 30)
            assert "failover done" in told() and "NOT recorded" not in told(), told()
            assert any(e.text == "failover done" for e in app.state.timeline)
            # enter once more, the database back: the note is recorded already, so the dialog closes on it
            await pilot.press("enter")
            await until(pilot, lambda: app.screen is not dialog, "the dialog to close")
        notes = [ev.data.get("text") for ev in events(uri.replace(f":{proxy.port}/", f":{own.port}/"))]
    assert [t for t in notes if t == "failover done"] == ["failover done"]


async def test_an_unconfirmed_note_that_never_reached_the_database_is_said_lost_once_another_takes_its_seq() -> None:
    """The note's statement is lost on the way (it never reaches the database) and the database stays out of
    reach while the console asks: "not confirmed"; meanwhile another console appends, and the event at the
    note's seq is that one: the console says the note was NOT recorded, to be made again."""
    from ui_scenario import ROOT_ACTOR, demo_launch, until

    from warroom.core.events import Actor
    from warroom.store.open import open_store
    from warroom.store.pg import parse_uri
    from warroom.ui.app import WarroomApp
    from warroom.ui.modals import TextScreen

    with pgserver.running() as own, cut_proxy(own.port) as proxy:
        direct = own.create_db("neverthere") + "#demo-launch"
        uri = proxy.uri(direct)
        app = WarroomApp(demo_launch(), log_path=parse_uri(uri), actor=ROOT_ACTOR, record=False)
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.state.seq >= 2, "the console to bind the launch and open its session")
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, TextScreen), "the note dialog")
            await pilot.press(*"never there")
            proxy.cut_next_request()
            proxy.down = True
            await pilot.press("enter")
            told = lambda: "\n".join(str(n.message) for n in app._notifications)  # noqa: E731
            await until(pilot, lambda: "not confirmed" in told(), "the console to say the note is not confirmed")
            assert proxy.requests_cut == 1
            other = open_store(direct, Actor(user="other", host="elsewhere", ssh=None))
            try:
                taken = other.append("note", {"text": "from another console"})
            finally:
                other.close()
            proxy.down = False
            await until(pilot, lambda: "NOT recorded" in told(), "the console to say the note was lost", 30)
            assert "never there" in told() and "recorded after all" not in told(), told()
            assert any(e.seq == taken.seq for e in app.state.timeline)
        texts = [ev.data.get("text") for ev in events(direct)]
    assert "never there" not in texts and "from another console" in texts


async def test_samples_whose_commit_went_unanswered_are_not_counted_lost_once_found_in_the_log(tmp_path: Path) -> None:
    """A poll's samples commit and the network is cut before the answer, the database out of reach while the
    recorder asks: the recorder counts them as failed meanwhile, and once writing works again it looks in the
    log: they are there, so the gap it records says none was lost (it said all of them were)."""
    from warroom.config import parse_launch
    from warroom.core.events import Actor
    from warroom.recorder.loop import Recorder
    from warroom.store.launchlog import bind
    from warroom.store.open import open_store

    cfg = launch_config(tmp_path, "unanswered-samples")
    text = cfg.read_text()
    with pgserver.running() as own, cut_proxy(own.port) as proxy:
        direct = own.create_db("samples") + "#unanswered-samples"
        log = open_store(proxy.uri(direct), Actor(user="rec", host="bastion", ssh=None))
        try:
            launch, _ev = bind(log, parse_launch(text, str(cfg)), text, str(cfg))
            rec = Recorder(launch, log, epoch=time.time())
            assert await rec.acquire()
            try:
                (group,) = rec.groups()
                await rec.poll_group(group, 1, time.time())
                assert rec.write_failure is None
                proxy.cut_next_reply()
                proxy.down = True
                await rec.poll_group(group, 2, time.time())
                assert proxy.replies_cut == 1
                failed = rec.write_failure
                assert failed is not None and failed.lost == len(group.criteria), failed
                assert "not confirmed" in failed.reason, failed.reason
                proxy.down = False
                await rec.poll_group(group, 3, time.time())
                assert rec.write_failure is None
            finally:
                await rec.release()
        finally:
            log.close()
        held = events(direct)
    gaps = [ev.data for ev in held if ev.kind == "recorder" and ev.data.get("state") == "write_recovered"]
    assert [g["lost"] for g in gaps] == [0], gaps  # the log holds what the store could not confirm
    ticks = [ev.data.get("tick") for ev in held if ev.kind == "sample"]
    assert ticks.count(2) == len(group.criteria)  # the unconfirmed poll's samples, once each
