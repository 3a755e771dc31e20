"""Guarded, single-flight execution of the rollback procedure.

The procedure is the config's steps, run one after another exactly as written:
an argv list without a shell (a shell only for a step that says `shell:`),
each in its own session/process group so a timeout can stop the step *and*
everything it started. Nothing observed at run time (metric values, alert
labels, the triggering values of an auto-rollback) is ever put on a command
line or into a step's environment: those only go into the log.

Every stage is an event in the decision log, so every console sees the run and
replay/report can show it later:

    requested -> refused
    requested -> started -> (step_started, step_output*, step_finished)* -> verify* -> finished

One rollback at a time per log, across processes: `FileLock("<log>.rollback.lock")`
(named from the log's real path, so a symlinked name shares it) is held for the
whole run (the OS drops it if the process dies). A marker file
`<log>.rollback.running` ("<runner pid> <step process group>") exists while a
run is in flight. Finding it when taking the lock means the previous runner
died mid-run: if the step it was running still lives (steps run in their own
session, so they outlive a dropped SSH console), a new rollback is refused
until that step ends; otherwise the dead run is recorded as failed first.

Every started run ends with a recorded outcome. Nothing but the log can stop
a run half-way: a display that fails (a closed stdout) is ignored. When the log
itself cannot be written (disk full, file too large), the step in flight is
seen to its end, nothing more is run (an unrecorded step is not run), and the
runner records what it can; if even the `finished` cannot be written, it leaves
the marker (with why) and the next process on this log (a console, `check`,
another rollback) records the run as interrupted. A marker whose run already
has its `finished` (the runner died just after writing it) is only removed.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shlex
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warroom.config import PRIMARY, Launch, RollbackProcedure, RollbackStep
from warroom.core import authority
from warroom.core.events import Actor, Event
from warroom.core.records import Rollback, RollbackPhase, Sample, StepStatus, VerifyStatus
from warroom.core.rules import Level
from warroom.core.state import LaunchState, criterion_view
from warroom.core.units import format_duration
from warroom.rollback import procvalues, reaper
from warroom.store.base import Lease, LogReader, Store
from warroom.store.log import DecisionLog, FileLock, LogCorrupt, iter_events
from warroom.store.paths import side_path
from warroom.store.sidefiles import UnsafePath, create_side, file_mode, open_side, read_side, rewrite_side

FLUSH_EVERY = 0.5  # seconds between output batches in the log
FLUSH_LINES = 20  # ... or this many lines, whichever comes first
LOG_LINES = 200  # output lines kept in the log per step: the first half live, the last half at the end
LOG_CHARS = 16_000  # same, in characters
MAX_LINE = 1_000  # a longer line is cut, saying how much
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for a step's process group
POLL = 0.05
SHELL = "/bin/sh"

OutputHook = Callable[[int | None, list[str]], None]  # step index (None for verify), new lines
EventHook = Callable[[Event], None]


class RecordFailed(Exception):
    """A rollback stage could not be appended to the decision log (disk full, file too large, I/O error)."""

    def __init__(self, what: str, cause: BaseException | str):
        why = cause if isinstance(cause, str) else _why(cause)
        super().__init__(f"writing {what}: {why}")


def running_marker(log_path: str | Path) -> Path:
    return side_path(log_path, ".rollback.running")


def effective_dry_run(launch: Launch, dry_run: bool | None) -> bool:
    """The config's `dry_run: true` cannot be overridden from the console; `--dry-run` can only add safety."""
    return bool(launch.rollback.dry_run or dry_run)


def step_argv(step: RollbackStep, values: dict[str, str] | None = None) -> list[str]:
    """The argv as configured (a copy), each whole `${NAME}` entry replaced by its value as one argument."""
    return procvalues.step_argv(step, values)


def procedure_of(launch: Launch, name: str) -> RollbackProcedure | None:
    return launch.rollback.procedures.get(name)


def plan_text(
    launch: Launch, dry_run: bool | None = None, procedure: str = PRIMARY, values: dict[str, str] | None = None
) -> list[str]:
    """Exactly what will run, line by line, for the confirmation modal.

    argv is shown shell-quoted (with the values given, or `${NAME}` where none
    is given yet), with cwd, timeout and env keys (env values may be secrets).
    """
    rb = launch.rollback
    proc = procedure_of(launch, procedure)
    if proc is None:
        return [f"There is no rollback procedure '{procedure}': choose one of {', '.join(rb.procedures)}."]
    steps = proc.steps
    dry = effective_dry_run(launch, dry_run)
    lines = [
        f"Rollback of launch {launch.id}, procedure '{proc.id}': {len(steps)} step{'s' if len(steps) != 1 else ''}, "
        "run one after another; a failing step stops the rest."
    ]
    for prm in proc.params:
        given = (values or {}).get(prm.name)
        allowed = " and ".join(
            x
            for x in (
                f"matching {prm.pattern!r}" if prm.pattern else "",
                f"listed by {shlex.join(prm.choices_command)}" if prm.choices_command else "",
            )
            if x
        )
        shown = repr(given) if given is not None else "(not given yet)"
        lines.append(f"value {prm.name} = {shown}: {allowed}; passed as env {prm.name} and as its own argv entry")
    if dry:
        why = "rollback.dry_run is set in the config" if rb.dry_run else "--dry-run"
        lines.append(f"DRY RUN ({why}): nothing will be executed; every step is recorded as skipped.")
    if proc.description and proc.id != PRIMARY:
        lines.append(f"When to use it: {' '.join(proc.description.split())}")
    if not steps:
        lines.append(
            "There are no steps: rollback.steps is empty in the config."
            if proc.id == PRIMARY
            else "There are no steps."
        )
    here = os.getcwd()
    for i, step in enumerate(steps, 1):
        lines.append(f"{i}. {step.name}")
        if step.run is not None:
            lines.append(f"   run:     {shlex.join(step_argv(step, values))}")
        else:
            lines.append(f"   shell:   {shlex.join(step_argv(step))}   (through a shell, as the config says)")
        cwd = step.cwd or here
        shown = cwd if os.path.isabs(cwd) else f"{cwd} (= {os.path.abspath(cwd)})"
        lines.append(f"   cwd:     {shown}" + ("" if step.cwd else " (current directory)"))
        lines.append(f"   timeout: {format_duration(step.timeout)} (then its whole process group is stopped)")
        env = procvalues.step_env(step, {p.name: "" for p in proc.params})
        if env:
            lines.append(f"   env:     {', '.join(sorted(env))} (set on top of this console's environment)")
    v = rb.verify
    if v is not None:
        if v.run is not None:
            lines.append(f"verify:    {shlex.join(v.run)} must exit 0 within {format_duration(v.within)}")
        else:
            lines.append(f"verify:    criterion '{v.criterion}' must be GO within {format_duration(v.within)}")
    else:
        lines.append("verify:    none configured")
    return lines


# ---------------------------------------------------------------- output capture


def clean_line(text: str) -> str:
    """Store untrusted output as it came, minus NULs and with a length cap (display sanitises the rest)."""
    text = text.replace("\x00", "").rstrip("\r")
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE] + f" … [{len(text) - MAX_LINE} more characters cut]"
    return text


@dataclass
class _Output:
    """One command's output: decoded incrementally, the head logged live, the tail kept for the end."""

    pending: list[str] = field(default_factory=list)
    head_lines: int = 0
    head_chars: int = 0
    tail: deque[str] = field(default_factory=deque)
    tail_chars: int = 0
    cut_lines: int = 0
    cut_chars: int = 0
    fresh: list[str] = field(default_factory=list)  # every new line, for a live panel in this process
    _partial: str = ""
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._partial + self._decoder.decode(data, final)
        parts = text.split("\n")
        self._partial = parts.pop()
        for p in parts:
            self.add(clean_line(p))
        if final and self._partial:
            self.add(clean_line(self._partial))
            self._partial = ""

    def add(self, line: str) -> None:
        self.fresh.append(line)
        if self.head_lines < LOG_LINES // 2 and self.head_chars < LOG_CHARS // 2:
            self.head_lines += 1
            self.head_chars += len(line) + 1
            self.pending.append(line)
            return
        self.tail.append(line)
        self.tail_chars += len(line) + 1
        while len(self.tail) > LOG_LINES // 2 or self.tail_chars > LOG_CHARS // 2:
            gone = self.tail.popleft()
            self.tail_chars -= len(gone) + 1
            self.cut_lines += 1
            self.cut_chars += len(gone) + 1

    def finish(self) -> None:
        """Move the kept tail to `pending`, after a line saying what was cut."""
        self.feed(b"", final=True)
        if self.cut_lines:
            self.pending.append(
                f"[warroom] … {self.cut_lines} lines ({self.cut_chars} characters) of output "
                f"not recorded here; the last {len(self.tail)} lines follow …"
            )
        self.pending.extend(self.tail)
        self.tail.clear()


@dataclass(frozen=True)
class CommandResult:
    status: str  # ok, failed, timeout
    exit_code: int | None
    duration: float
    detail: str = ""
    unrecorded: int = 0  # output lines that could not be written to the log
    record_error: str = ""  # why (the first failed write), "" if every line was written


# ---------------------------------------------------------------- process groups


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group; reads /proc where there is one."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    return [pid for pid, p in reaper.table().items() if p.pgid == pgid and p.state not in ("Z", "X")]


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def stop_group(pgid: int, grace: float = KILL_GRACE) -> bool:
    """SIGTERM the group, SIGKILL whatever is left after `grace`; True if nothing survives."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return True
        await asyncio.sleep(POLL)
    _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return True
        await asyncio.sleep(POLL)
    return not group_members(pgid)


def _exit_text(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


async def run_command(
    argv: list[str],
    *,
    cwd: str | None,
    env: dict[str, str],
    timeout: float,
    emit: Callable[[list[str], dict[str, int] | None], None],
    live: Callable[[list[str]], None] | None = None,
    on_spawn: Callable[[int], None] | None = None,
    kill_grace: float = KILL_GRACE,
) -> CommandResult:
    """Run one command without a shell in a new session; stream its output to `emit` in batches.

    Neither hook can stop the command half-way: a failing `live` (a display)
    is ignored, and after a failing `emit` (the log cannot be written) the
    output is drained and counted, not written, so the command still runs to
    its end and its exit status is known. Whatever it started is stopped with
    it, in its group or not (see `warroom.rollback.reaper`).
    """
    start = time.monotonic()
    out = _Output()
    last_flush = start
    lost = 0
    record_error = ""

    def flush(force: bool = False) -> None:
        nonlocal last_flush, lost, record_error
        if live is not None and out.fresh:
            with contextlib.suppress(Exception):  # the display only; the log is the record
                live(out.fresh)
        out.fresh = []
        if out.pending and (force or len(out.pending) >= FLUSH_LINES or time.monotonic() - last_flush >= FLUSH_EVERY):
            batch, out.pending = out.pending, []
            last_flush = time.monotonic()
            if record_error:
                lost += len(batch)
                return
            cut = {"lines": out.cut_lines, "chars": out.cut_chars} if out.cut_lines else None
            try:
                emit(batch, cut)
            except Exception as e:  # whatever it is, the command must still be seen to its end
                record_error = _why(e)
                lost += len(batch)

    before = reaper.children()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **env},
            start_new_session=True,
        )
    except (OSError, ValueError) as e:
        detail = f"could not start {argv[0] if argv else '(empty argv)'}: {_why(e)}"
        out.add(f"[warroom] {detail}")
        flush(force=True)
        return CommandResult("failed", None, time.monotonic() - start, detail, lost, record_error)

    pgid = proc.pid
    reaper.track(pgid)
    try:
        if on_spawn is not None:
            with contextlib.suppress(Exception):
                on_spawn(pgid)
        assert proc.stdout is not None
        status, detail = await _supervise(proc, out, flush, start, timeout, kill_grace, before)
    finally:
        reaper.untrack(pgid)
        with contextlib.suppress(Exception):  # its pipe and transport now, not when the loop is gone
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
        out.finish()
        flush(force=True)
    code = proc.returncode
    if not status:
        status = "ok" if code == 0 else "failed"
        detail = "" if code == 0 else _exit_text(code)
    return CommandResult(status, code, time.monotonic() - start, detail, lost, record_error)


def _why(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


async def _supervise(
    proc: asyncio.subprocess.Process,
    out: _Output,
    flush: Callable[..., None],
    start: float,
    timeout: float,
    kill_grace: float,
    before: set[int],
) -> tuple[str, str]:
    """Read the output, wait for the exit or the timeout, stop what is left; (status if timed out, detail)."""
    pgid = proc.pid
    stream = proc.stdout
    assert stream is not None

    async def pump() -> None:
        while chunk := await stream.read(1 << 16):
            out.feed(chunk)
            flush()

    reader = asyncio.create_task(pump())
    waiter = asyncio.create_task(proc.wait())
    status, detail = "", ""
    try:
        # The exit status, not wait(): that also waits for the output pipe, which a process left behind holds open.
        while proc.returncode is None:
            left = start + timeout - time.monotonic()
            if left <= 0:
                status = "timeout"
                break
            await asyncio.wait({waiter}, timeout=min(FLUSH_EVERY, left))
            flush()
        if status == "timeout":
            detail = f"timed out after {format_duration(timeout)}"
            out.add(f"[warroom] {detail}; stopping its process group {pgid} (SIGTERM, SIGKILL after {kill_grace:g}s)")
            if not await stop_group(pgid, kill_grace):
                out.add(f"[warroom] some processes of group {pgid} could not be stopped")
            deadline = time.monotonic() + 2.0
            while proc.returncode is None and time.monotonic() < deadline:
                await asyncio.wait({waiter}, timeout=POLL)
        elif left_over := group_members(pgid):
            out.add(f"[warroom] the command left {len(left_over)} process(es) running in its group; stopping them")
            await stop_group(pgid, kill_grace)
        if reaper.escaped(pgid, before):
            found, alive = await reaper.stop(pgid, before, kill_grace)
            out.add(
                f"[warroom] the command left {found} process(es) running outside its group; "
                + (f"{alive} could not be stopped" if alive else "stopped them")
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), 2.0)
        reaper.reap(before)  # orphans of the step that ended by themselves: no zombie left behind
    except asyncio.CancelledError:
        _signal_group(pgid, signal.SIGKILL)
        for pid in reaper.escaped(pgid, before):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        out.add("[warroom] cancelled; process group killed")
        raise
    finally:
        for t in (reader, waiter):
            if not t.done():
                t.cancel()
        if reader.done() and not reader.cancelled():
            reader.exception()  # retrieved: a failing read is not a "never retrieved" traceback at exit
    return status, detail


# ---------------------------------------------------------------- the runner


def actor_roles(launch: Launch, actor: Actor) -> list[str]:
    """Role ids of an actor, by the one rule the fold and the console apply (warroom.core.authority)."""
    return [r.id for r in authority.roles_of(launch, actor)]


def _ids(roles: list[Any]) -> list[str]:
    """Role ids, whether given as ids or as `Role` objects."""
    return [str(getattr(r, "id", r)) for r in roles]


class RollbackRunner:
    """Runs the launch's rollback procedure once, recording every stage in the log."""

    def __init__(
        self,
        launch: Launch,
        log: Store,
        actor: Actor,
        *,
        dry_run: bool | None = None,
        clock: Callable[[], float] = time.time,
        on_output: OutputHook | None = None,
        on_event: EventHook | None = None,
        kill_grace: float = KILL_GRACE,
    ):
        self.launch = launch
        self.log = log
        self.actor = actor
        self.dry_run = effective_dry_run(launch, dry_run)
        self.clock = clock
        self.on_output = on_output
        self.on_event = on_event
        self.kill_grace = kill_grace
        self.running = False
        self._lease: Lease | None = None  # the rollback lease while a run holds it: its appends are fenced by it
        self.record_error = ""  # the first decision-log write that failed in the last run, "" if none did
        self.ended = False  # the last run's outcome (`finished`) is in the log
        self._step_ended: set[int] = set()  # steps whose step_finished is in the log
        self._results: dict[int, CommandResult] = {}  # steps that ran, recorded or not
        self._started = False  # the last run's `started` is in the log
        self.requested = False  # the last run's `requested` is in the log (else nothing of it is, nothing ran)
        self.procedure: RollbackProcedure = launch.rollback.primary  # the procedure of the last (or current) run
        self.values: dict[str, str] = {}  # the values it was given

    @property
    def started_run(self) -> bool:
        """The last run got past its checks and its `started` is in the log (it ran, or tried to)."""
        return self._started

    # -------------------------------------------------------------- guarding

    def refusal(self, roles: list[str], observer: bool) -> str | None:
        """Why this actor may not roll back (not in rollback.allowed_roles, observer console), or None."""
        rb = self.launch.rollback
        roles = _ids(roles)
        if observer:
            return "this console is an observer console; rollback needs a full console"
        if not self.procedure.steps:
            return "the config has no rollback steps (rollback.steps is empty)"
        if not rb.allowed_roles:
            return "no role may roll back: rollback.allowed_roles is empty in the config"
        if not set(roles) & set(rb.allowed_roles):
            who = self.actor.name or self.actor.user
            return (
                f"{who} may not roll back: it needs one of the roles {', '.join(rb.allowed_roles)}, "
                f"and {who} has {', '.join(roles) if roles else 'no role'} in this launch"
            )
        return None

    def _auto_refusal(self) -> str | None:
        if not self.launch.rollback.auto_allowed:
            return "auto-rollback is not allowed by the config (rollback.auto_allowed is false)"
        if not self.launch.rollback.steps:
            return "the config has no rollback steps (rollback.steps is empty)"
        return None

    def _append(self, data: dict[str, Any]) -> Event:
        """Record one stage; RecordFailed if the log cannot be written (the caller decides what is safe)."""
        try:
            ev = self._write(data)
        except (OSError, LogCorrupt) as e:
            raise self._failed(data, e) from e
        return self._recorded(data, ev)

    async def _append_off_loop(self, data: dict[str, Any]) -> Event:
        """`_append` for the request, the write a console's dialog waits on: a shared store's append (which may
        try for seconds to reach a database that is down) runs in a thread, so the console keeps drawing; a
        file's is an fsync, made here (one flock per open file: not for two threads at once)."""
        if isinstance(self.log, DecisionLog):
            return self._append(data)
        try:
            ev = await asyncio.to_thread(self._write, data)
        except (OSError, LogCorrupt) as e:
            raise self._failed(data, e) from e
        return self._recorded(data, ev)

    def _write(self, data: dict[str, Any]) -> Event:
        # fenced by the rollback lease while it runs: on a shared store, once another console has taken the lease
        # over (and recorded this run as interrupted), nothing more of this run is recorded, and it stops
        return self.log.append_many([("rollback", data)], actor=self.actor, fence=self._lease)[0]

    def _failed(self, data: dict[str, Any], e: BaseException) -> RecordFailed:
        err = RecordFailed(str(data.get("phase")), e)
        self.record_error = self.record_error or str(err)
        return err

    def _recorded(self, data: dict[str, Any], ev: Event) -> Event:
        """What the runner knows once a stage is in the log; the display is told."""
        phase = data.get("phase")
        if phase == RollbackPhase.REQUESTED:
            self.requested = True
        elif phase == RollbackPhase.STARTED:
            self._started = True
        elif phase == RollbackPhase.STEP_FINISHED:
            self._step_ended.add(int(data["index"]))
        elif phase == RollbackPhase.FINISHED:
            self.ended = True
        if self.on_event is not None:
            with contextlib.suppress(Exception):  # a display (even a closed stdout) never stops a rollback
                self.on_event(ev)
        return ev

    # -------------------------------------------------------------- running

    async def run(
        self,
        reason: str,
        *,
        automatic: bool = False,
        triggering: dict | None = None,
        roles: list[str] | None = None,
        observer: bool = False,
        procedure: str = PRIMARY,
        values: dict[str, str] | None = None,
    ) -> bool:
        """Request, check, lock and run a procedure; True only if every step (and verify) passed.

        `procedure` is the id of one of the config's procedures (the primary,
        `rollback.steps`, by default); `values` are what it asks for, checked
        before anything runs. Auto-rollback runs only the primary.

        It does not raise for a log that cannot be written: it stops safely and
        returns False with `record_error` set. If even the outcome could not be
        recorded (`ended` is False after a start), the running marker is left
        in place, and the next process on this log records the run as
        interrupted (`recover_interrupted`).
        """
        self.record_error, self.ended = "", False
        self._step_ended, self._results, self._started, self.requested = set(), {}, False, False
        self.values = {str(k): str(v) for k, v in (values or {}).items()}
        found = procedure_of(self.launch, procedure)
        self.procedure = found or RollbackProcedure(id=procedure, steps=[])
        try:
            return await self._run(reason, automatic, triggering, roles, observer, known=found is not None)
        except RecordFailed:
            return False

    async def _run(
        self,
        reason: str,
        automatic: bool,
        triggering: dict | None,
        roles: list[str] | None,
        observer: bool,
        known: bool = True,
    ) -> bool:
        roles = actor_roles(self.launch, self.actor) if roles is None else _ids(roles)
        req: dict[str, Any] = {
            "phase": RollbackPhase.REQUESTED,
            "procedure": self.procedure.id,
            "values": dict(self.values),
            "reason": reason,
            "automatic": automatic,
            "dry_run": self.dry_run,
            "roles": list(roles),
            "observer": observer,
            "pid": os.getpid(),
        }
        if triggering is not None:
            req["triggering"] = triggering  # evidence for the log only; never reaches a command
            crits = triggering.get("criteria")
            if isinstance(crits, dict):
                req["criteria"] = {str(k): v.get("since") for k, v in crits.items() if isinstance(v, dict)}
        await self._append_off_loop(req)
        why = self._auto_refusal() if automatic else self.refusal(roles, observer)
        if why is None and not known:
            have = ", ".join(self.launch.rollback.procedures)
            why = f"there is no rollback procedure '{self.procedure.id}' (the config has {have})"
        elif why is None and automatic and self.procedure.id != PRIMARY:
            why = "auto-rollback runs only the primary procedure; an alternative needs a person to choose it"
        if why is None:
            why = await asyncio.to_thread(procvalues.check_values, self.procedure, self.values)
        if why is not None:
            self._append({"phase": RollbackPhase.REFUSED, "reason": why})
            return False
        lock = self.log.lease("rollback")  # a file's FileLock(lock_path(log)), or a shared store's lease
        try:
            got = lock.try_acquire()
        except UnsafePath as e:
            self._append({"phase": RollbackPhase.REFUSED, "reason": f"cannot take the rollback lock: {e}"})
            return False
        if not got:
            pid = lock.holder_pid() if isinstance(lock, FileLock) else None
            holder = f"pid {pid}" if pid else lock.holder_text()
            where = lock.path if isinstance(lock, FileLock) else self.log.name
            self._append(
                {
                    "phase": RollbackPhase.REFUSED,
                    "reason": f"another rollback is running ({holder}, lock {where})",
                    "holder_pid": pid,
                }
            )
            return False
        self.running = True
        self._lease = lock
        try:
            orphan = orphaned_step(self.log.side_base)
            if orphan is not None:
                self._append(
                    {
                        "phase": RollbackPhase.REFUSED,
                        "reason": f"a step of an interrupted rollback is still running "
                        f"(process group {orphan}); wait for it or stop it",
                        "orphan_pgid": orphan,
                    }
                )
                return False
            recover_interrupted(self.log, self.actor, lock_held=True)
            marker = running_marker(self.log.side_base)
            try:
                _write_marker(marker, os.getpid(), 0, new_with_mode=file_mode(self.log.side_base))
            except OSError as e:
                why = f"cannot create the running marker {marker} ({_why(e)}), so a crash could go unrecorded"
                self._append({"phase": RollbackPhase.REFUSED, "reason": why})
                return False
            try:
                with reaper.subreaper():  # descendants that leave a step's group come back to us, to be stopped
                    return await self._procedure(reason, automatic, triggering)
            finally:
                if self.ended:
                    marker.unlink(missing_ok=True)
                else:  # the next process records this run from the marker; say why it was left
                    _note_marker(marker, f"could not record the outcome: {self.record_error}")
        finally:
            self.running = False
            self._lease = None
            lock.release()

    async def _procedure(self, reason: str, automatic: bool, triggering: dict | None) -> bool:
        steps = self.procedure.steps
        started: dict[str, Any] = {
            "phase": RollbackPhase.STARTED,
            "procedure": self.procedure.id,
            "values": dict(self.values),
            "steps": [s.name for s in steps],
            "dry_run": self.dry_run,
            "automatic": automatic,
            "reason": reason,
            "pid": os.getpid(),
            "plan": plan_text(self.launch, self.dry_run, self.procedure.id, self.values),
        }
        if triggering is not None:
            started["triggering"] = triggering
        ok, why = True, ""
        try:
            self._append(started)
            for i, step in enumerate(steps):
                if self.dry_run:
                    self._skip(i, "skipped (dry run)")
                    continue
                res = await self._step(i, step)
                if res.record_error:  # the step ran to its end, but its record is incomplete: run nothing more
                    raise RecordFailed(f"output of step {i + 1}", res.record_error)
                if res.status != "ok":
                    ok = False
                    why = f"step {i + 1} '{step.name}' {res.status}: {res.detail}"
                    for j in range(i + 1, len(steps)):
                        self._skip(j, "not run: an earlier step failed")
                    break
            if ok:
                ok, why = await self._verify()
            if ok and self.dry_run:
                why = "dry run: nothing was executed"
            self._append({"phase": RollbackPhase.FINISHED, "ok": ok, "reason": why, "dry_run": self.dry_run})
            return ok
        except RecordFailed:
            self._close_after_record_failure()
            return False
        except asyncio.CancelledError:
            self._try_finish("cancelled: the console running it stopped")
            raise
        except Exception as e:  # a bug here must still close the record and release the lock
            self._try_finish(f"internal error: {type(e).__name__}: {e}")
            return False

    def _skip(self, i: int, detail: str) -> None:
        step = self.procedure.steps[i]
        self._append(
            {
                "phase": RollbackPhase.STEP_FINISHED,
                "index": i,
                "name": step.name,
                "status": StepStatus.SKIPPED,
                "exit_code": None,
                "duration": 0.0,
                "detail": detail,
            }
        )

    def _try_finish(self, why: str, **extra: Any) -> bool:
        """Record the outcome as failed if the log lets us; False if it does not (the marker then stays)."""
        if self.ended:
            return True
        data = {"phase": RollbackPhase.FINISHED, "ok": False, "reason": why, "dry_run": self.dry_run, **extra}
        with contextlib.suppress(RecordFailed):
            self._append(data)
        return self.ended

    def _close_after_record_failure(self) -> None:
        """The log failed a write: end every step and the run in the record, as far as the log lets us now."""
        if not self._started:  # nothing ran; a `finished` or step records without their `started` would be misread
            why = f"the decision log could not record the start ({self.record_error}); nothing was run"
            with contextlib.suppress(RecordFailed):
                self._append({"phase": RollbackPhase.REFUSED, "reason": why, "record_error": self.record_error})
                self.ended = True  # the request's outcome is in the log: there is no run to recover
            return
        try:
            for i, step in enumerate(self.procedure.steps):
                if i in self._step_ended:
                    continue
                res = self._results.get(i)
                if res is None:
                    self._skip(i, "not run: the decision log could not be written")
                else:
                    self._append(self._step_finished(i, step, res))
        except RecordFailed:
            return
        why = f"the decision log could not be written ({self.record_error}); nothing more was run"
        self._try_finish(why, record_error=self.record_error)

    def _note_group(self, pgid: int) -> None:
        with contextlib.suppress(OSError):  # the marker's existence is what matters; the group only helps
            _write_marker(running_marker(self.log.side_base), os.getpid(), pgid)

    def _live(self, index: int | None) -> Callable[[list[str]], None] | None:
        hook = self.on_output
        if hook is None:
            return None
        return lambda lines: hook(index, list(lines))

    async def _step(self, i: int, step: RollbackStep) -> CommandResult:
        argv = step_argv(step, self.values)
        env = procvalues.step_env(step, self.values)
        self._append(
            {
                "phase": RollbackPhase.STEP_STARTED,
                "index": i,
                "name": step.name,
                "argv": argv,
                "cwd": step.cwd,
                "timeout": step.timeout,
                "env_keys": sorted(env),
            }
        )

        def emit(lines: list[str], cut: dict[str, int] | None) -> None:
            data: dict[str, Any] = {"phase": RollbackPhase.STEP_OUTPUT, "index": i, "lines": lines}
            if cut:
                data["cut"] = cut
            self._append(data)

        res = await run_command(
            argv,
            cwd=step.cwd,
            env=env,
            timeout=step.timeout,
            emit=emit,
            live=self._live(i),
            on_spawn=self._note_group,
            kill_grace=self.kill_grace,
        )
        self._results[i] = res
        self._note_group(0)  # no step running now
        self._append(self._step_finished(i, step, res))
        return res

    @staticmethod
    def _step_finished(i: int, step: RollbackStep, res: CommandResult) -> dict[str, Any]:
        data: dict[str, Any] = {
            "phase": RollbackPhase.STEP_FINISHED,
            "index": i,
            "name": step.name,
            "exit_code": res.exit_code,
            "status": res.status,
            "duration": round(res.duration, 3),
            "detail": res.detail,
        }
        if res.record_error:
            data["unrecorded_lines"] = res.unrecorded
            data["record_error"] = res.record_error
        return data

    async def _verify(self) -> tuple[bool, str]:
        v = self.launch.rollback.verify
        if v is None:
            return True, ""
        kind = "run" if v.run is not None else "criterion"
        what = shlex.join(v.run) if v.run is not None else f"criterion {v.criterion} must be GO"
        if self.dry_run:
            self._append(
                {
                    "phase": RollbackPhase.VERIFY,
                    "status": VerifyStatus.SKIPPED,
                    "kind": kind,
                    "detail": f"dry run: {what}",
                }
            )
            return True, ""
        self._append(
            {
                "phase": RollbackPhase.VERIFY,
                "status": VerifyStatus.RUNNING,
                "kind": kind,
                "what": what,
                "within": v.within,
            }
        )
        if v.run is not None:

            def emit(lines: list[str], cut: dict[str, int] | None) -> None:
                self._append({"phase": RollbackPhase.VERIFY_OUTPUT, "lines": lines} | ({"cut": cut} if cut else {}))

            res = await run_command(
                list(v.run),
                cwd=None,
                env={},
                timeout=v.within,
                emit=emit,
                live=self._live(None),
                on_spawn=self._note_group,
                kill_grace=self.kill_grace,
            )
            ok = res.status == "ok"
            detail = f"{what}: " + ("exit 0" if ok else res.detail)
            data: dict[str, Any] = {
                "phase": RollbackPhase.VERIFY,
                "status": VerifyStatus.PASSED if ok else VerifyStatus.FAILED,
                "kind": kind,
                "exit_code": res.exit_code,
                "duration": round(res.duration, 3),
                "detail": detail,
            }
            if res.record_error:
                data |= {"unrecorded_lines": res.unrecorded, "record_error": res.record_error}
            self._append(data)
        else:
            ok, detail, took = await self._verify_criterion(str(v.criterion), v.within)
            self._append(
                {
                    "phase": RollbackPhase.VERIFY,
                    "status": VerifyStatus.PASSED if ok else VerifyStatus.FAILED,
                    "kind": kind,
                    "duration": round(took, 3),
                    "detail": detail,
                }
            )
        return ok, ("" if ok else f"verify failed: {detail}")

    async def _verify_criterion(self, cid: str, within: float) -> tuple[bool, str, float]:
        """Follow the log (the recorder appends samples) until the criterion is GO on a fresh sample."""
        start_mono = time.monotonic()
        since = self.clock()
        follower = self.log.follower()
        state = LaunchState(self.launch)
        c = self.launch.criteria_by_id[cid]
        fresh = False
        while True:
            for ev in follower.poll():
                state.apply(ev)
                p = ev.payload
                if type(p) is Sample and p.criterion == cid and ev.ts >= since:
                    fresh = True
            cv = criterion_view(c, state.criteria[cid], self.clock())
            if fresh and cv.level == Level.GO:
                return True, f"{c.name} is GO: {cv.reason}", time.monotonic() - start_mono
            if time.monotonic() - start_mono >= within:
                seen = f"last {cv.level.value}: {cv.reason}" if fresh else "no new sample arrived"
                return (
                    False,
                    f"{c.name} not GO within {format_duration(within)} ({seen})",
                    time.monotonic() - start_mono,
                )
            await asyncio.sleep(0.5)


def _write_marker(path: Path, pid: int, pgid: int, *, new_with_mode: int | None = None) -> None:
    """`<runner pid> <step process group or 0>`: what the next process needs to record the run.

    Created new (O_EXCL, the log's mode) or rewritten in place, never through a symlink (sidefiles.py).
    """
    if new_with_mode is not None:
        create_side(path, f"{pid} {pgid}\n", new_with_mode)
    else:
        rewrite_side(path, f"{pid} {pgid}\n")


def _note_marker(path: Path, note: str) -> None:
    """Add why the marker was left (appended: a failing write cannot lose the pid already there)."""
    with contextlib.suppress(OSError):
        fd = open_side(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (" ".join(note.split()) + "\n").encode())
        finally:
            os.close(fd)


def _read_marker(path: Path) -> tuple[int | None, int | None, str]:
    try:
        parts = (read_side(path) or "").split(maxsplit=2)
        pgid = (int(parts[1]) or None) if len(parts) > 1 else None
        return int(parts[0]), pgid, parts[2].strip() if len(parts) > 2 else ""
    except (OSError, ValueError, IndexError):
        return None, None, ""


def orphaned_step(log_path: str | Path) -> int | None:
    """The process group of a step left running by a dead runner, if it is still alive."""
    _pid, pgid, _note = _read_marker(running_marker(log_path))
    return pgid if pgid is not None and group_members(pgid) else None


def run_left_open(log_path: str | Path | LogReader) -> bool:
    """True if the log's last rollback run has a `started` and no `finished` (the fold shows it "running")."""
    open_run = False
    try:
        for ev in iter_events(log_path) if isinstance(log_path, str | Path) else log_path.events():
            p = ev.payload if ev.kind == "rollback" else None
            if isinstance(p, Rollback):
                if p.phase == RollbackPhase.STARTED:
                    open_run = True
                elif p.phase == RollbackPhase.FINISHED:
                    open_run = False
    except (OSError, LogCorrupt):
        return True  # cannot tell: recording the end of a run that already ended is the lesser harm
    return open_run


def recover_interrupted(log: Store, actor: Actor, *, lock_held: bool = False, open_in_fold: bool = False) -> bool:
    """If a previous run ended without its outcome in the log, record it as failed (interrupted); True if done.

    That run's runner left the marker: it died mid-run, or it could not write
    the log. Nothing is recorded while the lock is held (it still runs), while
    a step it started still lives, or when the log already has the run's end
    (the runner died between writing it and removing the marker). A log that
    cannot be written now keeps the marker for the next try; this never raises.
    On a shared store, without a marker here, the run may be another host's: see `_recover_by_lease`
    (`open_in_fold`: the caller's fold already says a run is open).
    """
    marker = running_marker(log.side_base)
    if marker.is_symlink():
        return False  # one planted as a symlink, which run() refuses to write through
    if not marker.exists():
        return _recover_by_lease(log, actor, lock_held=lock_held, open_in_fold=open_in_fold)
    lock: Lease | None = None
    if not lock_held:
        lock = log.lease("rollback")
        try:
            if not lock.try_acquire():
                return False  # it is still running somewhere
        except OSError:
            return False
    try:
        if not marker.exists() or orphaned_step(log.side_base) is not None:
            return False
        pid, _pgid, note = _read_marker(marker)
        if not run_left_open(log):
            marker.unlink(missing_ok=True)  # a stale marker: that run's end is recorded
            return False
        who = f"the process running it (pid {pid or '?'})"
        why = f"{who} {note}" if note else f"{who} died before finishing"
        try:
            log.append(
                "rollback",
                {"phase": RollbackPhase.FINISHED, "ok": False, "interrupted": True, "reason": f"interrupted: {why}"},
                actor=actor,
            )
        except (OSError, LogCorrupt):
            return False  # still cannot write: the marker stays for the next process
        marker.unlink(missing_ok=True)
        return True
    finally:
        if lock is not None:
            lock.release()


def open_run(log: LogReader) -> Event | None:
    """The `started` event of the log's last rollback run if it has no `finished` yet (None if there is none)."""
    started: Event | None = None
    for ev in log.events():
        p = ev.payload if ev.kind == "rollback" else None
        if isinstance(p, Rollback):
            if p.phase == RollbackPhase.STARTED:
                started = ev
            elif p.phase == RollbackPhase.FINISHED:
                started = None
    return started


def _recover_by_lease(log: Store, actor: Actor, *, lock_held: bool, open_in_fold: bool) -> bool:
    """A shared store: a run started on another host, whose runner no longer holds the rollback lease.

    The crash marker lives on the runner's host, so another host cannot see it; the lease is what they share.
    A run left open in the log while the lease can be taken (its holder stopped renewing it for longer than
    its TTL: killed, its host gone, or cut off from the database) is recorded as failed (interrupted), naming
    the runner's pid and host from its `started` event. A runner that was only cut off is fenced from then on
    (its appends carry its lease's term), so it records nothing more and stops before its next step.
    A file log's runner is on this host: its marker says all (nothing is done here)."""
    if isinstance(log, DecisionLog):
        return False
    lock: Lease | None = None
    try:
        # the lease first when the fold already says a run is open (the watcher): a live runner's lease is then
        # the common answer, and it costs one statement, not a read of the whole log every look
        if not open_in_fold and open_run(log) is None:
            return False
        if not lock_held:
            lock = log.lease("rollback")
            if not lock.try_acquire():
                return False  # it is still running somewhere, and renewing its lease
        started = open_run(log)  # read under the lease: it may have finished meanwhile
        if started is None:
            return False
        pid = started.data.get("pid")
        who = f"the process running it (pid {pid if isinstance(pid, int) else '?'} on {started.actor.host})"
        why = f"{who} let its rollback lease lapse before its outcome was recorded (it died, or lost the database)"
        data = {"phase": RollbackPhase.FINISHED, "ok": False, "interrupted": True, "reason": f"interrupted: {why}"}
        log.append_many([("rollback", data)], actor=actor, fence=lock)
        return True
    except (OSError, LogCorrupt):
        return False  # cannot read or write now: the next look tries again
    finally:
        if lock is not None:
            lock.release()
