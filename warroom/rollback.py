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

from warroom.config import Launch, RollbackStep
from warroom.events import Actor, Event
from warroom.log import DecisionLog, FileLock, Follower
from warroom.paths import side_path
from warroom.rules import Level
from warroom.sidefiles import UnsafePath, create_side, file_mode, read_side, rewrite_side
from warroom.state import LaunchState, criterion_view
from warroom.units import format_duration

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


def lock_path(log_path: str | Path) -> Path:
    """Named from the log's real path: every name for one log shares one rollback lock (see sidefiles.py)."""
    return side_path(log_path, ".rollback.lock")


def running_marker(log_path: str | Path) -> Path:
    return side_path(log_path, ".rollback.running")


def effective_dry_run(launch: Launch, dry_run: bool | None) -> bool:
    """The config's `dry_run: true` cannot be overridden from the console; `--dry-run` can only add safety."""
    return bool(launch.rollback.dry_run or dry_run)


def step_argv(step: RollbackStep) -> list[str]:
    """The argv exactly as configured (a copy, so nobody can edit the model's list)."""
    if step.run is not None:
        return list(step.run)
    return [SHELL, "-c", step.shell or ""]


def plan_text(launch: Launch, dry_run: bool | None = None) -> list[str]:
    """Exactly what will run, line by line, for the confirmation modal.

    argv is shown shell-quoted, with cwd, timeout and env keys (values may be secrets).
    """
    rb = launch.rollback
    steps = rb.steps
    dry = effective_dry_run(launch, dry_run)
    lines = [
        f"Rollback of launch {launch.id}: {len(steps)} step{'s' if len(steps) != 1 else ''}, "
        "run one after another; a failing step stops the rest."
    ]
    if dry:
        why = "rollback.dry_run is set in the config" if rb.dry_run else "--dry-run"
        lines.append(f"DRY RUN ({why}): nothing will be executed; every step is recorded as skipped.")
    if not steps:
        lines.append("There are no steps: rollback.steps is empty in the config.")
    here = os.getcwd()
    for i, step in enumerate(steps, 1):
        lines.append(f"{i}. {step.name}")
        if step.run is not None:
            lines.append(f"   run:     {shlex.join(step.run)}")
        else:
            lines.append(f"   shell:   {shlex.join(step_argv(step))}   (through a shell, as the config says)")
        cwd = step.cwd or here
        shown = cwd if os.path.isabs(cwd) else f"{cwd} (= {os.path.abspath(cwd)})"
        lines.append(f"   cwd:     {shown}" + ("" if step.cwd else " (current directory)"))
        lines.append(f"   timeout: {format_duration(step.timeout)} (then its whole process group is stopped)")
        if step.env:
            lines.append(f"   env:     {', '.join(sorted(step.env))} (set on top of this console's environment)")
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
    out = []
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and fields[0] not in (b"Z", b"X") and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


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
    """Run one command without a shell in a new session; stream its output to `emit` in batches."""
    start = time.monotonic()
    out = _Output()
    last_flush = start

    def flush(force: bool = False) -> None:
        nonlocal last_flush
        if live is not None and out.fresh:
            live(out.fresh)
        out.fresh = []
        if out.pending and (force or len(out.pending) >= FLUSH_LINES or time.monotonic() - last_flush >= FLUSH_EVERY):
            cut = {"lines": out.cut_lines, "chars": out.cut_chars} if out.cut_lines else None
            emit(out.pending, cut)
            out.pending = []
            last_flush = time.monotonic()

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
        why = getattr(e, "strerror", None) or str(e)
        detail = f"could not start {argv[0] if argv else '(empty argv)'}: {why}"
        out.add(f"[warroom] {detail}")
        flush(force=True)
        return CommandResult("failed", None, time.monotonic() - start, detail)

    pgid = proc.pid
    if on_spawn is not None:
        on_spawn(pgid)
    assert proc.stdout is not None
    stream = proc.stdout

    async def pump() -> None:
        while chunk := await stream.read(1 << 16):
            out.feed(chunk)
            flush()

    reader = asyncio.create_task(pump())
    waiter = asyncio.create_task(proc.wait())
    status, detail = "", ""
    try:
        while not waiter.done():
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), 2.0)
        elif left_over := group_members(pgid):
            out.add(f"[warroom] the command left {len(left_over)} process(es) running in its group; stopping them")
            await stop_group(pgid, kill_grace)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), 2.0)
    except asyncio.CancelledError:
        _signal_group(pgid, signal.SIGKILL)
        out.add("[warroom] cancelled; process group killed")
        raise
    finally:
        for t in (reader, waiter):
            if not t.done():
                t.cancel()
        out.finish()
        flush(force=True)
    code = proc.returncode
    if not status:
        status = "ok" if code == 0 else "failed"
        detail = "" if code == 0 else _exit_text(code)
    return CommandResult(status, code, time.monotonic() - start, detail)


# ---------------------------------------------------------------- the runner


def actor_roles(launch: Launch, actor: Actor) -> list[str]:
    """Role ids of an actor: by its `--as` name if it gave one, else its OS user (as the console decides)."""
    return [r.id for r in launch.roles_of(actor.name or actor.user)]


def _ids(roles: list[Any]) -> list[str]:
    """Role ids, whether given as ids or as `Role` objects."""
    return [str(getattr(r, "id", r)) for r in roles]


class RollbackRunner:
    """Runs the launch's rollback procedure once, recording every stage in the log."""

    def __init__(
        self,
        launch: Launch,
        log: DecisionLog,
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

    # -------------------------------------------------------------- guarding

    def refusal(self, roles: list[str], observer: bool) -> str | None:
        """Why this actor may not roll back (not in rollback.allowed_roles, observer console), or None."""
        rb = self.launch.rollback
        roles = _ids(roles)
        if observer:
            return "this console is an observer console; rollback needs a full console"
        if not rb.steps:
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
        ev = self.log.append("rollback", data, actor=self.actor)
        if self.on_event is not None:
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
    ) -> bool:
        """Request, check, lock and run the procedure; True only if every step (and verify) passed."""
        roles = actor_roles(self.launch, self.actor) if roles is None else _ids(roles)
        req: dict[str, Any] = {
            "phase": "requested",
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
        self._append(req)
        why = self._auto_refusal() if automatic else self.refusal(roles, observer)
        if why is not None:
            self._append({"phase": "refused", "reason": why})
            return False
        lock = FileLock(lock_path(self.log.path), file_mode(self.log.path))
        try:
            got = lock.try_acquire()
        except UnsafePath as e:
            self._append({"phase": "refused", "reason": f"cannot take the rollback lock: {e}"})
            return False
        if not got:
            pid = lock.holder_pid()
            holder = f"pid {pid}" if pid else lock.holder_text()
            self._append(
                {
                    "phase": "refused",
                    "reason": f"another rollback is running ({holder}, lock {lock.path})",
                    "holder_pid": pid,
                }
            )
            return False
        self.running = True
        try:
            orphan = orphaned_step(self.log.path)
            if orphan is not None:
                self._append(
                    {
                        "phase": "refused",
                        "reason": f"a step of an interrupted rollback is still running "
                        f"(process group {orphan}); wait for it or stop it",
                        "orphan_pgid": orphan,
                    }
                )
                return False
            recover_interrupted(self.log, self.actor, lock_held=True)
            marker = running_marker(self.log.path)
            try:
                create_side(marker, f"{os.getpid()} 0\n", file_mode(self.log.path))
            except UnsafePath as e:
                self._append({"phase": "refused", "reason": f"cannot write the running marker: {e}"})
                return False
            try:
                return await self._procedure(reason, automatic, triggering)
            finally:
                marker.unlink(missing_ok=True)
        finally:
            self.running = False
            lock.release()

    async def _procedure(self, reason: str, automatic: bool, triggering: dict | None) -> bool:
        steps = self.launch.rollback.steps
        started: dict[str, Any] = {
            "phase": "started",
            "steps": [s.name for s in steps],
            "dry_run": self.dry_run,
            "automatic": automatic,
            "reason": reason,
            "pid": os.getpid(),
            "plan": plan_text(self.launch, self.dry_run),
        }
        if triggering is not None:
            started["triggering"] = triggering
        self._append(started)
        ok, why = True, ""
        try:
            for i, step in enumerate(steps):
                if self.dry_run:
                    self._append(
                        {
                            "phase": "step_finished",
                            "index": i,
                            "name": step.name,
                            "status": "skipped",
                            "exit_code": None,
                            "duration": 0.0,
                            "detail": "skipped (dry run)",
                        }
                    )
                    continue
                res = await self._step(i, step)
                if res.status != "ok":
                    ok = False
                    why = f"step {i + 1} '{step.name}' {res.status}: {res.detail}"
                    for j in range(i + 1, len(steps)):
                        self._append(
                            {
                                "phase": "step_finished",
                                "index": j,
                                "name": steps[j].name,
                                "status": "skipped",
                                "exit_code": None,
                                "duration": 0.0,
                                "detail": "not run: an earlier step failed",
                            }
                        )
                    break
            if ok:
                ok, why = await self._verify()
        except asyncio.CancelledError:
            self._append(
                {
                    "phase": "finished",
                    "ok": False,
                    "reason": "cancelled: the console running it stopped",
                    "dry_run": self.dry_run,
                }
            )
            raise
        except Exception as e:  # a bug here must still close the record and release the lock
            self._append(
                {
                    "phase": "finished",
                    "ok": False,
                    "reason": f"internal error: {type(e).__name__}: {e}",
                    "dry_run": self.dry_run,
                }
            )
            return False
        if ok and self.dry_run:
            why = "dry run: nothing was executed"
        self._append({"phase": "finished", "ok": ok, "reason": why, "dry_run": self.dry_run})
        return ok

    def _note_group(self, pgid: int) -> None:
        rewrite_side(running_marker(self.log.path), f"{os.getpid()} {pgid}\n")

    def _live(self, index: int | None) -> Callable[[list[str]], None] | None:
        hook = self.on_output
        if hook is None:
            return None
        return lambda lines: hook(index, list(lines))

    async def _step(self, i: int, step: RollbackStep) -> CommandResult:
        argv = step_argv(step)
        self._append(
            {
                "phase": "step_started",
                "index": i,
                "name": step.name,
                "argv": argv,
                "cwd": step.cwd,
                "timeout": step.timeout,
                "env_keys": sorted(step.env),
            }
        )

        def emit(lines: list[str], cut: dict[str, int] | None) -> None:
            data: dict[str, Any] = {"phase": "step_output", "index": i, "lines": lines}
            if cut:
                data["cut"] = cut
            self._append(data)

        res = await run_command(
            argv,
            cwd=step.cwd,
            env=dict(step.env),
            timeout=step.timeout,
            emit=emit,
            live=self._live(i),
            on_spawn=self._note_group,
            kill_grace=self.kill_grace,
        )
        self._note_group(0)  # no step running now
        self._append(
            {
                "phase": "step_finished",
                "index": i,
                "name": step.name,
                "exit_code": res.exit_code,
                "status": res.status,
                "duration": round(res.duration, 3),
                "detail": res.detail,
            }
        )
        return res

    async def _verify(self) -> tuple[bool, str]:
        v = self.launch.rollback.verify
        if v is None:
            return True, ""
        kind = "run" if v.run is not None else "criterion"
        what = shlex.join(v.run) if v.run is not None else f"criterion {v.criterion} must be GO"
        if self.dry_run:
            self._append({"phase": "verify", "status": "skipped", "kind": kind, "detail": f"dry run: {what}"})
            return True, ""
        self._append({"phase": "verify", "status": "running", "kind": kind, "what": what, "within": v.within})
        if v.run is not None:

            def emit(lines: list[str], cut: dict[str, int] | None) -> None:
                self._append({"phase": "verify_output", "lines": lines} | ({"cut": cut} if cut else {}))

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
            self._append(
                {
                    "phase": "verify",
                    "status": "passed" if ok else "failed",
                    "kind": kind,
                    "exit_code": res.exit_code,
                    "duration": round(res.duration, 3),
                    "detail": detail,
                }
            )
        else:
            ok, detail, took = await self._verify_criterion(str(v.criterion), v.within)
            self._append(
                {
                    "phase": "verify",
                    "status": "passed" if ok else "failed",
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
        follower = Follower(self.log.path)
        state = LaunchState(self.launch)
        c = self.launch.criteria_by_id[cid]
        fresh = False
        while True:
            for ev in follower.poll():
                state.apply(ev)
                if ev.kind == "sample" and ev.data.get("criterion") == cid and ev.ts >= since:
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


def _read_marker(path: Path) -> tuple[int | None, int | None]:
    try:
        parts = (read_side(path) or "").split()
        return int(parts[0]), (int(parts[1]) or None) if len(parts) > 1 else None
    except (OSError, ValueError, IndexError):
        return None, None


def orphaned_step(log_path: str | Path) -> int | None:
    """The process group of a step left running by a dead runner, if it is still alive."""
    _pid, pgid = _read_marker(running_marker(log_path))
    return pgid if pgid is not None and group_members(pgid) else None


def recover_interrupted(log: DecisionLog, actor: Actor, *, lock_held: bool = False) -> bool:
    """If a previous runner died mid-run (marker left, lock free, its step gone), record that rollback as failed."""
    marker = running_marker(log.path)
    if not marker.exists() or marker.is_symlink():
        return False  # no marker; or one planted as a symlink, which run() refuses to write through
    lock = None
    if not lock_held:
        lock = FileLock(lock_path(log.path), file_mode(log.path))
        if not lock.try_acquire():
            return False  # it is still running somewhere
    try:
        if not marker.exists() or orphaned_step(log.path) is not None:
            return False
        pid, _pgid = _read_marker(marker)
        log.append(
            "rollback",
            {
                "phase": "finished",
                "ok": False,
                "interrupted": True,
                "reason": f"interrupted: the process running it (pid {pid or '?'}) died before finishing",
            },
            actor=actor,
        )
        marker.unlink(missing_ok=True)
        return True
    finally:
        if lock is not None:
            lock.release()
