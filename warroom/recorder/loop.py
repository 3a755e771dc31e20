"""The one process per log that records observations: samples and alerts, polled on schedules.

Leadership is a lock file beside the log (`LOG.recorder.lock`); every console
runs a Recorder, and the one that holds the lock polls while the rest retry
about once a second, so a console takes over within a few seconds when the
leader exits or is killed (the OS drops a dead process's lock).

Samples carry a `tick`: the index of the scheduled poll slot for that
criterion, counted from the scenario epoch. A new leader reads the log first
and only ever records later ticks, and the fold ignores a tick it has already
seen, so a takeover can neither lose the schedule nor duplicate a sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from warroom.config import AlertmanagerSource as AlertmanagerConfig
from warroom.config import Criterion, Launch, SimulatedSource
from warroom.config import PrometheusSource as PrometheusConfig
from warroom.core.bounds import tick_problem, ts_problem
from warroom.core.events import Actor, Event, current_actor
from warroom.core.records import Recorder as RecorderRec
from warroom.core.records import RecorderState, Sample, SourceHealth
from warroom.core.rules import baseline_moment
from warroom.sources import UNREACHABLE, AlertInfo, Query, Reading, Source, SourceFailure, make_source
from warroom.store.base import Lease, LogReader, OutcomeUnknown, Store
from warroom.store.log import LogCorrupt, iter_events

LEASE_CHECK = 0.25  # seconds between checks that the recorder lease is still ours
RETRY_LEADERSHIP = 1.0  # seconds between attempts to take the recorder lock
GRACE = 0.25  # a read is cut off at its source's timeout plus this (the source's own timeout fires first)
MAX_BACKOFF = 60.0  # a failing source is polled at least this often (or at its interval if longer)
# Sources that can answer "what was the value at time T" for a baseline taken at a past moment.
TIME_TRAVEL = (PrometheusConfig, SimulatedSource)
# Reading errors that say the source itself failed (not one query): if every read of a poll fails with one
# of these, the source's "readings" feed is failing. "no-data", "bad-query" and "bad-response" (a value
# of +Inf, say) are about a query's answer: the source answered, and the criterion says what was wrong.
SOURCE_DOWN = frozenset({"timeout", "connection", "http", "auth"})


def _timed_out(source: Source, at: float) -> Reading:
    return Reading.fail(at, "timeout", f"no answer from source '{source.name}' within {source.timeout:g}s")


def _broken(source: Source, e: BaseException, at: float) -> Reading:
    return Reading.fail(at, "bad-response", f"source '{source.name}' failed: {type(e).__name__}: {e}")


class _LeaseLost(Exception):
    """The recorder lease was taken over: stop polling, let go, contend again."""


async def _guarded(job: Callable[[], Any], pause: float = 5.0) -> None:
    """Run a leader's side job until cancelled; a bug in it restarts it instead of stopping the recorder."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            await asyncio.sleep(pause)


def effective_interval(launch: Launch, c: Criterion) -> float:
    """The criterion's own interval, else its source's."""
    if c.interval is not None:
        return c.interval
    return float(launch.sources[c.source].interval)


@dataclass
class Group:
    """Criteria polled together: one source, one interval."""

    source: Source
    interval: float
    criteria: list[Criterion]
    failures: int = 0
    next_slot: int = -(1 << 62)  # the first schedule slot not yet polled

    def backoff(self) -> float:
        """Extra delay while every read of the last polls failed as unreachable."""
        if self.failures <= 1:
            return 0.0
        delay = self.interval * (1 << min(self.failures - 1, 3))  # 2, 4, then 8 intervals
        return min(delay, max(self.interval, MAX_BACKOFF)) - self.interval


@dataclass(frozen=True)
class WriteFailure:
    """Appends to the log are failing (a full disk, a file size limit, an I/O error): since when, why, how many
    events were lost. The console shows it at once; the log is told when writing works again."""

    since: float
    reason: str
    lost: int = 0


def _gap_note(failed: WriteFailure) -> dict[str, Any]:
    """The `write_recovered` event's data: since when writes failed, why, and how many events were lost."""
    return RecorderRec(RecorderState.WRITE_RECOVERED, None, failed.reason, failed.lost, failed.since).to_data()


def _why(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror} (errno {e.errno})" if e.errno else e.strerror
    return f"{type(e).__name__}: {e}"


@dataclass
class Recovered:
    """What the log already holds, so a new leader continues rather than repeats."""

    last_tick: dict[str, int] = field(default_factory=dict)
    baseline_taken: set[str] = field(default_factory=set)
    firing: dict[str, dict[str, AlertInfo]] = field(default_factory=dict)  # source -> fingerprint -> alert
    health: dict[tuple[str, str], tuple[bool, str]] = field(default_factory=dict)  # (source, feed) -> (ok, error)
    launch_ts: float | None = None


def recover(launch: Launch, path: os.PathLike[str] | str | LogReader) -> Recovered:
    """One streaming pass over the log, a file or any store (run it off the event loop: logs can be long)."""
    rec = Recovered()
    if isinstance(path, str | os.PathLike) and not os.path.exists(path):
        return rec
    moments = {c.id: baseline_moment(c, launch.t0) for c in launch.criteria}
    first_ts: float | None = None
    for ev in iter_events(os.fspath(path)) if isinstance(path, str | os.PathLike) else path.events():
        d = ev.data
        if first_ts is None:
            first_ts = ev.ts
        if ev.kind == "sample":
            cid = str(d.get("criterion"))
            tick = d.get("tick")
            c = launch.criteria_by_id.get(cid)
            if isinstance(tick, int) and not isinstance(tick, bool) and not _implausible(launch, c, ev, rec, first_ts):
                rec.last_tick[cid] = max(tick, rec.last_tick.get(cid, tick))
            m = moments.get(cid)
            t = d.get("t")
            if m is not None and isinstance(t, int | float) and t <= m and d.get("value") is not None:
                rec.baseline_taken.add(cid)
        elif ev.kind == "alert":
            src = str(d.get("source", ""))
            fp = str(d.get("fingerprint", ""))
            firing = rec.firing.setdefault(src, {})
            if d.get("status") == "firing":
                firing[fp] = AlertInfo(
                    fp, dict(d.get("labels") or {}), dict(d.get("annotations") or {}), d.get("starts_at")
                )
            else:
                firing.pop(fp, None)
        elif ev.kind == "source":
            rec.health[(str(d.get("source", "")), str(d.get("feed", "readings")))] = (
                d.get("ok") is True,
                str(d.get("error") or ""),
            )
        elif ev.kind == "launch" and rec.launch_ts is None:
            rec.launch_ts = ev.ts
    return rec


def _implausible(launch: Launch, c: Criterion | None, ev: Event, rec: Recovered, first_ts: float) -> bool:
    """The fold's test (bounds.py): a sample it will not apply must not move the schedule either."""
    tick = ev.data.get("tick")
    if c is None or not isinstance(tick, int) or ts_problem(ev.ts, first_ts) is not None:
        return True
    epoch = rec.launch_ts if rec.launch_ts is not None else first_ts
    return tick_problem(tick, effective_interval(launch, c), epoch, ev.ts) is not None


def sample_data(c: Criterion, r: Reading, tick: int | None, baseline: bool = False) -> dict[str, Any]:
    """The payload of a `sample` event."""
    value = r.value if r.value is not None and math.isfinite(r.value) else None
    return Sample(c.id, value, r.error, r.reason, r.t, tick, baseline).to_data()


class Recorder:
    """Polls every source on its schedule and appends what it sees, while it holds the recorder lock."""

    def __init__(
        self, launch: Launch, log: Store, *, clock: Callable[[], float] = time.time, epoch: float | None = None
    ):
        self.launch = launch
        self.log = log
        self.clock = clock
        self.epoch = epoch
        self.actor: Actor = current_actor("recorder")
        self.lock: Lease = log.lease("recorder")  # for a file, FileLock(lock_path(log.path)); see store/base.py
        self._leader = False
        self._sources: dict[str, Source] = {}
        self._rec = Recovered()
        self._alerts_ok: dict[str, bool] = {}
        self._pending: list[tuple[str, dict[str, Any] | None]] = []
        self.polls = 0  # completed group polls, for tests and benches
        self.write_failure: WriteFailure | None = None
        self._unsure: list[Event] = []  # appends the store could not confirm (OutcomeUnknown): lost, unless found
        self.notifier: Any = None  # the leader's notifier (warroom.notify), when the config has channels

    @property
    def is_leader(self) -> bool:
        return self._leader

    # ------------------------------------------------------------------ leadership

    async def run(self) -> None:
        """Runs until cancelled: contend for the lock, record while holding it (see module docstring)."""
        try:
            while True:
                if await asyncio.to_thread(self.lock.try_acquire):  # a shared store answers over the network
                    try:
                        await self._lead()
                    except (OSError, LogCorrupt) as e:  # e.g. "acquired" could not be written: say so, retry
                        self._failed(e, 0)
                await asyncio.sleep(RETRY_LEADERSHIP)
        finally:
            self.lock.release()

    async def acquire(self) -> bool:
        """Take the lock once (no waiting) and prepare to record; False if another process records."""
        if not await asyncio.to_thread(self.lock.try_acquire):
            return False
        try:
            self._rec = await asyncio.to_thread(recover, self.launch, self.log)
            if self.epoch is None:
                self.epoch = self._rec.launch_ts if self._rec.launch_ts is not None else self.clock()
            self._open_sources()
            self._append("recorder", RecorderRec(RecorderState.ACQUIRED, os.getpid()).to_data())
        except BaseException:
            await self._close_sources()
            self.lock.release()
            raise
        self._leader = True
        return True

    async def release(self) -> None:
        """Stop recording: close clients, say so in the log, drop the lock."""
        was = self._leader
        self._leader = False
        self.flush()
        await self._close_sources()
        try:
            if was and self.lock.held:
                self._append("recorder", RecorderRec(RecorderState.RELEASED, os.getpid()).to_data())
        except (OSError, LogCorrupt) as e:
            self._failed(e, 1)
        finally:
            self.lock.release()

    async def _lead(self) -> None:
        if not self._leader and not await self.acquire():
            return
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._take_baselines()
            tasks = [
                asyncio.create_task(self._poll_loop(g), name=f"poll {g.source.name}/{g.interval:g}s")
                for g in self.groups()
            ]
            tasks += [
                asyncio.create_task(self._alert_loop(s), name=f"alerts {s.name}")
                for s in self._sources.values()
                if s.has_alerts
            ]
            tasks += [asyncio.create_task(_guarded(f), name=n) for n, f in self._leader_jobs().items()]
            tasks.append(asyncio.create_task(self._hold(), name="recorder lease"))
            with contextlib.suppress(_LeaseLost):
                await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # shield so that a cancel arriving now still leaves "released" in the log
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self.release())

    async def _hold(self) -> None:
        """Ends the lead when the lease is no longer ours (a shared store's lease can be taken over from a
        paused or cut-off holder; its appends are fenced by the store meanwhile, see store/base.py)."""
        while self.lock.held:
            await asyncio.sleep(LEASE_CHECK)
        raise _LeaseLost

    # ------------------------------------------------------------------ sources

    def _open_sources(self) -> None:
        counts: dict[str, int] = {}
        for c in self.launch.criteria:
            counts[c.source] = counts.get(c.source, 0) + 1
        assert self.epoch is not None
        for name, cfg in self.launch.sources.items():
            if name not in self._sources:
                self._sources[name] = make_source(name, cfg, epoch=self.epoch, queries=counts.get(name, 1))

    async def _close_sources(self) -> None:
        sources, self._sources = list(self._sources.values()), {}
        for s in sources:
            with contextlib.suppress(Exception):
                await s.aclose()

    def groups(self) -> list[Group]:
        """Criteria grouped by (source, effective interval), in config order."""
        out: dict[tuple[str, float], Group] = {}
        for c in self.launch.criteria:
            src = self._sources.get(c.source)
            if src is None:
                continue
            iv = effective_interval(self.launch, c)
            out.setdefault((c.source, iv), Group(src, iv, [])).criteria.append(c)
        return list(out.values())

    # ------------------------------------------------------------------ polling

    def _append(self, kind: str, data: dict[str, Any]) -> None:
        self.log.append_many([(kind, data)], actor=self.actor, fence=self.lock)

    def _leader_jobs(self) -> dict[str, Callable[[], Any]]:
        """What only the leader does besides polling: notifications, ack silences (each in its own module). They
        follow the log through the store (`Store.follower`), so they work on a file and on PostgreSQL alike."""
        jobs: dict[str, Callable[[], Any]] = {}
        if self.launch.notify.channels and self.launch.notify.routes:
            from warroom.notify.notifier import Notifier

            self.notifier = Notifier(self.launch, self.log.follower, self._append_now, self.clock)
            jobs["notify"] = self.notifier.run
        if any(isinstance(c, AlertmanagerConfig) and c.ack_silence for c in self.launch.sources.values()):
            from warroom.recorder.silences import SilenceKeeper

            jobs["silences"] = SilenceKeeper(self.launch, self.log.follower, self._append_now, self.clock).run
        return jobs

    def _append_now(self, kind: str, data: dict[str, Any]) -> Event:
        """Append after whatever is queued, and return the event (the notifier needs its seq and hash). Fenced
        like the samples: a recorder whose lease was taken over queues no notification and makes no silence."""
        self.flush()
        return self.log.append_many([(kind, data)], actor=self.actor, fence=self.lock)[0]

    def _queue(self, kind: str, data: dict[str, Any]) -> None:
        """Append soon: what completes in the same turn of the event loop goes in one write and fsync."""
        self._pending.append((kind, data))
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write queued events now (also called before anything else is appended, to keep order).

        A failed write never raises here: it becomes `write_failure` (shown at once by the console), what it
        would have changed is undone so it is written again later (alerts, source health), and the log is told
        how many events were lost once writing works again. When some of them may have been recorded after all
        (OutcomeUnknown), the log is read for them once a write has worked, and told after that write."""
        items, self._pending = self._pending, []
        if not items:
            return
        failed = self.write_failure
        told_now = failed is not None and not self._unsure
        if told_now:
            assert failed is not None
            items.insert(0, ("recorder", _gap_note(failed)))
        try:
            self.log.append_many(items, actor=self.actor, fence=self.lock)
        except (OSError, LogCorrupt) as e:
            real = items[1:] if told_now else items
            self._undo(real)
            if isinstance(e, OutcomeUnknown):  # perhaps recorded after all: looked for once writing works again
                self._unsure += e.events[1:] if told_now else e.events
            self._failed(e, len(real))
            return
        self.write_failure = None
        if failed is not None and not told_now:
            self._tell_gap(failed)

    def _tell_gap(self, failed: WriteFailure) -> None:
        """Writing works again after appends the store could not confirm: the gap the log is told counts as lost
        only those it does not hold (same seq and hash). Read and told now, not before the write that worked: the
        log could not be read while the database was away, and trying would have held up every poll."""
        want = {ev.seq: ev.hash for ev in self._unsure}
        last = max(want)
        held = 0
        try:
            for ev in self.log.events(after=min(want) - 1):
                if ev.seq > last:
                    break
                if want.get(ev.seq) == ev.hash:
                    held += 1
        except (OSError, LogCorrupt):
            pass  # cannot be read just now: all of them counted as lost, as before it could tell
        self._unsure = []
        failed = replace(failed, lost=max(0, failed.lost - held))
        try:
            self.log.append_many([("recorder", _gap_note(failed))], actor=self.actor, fence=self.lock)
        except (OSError, LogCorrupt):
            self.write_failure = failed  # told with the next write

    def _failed(self, e: BaseException, lost: int) -> None:
        prev = self.write_failure
        since = prev.since if prev is not None else self.clock()
        self.write_failure = WriteFailure(since, _why(e), (prev.lost if prev is not None else 0) + lost)

    def _undo(self, items: list[tuple[str, dict[str, Any] | None]]) -> None:
        """Forget what the lost events said, so the next poll writes it again (samples are lost: they go STALE)."""
        for kind, d in items:
            if d is None:
                continue
            if kind == "alert":
                known = self._rec.firing.setdefault(str(d.get("source", "")), {})
                fp = str(d.get("fingerprint", ""))
                if d.get("status") == "firing":
                    known.pop(fp, None)
                else:
                    known[fp] = AlertInfo(
                        fp, dict(d.get("labels") or {}), dict(d.get("annotations") or {}), d.get("starts_at")
                    )
            elif kind == "source":
                self._rec.health.pop((str(d.get("source", "")), str(d.get("feed", ""))), None)

    def health(
        self, source: str, feed: str, ok: bool, error: str = "", reason: str = "", t: float | None = None
    ) -> None:
        """Record a feed's outcome when it differs from the last one recorded (never every poll)."""
        key = (source, feed)
        now = (ok, "" if ok else error)
        if self._rec.health.get(key) == now:
            return
        self._rec.health[key] = now
        self._queue("source", SourceHealth(source, feed, ok, self.clock() if t is None else t, error, reason).to_data())

    def _next_tick(self, g: Group, now: float) -> tuple[int, float]:
        """(tick, time) of the next poll of `g`."""
        assert self.epoch is not None
        # the slot we are in (polled at once if not yet recorded), pushed back while backing off
        due = max(math.floor((now + g.backoff() - self.epoch) / g.interval), g.next_slot)
        after_last = max((self._rec.last_tick.get(c.id, -(1 << 62)) + 1 for c in g.criteria), default=due)
        if after_last > due + 1:
            # the log holds ticks ahead of the schedule (a clock that was ahead, `check` run often, a forged
            # sample): label this poll past them, but poll on the schedule instead of waiting for their slot
            g.next_slot = due + 1
            return after_last, self.epoch + due * g.interval
        k = max(due, after_last)
        g.next_slot = k + 1
        return k, self.epoch + k * g.interval

    async def _poll_loop(self, g: Group) -> None:
        """Poll `g` at each slot epoch + k*interval; re-arm after completion, so polls never overlap."""
        assert self.epoch is not None
        while True:
            k, at = self._next_tick(g, self.clock())
            await asyncio.sleep(max(0.0, at - self.clock()))
            await self.poll_group(g, k, at)

    async def poll_group(self, g: Group, tick: int, at: float) -> None:
        """Read every criterion of `g` concurrently; append each sample as soon as it is in."""
        unreachable = 0
        down: list[Reading] = []

        def one(c: Criterion, r: Reading) -> None:
            nonlocal unreachable
            if r.error in UNREACHABLE:
                unreachable += 1
            if r.error in SOURCE_DOWN:
                down.append(r)
            self.record(c, r, tick)

        await self.read_all(g.source, g.criteria, at, one)
        if g.criteria and len(down) == len(g.criteria):
            self.health(g.source.name, "readings", False, down[0].error or "", down[0].reason)
        elif g.criteria:
            self.health(g.source.name, "readings", True)
        self.flush()
        g.failures = g.failures + 1 if unreachable == len(g.criteria) else 0
        self.polls += 1

    async def read_all(
        self, source: Source, criteria: Sequence[Criterion], at: float, each: Callable[[Criterion, Reading], None]
    ) -> None:
        """Every criterion's read, each handed to `each` as soon as it is in, each cut off at the source's
        timeout: as `read`, without a task and a timer per criterion (the reads start together, so one deadline
        cuts off every one still out, each with its own reading)."""
        try:
            futs = source.start_reads([Query(c.id, c.query, c.unit) for c in criteria], at)
        except Exception as e:  # a broken source must not stop the recorder
            for c in criteria:
                each(c, _broken(source, e, at))
            return

        def done(c: Criterion, f: asyncio.Future[Reading]) -> None:
            if f.cancelled():  # cut off below, or the source is closing
                return
            e = f.exception()
            each(c, f.result() if e is None else _broken(source, e, at))

        for c, f in zip(criteria, futs, strict=True):
            f.add_done_callback(functools.partial(done, c))
        try:
            _, late = await asyncio.wait(futs, timeout=source.timeout + GRACE) if futs else (set(), set())
        finally:
            for f in futs:
                f.cancel()  # only those still out: the source forgets them
        for c, f in zip(criteria, futs, strict=True):
            if f in late:
                each(c, _timed_out(source, at))

    async def read(self, source: Source, c: Criterion, at: float) -> Reading:
        """One read, cut off at the source's timeout; a bug in a source becomes a reading, not a crash."""
        try:
            return await asyncio.wait_for(source.read(Query(c.id, c.query, c.unit), at), source.timeout + GRACE)
        except TimeoutError:
            return _timed_out(source, at)
        except Exception as e:  # a broken source must not stop the others
            return _broken(source, e, at)

    def record(self, c: Criterion, r: Reading, tick: int | None, baseline: bool = False) -> None:
        """Append a sample unless this tick was already recorded for the criterion."""
        if tick is not None:
            last = self._rec.last_tick.get(c.id)
            if last is not None and tick <= last:
                return
            self._rec.last_tick[c.id] = tick
        self._queue("sample", sample_data(c, r, tick, baseline))

    async def _take_baselines(self) -> None:
        """For relative thresholds whose moment has passed with no sample before it, ask the source
        for the value at that moment (Prometheus and simulated sources can answer for the past)."""
        now = self.clock()
        jobs = []
        for c in self.launch.criteria:
            m = baseline_moment(c, self.launch.t0)
            src = self._sources.get(c.source)
            if (
                m is None
                or src is None
                or m > now
                or c.id in self._rec.baseline_taken
                or not isinstance(self.launch.sources[c.source], TIME_TRAVEL)
            ):
                continue
            jobs.append((c, src, m))

        async def one(c: Criterion, src: Source, m: float) -> None:
            r = await self.read(src, c, m)
            if r.ok:
                self._rec.baseline_taken.add(c.id)
                self.record(c, Reading(min(r.t, m), r.value), None, baseline=True)

        await asyncio.gather(*(one(*j) for j in jobs))

    async def _alert_loop(self, s: Source) -> None:
        assert self.epoch is not None
        failures = 0
        while True:
            now = self.clock()
            await self.poll_alerts(s, now)
            failures = 0 if self._alerts_ok.get(s.name, True) else failures + 1
            extra = min(s.interval * min(2 ** max(failures - 1, 0), 8), max(s.interval, MAX_BACKOFF))
            await asyncio.sleep(max(0.0, now + extra - self.clock()))

    async def poll_alerts(self, s: Source, at: float) -> None:
        """Append `firing` for alerts that appeared and `resolved` for those gone since the last poll.

        A failed poll changes nothing: not being able to see an alert is not the alert resolving.
        """
        try:
            now_firing = await asyncio.wait_for(s.alerts(at), s.timeout + GRACE)
        except SourceFailure as e:
            self._alerts_ok[s.name] = False
            self.health(s.name, "alerts", False, e.kind, e.reason)
            return
        except TimeoutError:
            self._alerts_ok[s.name] = False
            self.health(s.name, "alerts", False, "timeout", f"no answer within {s.timeout:g}s")
            return
        except Exception as e:  # a bug in a source must not stop the recorder, nor pass for "no alerts"
            self._alerts_ok[s.name] = False
            self.health(s.name, "alerts", False, "bad-response", f"{type(e).__name__}: {e}")
            return
        self._alerts_ok[s.name] = True
        self.health(s.name, "alerts", True)
        if now_firing is None:
            return
        known = self._rec.firing.setdefault(s.name, {})
        current = {a.fingerprint: a for a in now_firing}
        t = self.clock()
        for fp, a in current.items():
            if fp not in known:
                known[fp] = a
                self._queue("alert", a.to_event("firing", t, s.name))
        for fp in [fp for fp in known if fp not in current]:
            a = known.pop(fp)
            self._queue("alert", a.to_event("resolved", t, s.name))

    async def poll_once(self) -> None:
        """Every criterion and alert feed once, now (for `warroom check`); the caller holds the lock."""
        assert self._leader and self.epoch is not None
        await self._take_baselines()
        now = self.clock()
        jobs = []
        for g in self.groups():
            tick = max(
                math.floor((now - self.epoch) / g.interval),
                max((self._rec.last_tick.get(c.id, -(1 << 62)) + 1 for c in g.criteria), default=0),
            )
            jobs.append(self.poll_group(g, tick, now))
        jobs += [self.poll_alerts(s, now) for s in self._sources.values() if s.has_alerts]
        await asyncio.gather(*jobs)
