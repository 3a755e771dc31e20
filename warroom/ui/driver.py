"""What feeds the console: a live driver (follow the log, record, watch auto triggers) or a replay driver.

Both fold events into a LaunchState and hand the console `Frame`s (the fold
and `view(state, now)` plus the console's own facts); the screen draws a frame
the same way whichever driver made it. Neither touches a widget: what they
need from the app (notifications, workers) comes through `Host`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from warroom.config import ConfigError, ConfigProblem, Launch
from warroom.core.authority import claims
from warroom.core.describe import describe
from warroom.core.events import Actor, Event
from warroom.core.records import Session, SessionState
from warroom.core.state import LaunchState, Verdict, view
from warroom.store.base import Follow, OutcomeUnknown, Store
from warroom.store.launchlog import bind, first_launch_event, recorded_t0, with_t0
from warroom.store.log import Follower, LogCorrupt
from warroom.store.open import open_reader, open_store
from warroom.store.pg import PgFollower, PgSpec
from warroom.store.wake import Wake, wake_for
from warroom.trust.console import ConsoleTrust
from warroom.ui import fmt
from warroom.ui.frame import ConsoleInfo, Frame, Position
from warroom.ui.playhead import Indexing, Playhead, ReplaySource, parse_moment_text
from warroom.ui.session import Permissions, config_text, permissions

Mode = Literal["live", "observer", "replay"]
READ_HASHES = 1024  # how many of the last events read a console remembers the hashes of (`_settle`)
SETTLED_KEPT = 16  # how many settled unconfirmed appends a console remembers (`earlier`)


class Host(Protocol):
    """What a driver asks of the app that runs it."""

    def notify(
        self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None
    ) -> None: ...

    def run_worker(
        self, work: Any, *, group: str = ..., exclusive: bool = ..., exit_on_error: bool = ..., thread: bool = ...
    ) -> Any: ...

    def call_after_refresh(self, callback: Callable[[], Any]) -> bool: ...


class WriteFailure(Protocol):
    @property
    def reason(self) -> str: ...


class RecorderLike(Protocol):
    """The part of `warroom.recorder.loop.Recorder` the console uses (imported only after the first frame)."""

    @property
    def is_leader(self) -> bool: ...

    @property
    def write_failure(self) -> WriteFailure | None: ...

    async def run(self) -> None: ...


class WatcherLike(Protocol):
    """The part of `warroom.rollback.auto.AutoRollbackWatcher` the console uses."""

    @property
    def running(self) -> bool: ...

    def on_state(self, state: LaunchState, now: float, verdict: Verdict) -> Awaitable[Any]: ...


class Driver(Protocol):
    """One source of frames for the console; `start` may raise ConfigError, LogCorrupt or OSError."""

    mode: Mode
    launch: Launch
    actor: Actor
    perms: Permissions
    state: LaunchState
    dlog: Store | None
    log_path: Path | PgSpec | None
    dry_run: bool | None

    def start(self, host: Host) -> list[Event]: ...

    def step(self) -> tuple[bool, list[Event]]:
        """Move on (read the log, or move the playhead); whether the state changed, and the events read."""
        ...

    def now(self) -> float: ...

    def frame(self, now: float) -> Frame:
        """The fold and its view at `now`, with this console's facts: what the screen draws."""
        ...

    def watch(self, verdict: Verdict) -> None:
        """After a full repaint: act on the verdict if this driver acts on anything (auto triggers)."""
        ...

    def close(self) -> None: ...


def _info(d: Driver, recorder: str, note: str) -> ConsoleInfo:
    roles = tuple(r.title for r in d.perms.roles)
    dry = bool(d.dry_run) if d.dry_run is not None else False
    who = dataclasses.replace(d.actor, claimed=claims(d.launch, d.actor)).label  # marked when --as is the claim
    return ConsoleInfo(d.mode, who, roles, recorder, str(d.log_path or ""), note, dry)


def _follower(where: Path | PgSpec | None) -> Follow:
    """An observer's follower: it writes nothing, so it has no store open for writing."""
    assert where is not None
    return PgFollower(where) if isinstance(where, PgSpec) else Follower(where)


class LiveDriver:
    """Follow the decision log; a live (not observer) console also writes to it, records and watches triggers.

    Live: the console's actions are appended to the log and reach the screen by
    being read back, so every console on the log shows the same thing.
    Observer: the same, but nothing is ever written.
    """

    def __init__(
        self,
        launch: Launch,
        *,
        log_path: Path | PgSpec,
        actor: Actor,
        mode: Mode = "live",
        clock: Callable[[], float] = time.time,
        record: bool = True,
        config_text: str | None = None,
        config_path: str | None = None,
        dry_run: bool | None = None,
    ) -> None:
        self.launch = launch
        self.log_path: Path | PgSpec | None = log_path if isinstance(log_path, PgSpec) else Path(log_path)
        self.actor = actor
        self.perms = permissions(launch, actor, mode)
        self.mode: Mode = "observer" if mode == "live" and self.perms.observer else mode
        self.clock = clock
        self.record = record and self.mode == "live"
        self.dry_run = dry_run
        self._config_text = config_text
        self._config_path = config_path or ""
        self.state = LaunchState(launch)
        self.dlog: Store | None = None
        self.follower: Follow | None = None
        self.recorder: RecorderLike | None = None
        self.watcher: WatcherLike | None = None  # auto-rollback, run by whichever console records
        self.recorder_status = ""
        self.follow_failed = False
        self._session_open = False
        self._host: Host | None = None
        self.trust: ConsoleTrust | None = None  # once the log is open
        self._head_pending = False  # a head read but not yet kept (kept after the frame: _keep_head)
        self.wake: Wake | None = None  # what the loop waits on to read an append at once (store/wake.py)
        self.unconfirmed: list[Event] = []  # appends the store could not confirm (OutcomeUnknown): settled on reading
        self._settled: list[tuple[Event, bool]] = []  # the last of them settled: recorded or not (`earlier`)
        self._read_hashes: dict[int, str] = {}  # the last events read, seq -> hash: what an unconfirmed one is held to

    # ---------------------------------------------------------------- startup

    def start(self, host: Host) -> list[Event]:
        self._host = host
        assert self.log_path is not None
        if self.mode == "live":
            self.dlog = open_store(self.log_path, self.actor, self.clock)  # a file, or PostgreSQL (store/open.py)
            text = self._config_text if self._config_text is not None else config_text(self.launch)
            launch, _ev = bind(self.dlog, self.launch, text, self._config_path)
        else:
            launch = self._observed_launch(self.log_path)
        if launch is not self.launch:
            self.launch = launch
            self.perms = permissions(launch, self.actor, self.mode)
        self.state = LaunchState(self.launch)
        self.follower = self.dlog.follower() if self.dlog is not None else _follower(self.log_path)
        self.wake = wake_for(self.follower)
        where = self.log_path.shown if isinstance(self.log_path, PgSpec) else self.log_path
        self.trust = ConsoleTrust(  # signatures verified, head anchored (docs/trust.md)
            self.launch, self.state, where, self._config_path
        )
        events = self._apply(self.follower.poll())
        if (cut := self.trust.problem()) is not None:
            host.notify(cut, title="Log truncated or rewritten", severity="error", timeout=120)
        torn: bytes = getattr(self.follower, "torn", b"")
        if torn:
            host.notify(
                f"the log's last line was torn by an interrupted write ({len(torn)} bytes); "
                "every complete event is shown, and the next write moves it to a .torn file and records that",
                title="Recovered after a crash",
                severity="warning",
                timeout=30,
            )
        if self.dlog is not None:
            self.dlog.append("session", Session(SessionState.OPENED, self.mode, os.getpid()).to_data())
            self._session_open = True
            if getattr(self.dlog, "recovered_torn", 0) and not torn:
                host.notify("a torn last line from an interrupted write was set aside", severity="warning")
            events += self.step()[1]
            if self.record:
                # after the first frame: importing the sources takes a while and is not needed to draw
                host.call_after_refresh(self._start_recorder)
        return events

    def _observed_launch(self, path: Path | PgSpec) -> Launch:
        """An observer writes nothing, so it checks that the log is this launch's and takes its recorded t0."""
        if isinstance(path, PgSpec):
            with contextlib.closing(open_reader(path)) as reader:
                first = first_launch_event(reader)
        else:
            first = first_launch_event(path)
        launch = self.launch
        if first is not None and first.data.get("id") not in (None, launch.id):
            raise ConfigError(
                [
                    ConfigProblem(
                        str(path),
                        None,
                        "",
                        f"this log belongs to launch '{first.data.get('id')}', not '{launch.id}'",
                        "pass the matching config, or another --log path",
                    )
                ]
            )
        if first is not None:
            t0 = recorded_t0(first, launch, str(path))
            launch = with_t0(launch, t0) if t0 != launch.t0 else launch
        return launch

    # ---------------------------------------------------------------- recorder and watcher

    def _start_recorder(self) -> None:
        from warroom.recorder.loop import Recorder
        from warroom.rollback.auto import AutoRollbackWatcher  # after the first frame: not needed to draw

        assert self.dlog is not None and self._host is not None, "only a live console records, once started"
        first = first_launch_event(self.dlog)
        epoch = first.ts if first is not None else self.clock()
        try:
            recorder = Recorder(self.launch, self.dlog, clock=self.clock, epoch=epoch)
        except (OSError, ValueError) as e:  # e.g. an unreadable credentials file: say so, keep the console up
            self.recorder_status = f"not recording: {e}"
            self._host.notify(self.recorder_status, severity="error", timeout=30)
            return
        self.recorder = recorder
        self.recorder_status = "starting recorder"
        self.watcher = AutoRollbackWatcher(self.launch, self.dlog, self.actor, dry_run=self.dry_run, clock=self.clock)
        self._host.run_worker(self._run_recorder(recorder), group="recorder", exclusive=True, exit_on_error=False)

    async def _run_recorder(self, recorder: RecorderLike) -> None:
        try:
            await recorder.run()
        except Exception as e:
            self.recorder_status = f"recorder stopped: {type(e).__name__}: {e}"
            if self._host is not None:
                self._host.notify(self.recorder_status, severity="error", timeout=30)
            self.recorder = None

    def is_leader(self) -> bool:
        try:
            return self.recorder is not None and bool(self.recorder.is_leader)
        except Exception:
            return False

    def recorder_text(self) -> str:
        if self.follow_failed:
            return "LOG DAMAGED: not following (run 'warroom verify')"
        problem = getattr(self.follower, "problem", None)  # a shared store that cannot be reached just now
        if problem:
            return f"DATABASE UNREACHABLE: {problem}; nothing can be recorded"
        if self.recorder is not None:
            failure = self.recorder.write_failure
            if failure is not None:  # at once, not when the criteria go STALE: every observation is being lost
                return f"recording FAILING: {failure.reason}"
            return "recording" if self.is_leader() else "following"
        return self.recorder_status or ("following" if self.mode == "live" else "")

    def watch(self, verdict: Verdict) -> None:
        """The recording console also watches 'auto' triggers (one watcher per log, like one recorder)."""
        w = self.watcher
        if w is None or self.recorder is None or not self.is_leader() or w.running or self._host is None:
            return
        self._host.run_worker(w.on_state(self.state, verdict.now, verdict), group="autorollback", exit_on_error=False)

    # ---------------------------------------------------------------- the loop

    def now(self) -> float:
        return self.clock()

    def step(self) -> tuple[bool, list[Event]]:
        """Read what was appended since the last step (by anyone, this console included)."""
        if self.follower is None or self.follow_failed:
            return False, []
        try:
            events = self.follower.poll()
        except (LogCorrupt, OSError) as e:
            self.follow_failed = True
            if self._host is not None:
                self._host.notify(
                    f"stopped following the log: {e}. Run 'warroom verify' on it.",
                    title="Log damaged",
                    severity="error",
                    timeout=60,
                )
            return False, []
        return bool(events), self._apply(events)

    def _apply(self, events: list[Event]) -> list[Event]:
        if events:
            self._settle(events)
        if self.trust is not None and events:
            self.trust.feed(events)  # signature verdicts reach the fold as data, before it folds them
            self._keep_head()
        for ev in events:
            self.state.apply(ev)
        return events

    def _keep_head(self) -> None:
        """Keep the head just read in the user's state directory, once the frame showing it is drawn.

        Writing it (a read, a write and a rename, ~1 ms) held back the frame that shows a tick. Later is as safe:
        the kept head is what the next console started checks the log against (truncated or rewritten behind
        it), and it is still written for every head this console read, in order, before the next frame, and on
        close. Only a console killed in the same few milliseconds keeps the head before the last event, as it
        did when killed between the append and reading it back."""
        if self._host is None or self._head_pending:
            if self._host is None and self.trust is not None:
                self.trust.remember()
            return
        self._head_pending = True
        self._host.call_after_refresh(self._remember_head)

    def _remember_head(self) -> None:
        self._head_pending = False
        if self.trust is not None:
            self.trust.remember()

    def frame(self, now: float) -> Frame:
        note = self.perms.why if self.mode == "observer" else ""
        return Frame(view(self.state, now), self.state, _info(self, self.recorder_text(), note))

    def append(self, kind: str, data: dict[str, Any]) -> Event:
        """Append one event as this console's actor (raises OSError or LogCorrupt if the log cannot take it)."""
        assert self.dlog is not None, "only a live console writes"
        return self.dlog.append(kind, data)

    def not_confirmed(self, e: OutcomeUnknown) -> None:
        """Called on the loop's thread with an append the store could not confirm: the log says, once read as far
        as its seq, whether it was recorded (it may have been read already, while the append waited)."""
        self.unconfirmed.extend(e.events)
        self._settle([])

    def earlier(self, kind: str, data: dict[str, Any]) -> tuple[Event, bool | None] | None:
        """The last append of this same kind and data that the store could not confirm, and what became of it:
        None while nobody can tell, True if the log holds it, False if not. None if there was none."""
        for sent in reversed(self.unconfirmed):
            if sent.kind == kind and sent.data == data:
                return sent, None
        for sent, recorded in reversed(self._settled):
            if sent.kind == kind and sent.data == data:
                return sent, recorded
        return None

    def forget(self, sent: Event) -> None:
        """An earlier unconfirmed append that has been answered for (`earlier`): not asked about again."""
        self._settled = [(ev, r) for ev, r in self._settled if ev is not sent]

    def _settle(self, events: list[Event]) -> None:
        """An append the store could not confirm is recorded if the log holds it at its seq (same hash), and was
        not if another event holds that seq: either way the user is told, since they were told "not confirmed"."""
        seen = self._read_hashes
        for ev in events[-READ_HASHES:]:
            seen[ev.seq] = ev.hash
        if len(seen) > 2 * READ_HASHES:
            self._read_hashes = seen = dict(list(seen.items())[-READ_HASHES:])
        for sent in list(self.unconfirmed):
            got = seen.get(sent.seq)
            if got is None and sent.seq > self.state.seq - READ_HASHES:
                continue  # not read that far yet
            self.unconfirmed.remove(sent)
            self._settled = [*self._settled[-(SETTLED_KEPT - 1) :], (sent, got == sent.hash)]
            if self._host is None:
                continue
            if got == sent.hash:
                said, title, severity = f"recorded after all (event {sent.seq})", "Write confirmed", "information"
            elif got is not None:
                said, title, severity = "NOT recorded: the database lost it; make it again", "Write lost", "error"
            else:  # read long before it could be checked: not guessed either way
                said, title, severity = "still not known whether it was recorded: 'warroom log' shows", "", "warning"
            self._host.notify(f"{said}: {describe(sent)}", title=title, severity=severity, timeout=60)

    # ---------------------------------------------------------------- shutdown

    def close_session(self) -> None:
        if self._session_open and self.dlog is not None:
            self._session_open = False
            try:
                self.dlog.append("session", Session(SessionState.CLOSED, self.mode, os.getpid()).to_data())
            except (OSError, LogCorrupt):
                pass

    def close(self) -> None:
        self.close_session()
        if self.trust is not None:
            self.trust.remember()  # a head still waiting for a frame
        if self.wake is not None:
            self.wake.close()
        if self.dlog is not None:
            self.dlog.close()


class ReplayDriver:
    """The state at a playhead over a recorded log; `now` is the playhead. Nothing is ever written.

    A replay that indexes in the background (`Indexing`) is indexed by a thread worker started with the
    console: the first frame shows the launch at its start at once, the playhead reaches only what is
    indexed so far (the bar's end grows with it), and a moment asked for beyond it is where the playhead
    goes on to as indexing reaches it. The banner is the replay's `integrity`: its progress until verified.
    """

    mode: Mode = "replay"
    dlog: Store | None = None
    log_path: Path | PgSpec | None = None
    dry_run: bool | None = None

    def __init__(
        self, launch: Launch, replay: ReplaySource, *, actor: Actor, at: str | None = None, speed: float | None = None
    ):
        self.replay = replay
        self.launch = launch
        self.actor = actor
        self.perms = permissions(self.launch, actor, "replay")
        self.state = replay.state_at(replay.start)
        self.playhead = Playhead(replay.start, replay.end, replay.start)
        self.last_tick = time.monotonic()
        self._at = at
        self._speed = speed
        self._host: Host | None = None
        self._want: float | None = None  # a moment beyond the indexed part: the playhead goes on to it
        self._note = replay.integrity
        self._seen: tuple[float, float, bool] | None = None  # the index's range and state when last looked at

    def _indexing(self) -> Indexing | None:
        """The replay while it is still being indexed in the background, else None."""
        rp = self.replay
        return rp if isinstance(rp, Indexing) and not rp.indexed else None

    def start(self, host: Host) -> list[Event]:
        """Start indexing (if the replay does so in the background); open at `at`, playing at `speed` if given."""
        self._host = host
        rp = self.replay
        if isinstance(rp, Indexing) and not getattr(rp, "ready", rp.indexed):
            # after the first frame: a thread folding the log would hold the interpreter lock while it is drawn
            def index() -> None:
                host.run_worker(rp.index, group="replay-index", exclusive=True, exit_on_error=False, thread=True)

            host.call_after_refresh(index)
        if self._at:
            self.seek_text(self._at)
        if self._speed is not None:
            self.playhead.speed = self._speed
            if not self.playhead.playing:
                self.toggle()
        return []

    def now(self) -> float:
        return self.playhead.t

    def step(self) -> tuple[bool, list[Event]]:
        """Follow the index as it grows; move the playhead by the wall time since the last step, times its speed."""
        mono = time.monotonic()
        ph, rp = self.playhead, self.replay
        changed = self._follow_index()
        growing, playing = self._indexing() is not None, ph.playing
        moved = ph.advance(mono - self.last_tick)
        if growing and playing and not ph.playing:
            ph.playing = True  # at the indexed end while indexing: wait there, playing on as the index grows
        self.last_tick = mono
        if moved:
            self._load()
        if rp.integrity != self._note:
            self._note = rp.integrity
            changed = True
        return moved or changed, []

    def _follow_index(self) -> bool:
        """Take in how far the index got: the bar's range, a pending jump, a state that was clamped."""
        rp = self.replay
        if not isinstance(rp, Indexing):
            return False
        ph = self.playhead
        seen = (rp.start, rp.end, rp.indexed)
        if seen == self._seen:
            return False
        self._seen = seen
        ph.start, ph.end = rp.start, rp.end
        if self._want is None and ph.t > ph.end:
            self._want = ph.t  # the index was thrown away and is being rebuilt: come back here when it is
        if self._want is not None:
            ph.seek(self._want)
            if ph.t >= self._want or rp.indexed:
                self._want = None
            self._load()
        elif rp.clamped or ph.t < ph.start:
            ph.seek(ph.t)
            self._load()  # what was shown stopped at the indexed end: fold on to the playhead
        return True

    def _load(self) -> None:
        self.state = self.replay.state_at(self.playhead.t)

    def frame(self, now: float) -> Frame:
        ph, rp = self.playhead, self.replay
        where = Position(ph.t, rp.start, rp.end, ph.speed, ph.playing)
        return Frame(view(self.state, now), self.state, _info(self, "", rp.integrity), where)

    def watch(self, verdict: Verdict) -> None:
        return None

    def close(self) -> None:
        if isinstance(self.replay, Indexing):
            self.replay.stop()

    # ---------------------------------------------------------------- the playhead

    def toggle(self) -> None:
        self.playhead.toggle()
        self.last_tick = time.monotonic()

    def faster(self, factor: float) -> None:
        self.playhead.faster(factor)

    def step_mark(self, direction: int) -> tuple[float, str] | None:
        """Jump to the next (1) or previous (-1) decision; None when there is none that way."""
        mark = self.playhead.step(self.replay.marks(), direction)
        if mark is not None:
            self._want = None
            self._load()
        return mark

    def seek_text(self, text: str) -> bool:
        """Jump to a moment typed as T+00:37, T-5m, ...; says what is wrong with a bad one.

        Beyond what is indexed yet, the playhead stops at the indexed end, says so, and goes on to the
        moment as indexing reaches it."""
        try:
            t = parse_moment_text(text, self.launch.t0)
        except ValueError as e:
            if self._host is not None:
                self._host.notify(str(e), severity="error")
            return False
        self._want = None
        rp = self._indexing()
        if rp is not None and t > rp.end:
            self._want = t
            if self._host is not None:
                self._host.notify(
                    f"only up to {fmt.t_rel(rp.end, self.launch.t0)} is indexed yet: the playhead waits there "
                    f"and goes on to {fmt.t_rel(t, self.launch.t0)} as indexing reaches it",
                    title="Still indexing",
                )
        self.playhead.seek(t)
        self._load()
        return True
