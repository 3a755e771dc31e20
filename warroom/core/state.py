"""The fold from events to launch state, and the time-dependent view of it.

`fold` and `LaunchState.apply` are pure: they read nothing but the launch
definition and the events, and keep no clock. `view(state, now)` adds what
depends on the time you look (staleness, the current phase, the verdict); the
live console passes the wall clock, replay passes the log's own time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from warroom.config import AlertmanagerSource, Criterion, Item, Launch, SimulatedSource
from warroom.core import authority
from warroom.core.backfilled import points as backfill_points
from warroom.core.bounds import MAX_CLOCK_AHEAD, source_time_problem, tick_problem, ts_problem
from warroom.core.events import Actor, Event, event_of
from warroom.core.records import (
    STEP_PHASES,
    ItemMark,
    Note,
    Rollback,
    RollbackPhase,
    RollbackStatus,
    Sample,
    SourceHealth,
    StepStatus,
    TriggerMode,
    TriggerModeSet,
    VerifyStatus,
)
from warroom.core.records import Ack as AckRec
from warroom.core.records import Alert as AlertRec
from warroom.core.records import Decision as DecisionRec
from warroom.core.records import Recorder as RecorderRec
from warroom.core.records import Session as SessionRec
from warroom.core.records import Signoff as SignoffRec
from warroom.core.records import Silence as SilenceRec
from warroom.core.rules import (
    RANK,
    Judgement,
    Level,
    Tracker,
    Unknown,
    baseline_moment,
    classify,
    convex_levels,
    judge,
    show,
)
from warroom.core.units import format_duration, format_t_relative

_STEADY = (Level.GO, Level.WARN)
_GO, _WARN = Level.GO, Level.WARN
_isfinite = math.isfinite
HISTORY = 120  # samples kept per criterion for trend sparklines
FEED = 300  # entries kept in the alert feed
TIMELINE = 500  # human-readable decision lines kept for the log panel


@dataclass(slots=True)
class CriterionState:
    id: str
    tracker: Tracker = field(default_factory=Tracker)
    value: float | None = None
    t: float | None = None  # time of the last sample (source time)
    error: str | None = None
    history: deque[tuple[float, float | None]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    baseline: float | None = None
    samples: int = 0
    trigger_mode: str = TriggerMode.OFF
    last_tick: int | None = None  # the recorder's poll slot of the last sample; a repeat is ignored
    duplicates: int = 0  # samples ignored because their tick was already recorded
    stale_limit: float | None = None  # stale_after, or a default from the poll interval
    # lean fold: (value, baseline, source reason) of the last sample, whose words are not written yet
    unworded: tuple[float, float | None, str] | None = field(default=None, compare=False, repr=False)

    @property
    def level(self) -> Level:
        return self.tracker.level


def word(c: Criterion, cs: CriterionState) -> None:
    """Write the reason a lean fold put off: judge()'s words for the last sample (the tracker was steady,
    so its reason is exactly those words). Every reader of reasons goes through criterion_view, which calls this."""
    if cs.unworded is not None:
        value, baseline, why = cs.unworded
        cs.tracker.reason = judge(c, value, None, baseline, reason=why).reason
        cs.unworded = None


def _steady(
    cs: CriterionState, value: float, t: float, why: str, n: int = 1, trend: Iterable[tuple[float, float]] = ()
) -> None:
    """A lean sample, or the last of a run of `n` (whose (t, value) pairs are `trend`), that leaves its criterion's
    level, since and runs as they are (judge + step would only take the last one's words): the last value and
    time, the count, the trend."""
    cs.unworded = (value, cs.baseline, why)
    cs.value, cs.t, cs.error = value, t, None
    cs.samples += n
    if n == 1:
        cs.history.append((t, value))
    else:
        cs.history.extend(trend)


_PROBE = 3600.0  # how far ahead vouch() probes the time rules (an hour of samples per vouch)


class Vouched(NamedTuple):
    """What LaunchState.vouch says of a criterion's next plain samples: those with an event time up to `ts_hi`
    (and not before the last one), a source time below `t_hi`, a tick after the last one up to `tick_hi` and a
    value in [lo, hi] fold as steady samples at `rank` (their level's RANK)."""

    ts_hi: float
    t_hi: float
    tick_hi: int
    lo: float
    hi: float
    rank: int


@dataclass(slots=True)
class ItemState:
    done: bool = False
    by: str | None = None
    at: float | None = None


@dataclass(slots=True)
class AlertState:
    key: str
    source: str  # "alertmanager", "criterion" or "rollback"
    severity: str
    title: str
    labels: dict[str, str]
    annotations: dict[str, str]
    started: float
    ended: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    silence: str | None = None  # the Alertmanager silence id an ack created, while it is active

    @property
    def firing(self) -> bool:
        return self.ended is None


@dataclass(slots=True)
class Signoff:
    role: str
    verdict: str  # Verdict: "GO" or "NO-GO"
    by: str
    at: float
    reason: str = ""
    snapshot: dict[str, str] = field(default_factory=dict)  # criterion id -> level at the time


@dataclass(slots=True)
class StepRun:
    name: str
    started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    status: str = StepStatus.PENDING  # a StepStatus, or what a hand-made log says
    output: list[str] = field(default_factory=list)
    duration: float | None = None  # as measured by the runner (monotonic clock)
    detail: str = ""  # why it failed / was skipped


@dataclass(slots=True)
class RollbackState:
    status: str = RollbackStatus.IDLE  # a RollbackStatus
    by: str | None = None
    reason: str = ""
    started: float | None = None
    finished: float | None = None
    dry_run: bool = False
    automatic: bool = False
    steps: list[StepRun] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = ""  # the `finished` reason (why it failed)
    verify: str = VerifyStatus.NONE  # a VerifyStatus, or what a hand-made log says
    verify_detail: str = ""
    verify_output: list[str] = field(default_factory=list)
    auto_fired: dict[str, float | None] = field(default_factory=dict)  # criterion -> breach start it fired for
    procedure: str = "primary"  # which of the config's procedures ran (`rollback.steps` is "primary")
    values: dict[str, str] = field(default_factory=dict)  # the values it was given


@dataclass(slots=True)
class FeedHealth:
    """The last recorded outcome of one feed of a source ("readings" or "alerts"): ok, or failing and why.

    The recorder writes a `source` event only when the outcome changes, so `since` is when it began."""

    ok: bool
    since: float
    error: str = ""
    reason: str = ""


@dataclass(slots=True)
class TimelineEntry:
    seq: int
    ts: float
    actor: str
    kind: str
    text: str


@dataclass
class LaunchState:
    """Everything known about the launch after some prefix of the log."""

    launch: Launch
    seq: int = 0
    last_ts: float | None = None
    first_ts: float | None = None
    criteria: dict[str, CriterionState] = field(default_factory=dict)
    items: dict[str, ItemState] = field(default_factory=dict)
    alerts: dict[str, AlertState] = field(default_factory=dict)
    signoffs: dict[str, Signoff] = field(default_factory=dict)
    notes: list[TimelineEntry] = field(default_factory=list)
    timeline: deque[TimelineEntry] = field(default_factory=lambda: deque(maxlen=TIMELINE))
    decision: Signoff | None = None
    rollback: RollbackState = field(default_factory=RollbackState)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    recorder: str | None = None
    sources: dict[str, dict[str, FeedHealth]] = field(default_factory=dict)  # source -> feed -> health
    # Events kept as evidence but not applied, and other doubts about the log's times, each in words (bounds.py):
    # one event from a clock far ahead (or a forged one) must not pin, freeze or silence everything after it.
    doubts: list[TimelineEntry] = field(default_factory=list)
    epoch: float | None = None  # the recorder's tick origin: the first launch event's time
    # Events whose actor lacks the authority for them (core/authority.py): kept as evidence, not applied.
    refused: list[TimelineEntry] = field(default_factory=list)
    # Verdicts on signed events' signatures by event hash, computed outside the fold (warroom.trust) and given
    # to it as data: the fold stays pure, and with `signatures: required` it applies only what verified.
    signatures: dict[str, authority.SigVerdict] = field(default_factory=dict, compare=False, repr=False)
    head: str = ""  # the hash of the last event folded: with `seq`, the head this state has seen
    # Lean fold (report, replay: millions of samples): a sample that leaves a steady GO/WARN criterion where
    # it is skips judge() and the tracker, and its reason is worded only when someone looks (see word()).
    lean: bool = field(default=False, compare=False, repr=False)
    # Per criterion id, what its samples need from the launch alone: (criterion, poll interval, baseline moment,
    # hull), each from its one rule (poll_interval, baseline_moment), once rather than on every sample. The hull
    # (criteria whose levels are intervals, rules.convex_levels) is [GO low, GO high, WARN low, WARN high]: the
    # extremes classify() has called GO and WARN, so a value between them is that level without judging it.
    # Not a field (every dump of the fold's fields stays as it was): set per instance in __post_init__.
    _lanes: ClassVar[dict[str, tuple[Criterion, float, float | None, list[float] | None]]] = {}

    def __post_init__(self) -> None:
        inf = math.inf
        self.__dict__["_lanes"] = {
            cid: (
                c,
                poll_interval(self.launch, c),
                baseline_moment(c, self.launch.t0),
                [inf, -inf, inf, -inf] if convex_levels(c) else None,
            )
            for cid, c in self.launch.criteria_by_id.items()
        }
        for c in self.launch.criteria:
            self.criteria.setdefault(
                c.id,
                CriterionState(
                    c.id, trigger_mode=c.trigger.mode if c.trigger else "off", stale_limit=stale_limit(self.launch, c)
                ),
            )
        for _p, _s, item in self.launch.items:
            self.items.setdefault(item.id, ItemState())

    # ------------------------------------------------------------------ apply

    def apply(self, ev: Event) -> None:
        """Advance the state by one event; unknown kinds are kept in the timeline only."""
        if not self._admit(ev.seq, ev.hash, ev.ts, ev.kind, ev, None):
            return
        handler = _HANDLERS.get(ev.kind)
        if handler is not None:
            if ev.kind in authority.MARKED:  # the one place authority is checked (samples skip it)
                why = authority.refusal(self.launch, ev, self.signatures.get(ev.hash))
                if why is not None:
                    self._refuse(ev, why)
                    return
                ev = authority.as_seen(self.launch, ev)
            handler(self, ev)

    def apply_sample(
        self, seq: int, h: str, ts: float, line: dict[str, Any], criterion: str, value: float, t: float, tick: int
    ) -> None:
        """Advance by one plain sample straight from its verified line (store.log.iter_parsed; the fields as
        records.plain_sample reads them): exactly what apply(event_of(line, h, ts)) does, by the same rules, with
        no Event built unless a doubt or a transition needs one. Report and replay fold millions of these."""
        if self._admit(seq, h, ts, "sample", None, line):
            self._sample_of(seq, ts, criterion, value, None, "", t, tick, False, None, line)

    def _admit(self, seq: int, h: str, ts: float, kind: str, ev: Event | None, line: dict[str, Any] | None) -> bool:
        """What every event goes through first: the head moves, an implausible time is doubted and not applied
        (False), a time going back is doubted; the log's first time and epoch are taken."""
        self.seq, self.head = seq, h
        first = self.first_ts
        why = ts_problem(ts, first)
        if why is not None:
            self._doubt(_event(ev, line, ts), f"event seq {seq} ({kind}) not applied: {why}")
            return False
        last = self.last_ts
        if last is not None and last - ts > MAX_CLOCK_AHEAD:
            self._doubt(
                _event(ev, line, ts),
                f"time goes back {format_duration(last - ts)} at event seq {seq}: "
                "an earlier event came from a clock that was ahead",
            )
        self.last_ts = ts
        if first is None:
            self.first_ts = ts
        if self.epoch is None and kind == "launch":
            self.epoch = ts
        return True

    def _say(self, ev: Event, text: str) -> None:
        self.timeline.append(TimelineEntry(ev.seq, ev.ts, actor_label(ev.actor), ev.kind, text))

    def _doubt(self, ev: Event, text: str) -> None:
        """Keep a doubt about an event (shown in the timeline and by every view) without acting on it."""
        entry = TimelineEntry(ev.seq, ev.ts, actor_label(ev.actor), ev.kind, text)
        if len(self.doubts) < TIMELINE:
            self.doubts.append(entry)
        self.timeline.append(entry)

    def _refuse(self, ev: Event, why: str) -> None:
        """Keep an event its actor had no authority for: in the timeline and `refused`, never applied."""
        entry = TimelineEntry(ev.seq, ev.ts, actor_label(ev.actor), ev.kind, f"REFUSED {authority.what(ev)}: {why}")
        if len(self.refused) < TIMELINE:
            self.refused.append(entry)
        self.timeline.append(entry)

    def _sample(self, ev: Event) -> None:
        d = ev.typed or ev.payload  # the slot when it is read already (the report looks first)
        if type(d) is not Sample:
            return
        self._sample_of(ev.seq, ev.ts, d.criterion, d.value, d.error, d.reason, d.t, d.tick, d.baseline, ev, None)

    def _sample_of(
        self,
        seq: int,
        ts: float,
        criterion: str,
        value: float | None,
        error: str | None,
        why: str,
        t: float | None,
        tick: int | None,
        baseline_only: bool,
        ev: Event | None,
        line: dict[str, Any] | None,
    ) -> None:
        """The sample rules, for a sample from an Event (`ev`) or from its verified line (`line`, whose Event is
        built only if a doubt or a transition needs it)."""
        lane = self._lanes.get(criterion)
        if lane is None:
            return
        c, interval, moment, hull = lane
        cs = self.criteria[c.id]
        if t is None:
            t = ts
        bad = source_time_problem(t, ts)
        if bad is None and tick is not None:
            bad = tick_problem(tick, interval, self._tick_epoch(ts), ts)
        if bad is not None:
            self._doubt(_event(ev, line, ts), f"sample seq {seq} for {c.id} not applied: {bad}")
            return
        if tick is not None:
            if cs.last_tick is not None and tick <= cs.last_tick:
                cs.duplicates += 1  # a second recorder's copy of a slot already judged
                return
            cs.last_tick = tick
        before = moment is not None and t <= moment
        if before and error is None and value is not None and _isfinite(value):
            cs.baseline = value
        if baseline_only:
            return  # a value fetched for the baseline moment only; it says nothing about now
        tr = cs.tracker
        level = tr.level
        if (
            self.lean
            and error is None
            and value is not None
            and not before
            and _isfinite(value)
            and tr.held is _GO
            and not tr.pending
            and level in _STEADY
            and (moment is None or cs.baseline is not None)
        ):
            k = -1 if hull is None else 0 if level is _GO else 2 if level is _WARN else -1
            if k >= 0 and hull[k] <= value <= hull[k + 1]:  # type: ignore[index]
                steady = True  # between two values classify() called this level: so is this one
            else:
                steady = classify(c, value, cs.baseline) is level
                if steady and k >= 0:
                    assert hull is not None
                    if value < hull[k]:
                        hull[k] = value
                    if value > hull[k + 1]:
                        hull[k + 1] = value
            if steady:
                # judge + step would keep level, since and runs as they are and only take this sample's words
                _steady(cs, value, t, why)
                return
        cs.unworded = None
        j = judge(c, value, error, cs.baseline, before_baseline=before, reason=why)
        before_level = tr.level
        tr.step(c, j, t)
        cs.value, cs.t, cs.error = value, t, (j.reason if j.level == Level.UNKNOWN else None)
        cs.samples += 1
        cs.history.append((t, value if value is not None and math.isfinite(value) else None))
        after = tr.level
        if after != before_level:
            self._criterion_transition(_event(ev, line, ts), c, before_level, after, tr.reason, t)

    def _tick_epoch(self, ts: float) -> float:
        """The origin a sample's tick counts poll slots from: the recorder's epoch, else the log's first time."""
        epoch = self.epoch if self.epoch is not None else self.first_ts
        return epoch if epoch is not None else ts

    def vouch(self, criterion: str, ts: float, t: float, tick: int) -> Vouched | None:
        """Bounds within which the next plain samples of `criterion` would each be folded as the lean steady sample
        they are (admitted, plausible, no repeat, their level unchanged, no words written), given that the one just
        folded at (ts, t, tick) was taken; None if the criterion is not in that state.

        Each bound comes from its one rule, called here on a probe a little ahead: ts_problem, source_time_problem
        and tick_problem are monotone (a later time, a later source time, a later tick only make them worse; an
        earlier event time never), so a probe they pass vouches for every value on its safe side, for samples
        recorded no earlier than `ts` and with the epoch unchanged (a launch event, or time going back, calls for
        a new vouch). The value bounds are the lean hull of the criterion's level (see _sample_of). A report folds
        a run of samples inside them with `steady_run`; anything outside goes through apply_sample."""
        lane = self._lanes.get(criterion)
        if lane is None or not self.lean or self.first_ts is None:
            return None
        c, interval, moment, hull = lane
        cs = self.criteria[c.id]
        tr = cs.tracker
        level = tr.level
        if (
            hull is None
            or tr.held is not _GO
            or tr.pending
            or level not in _STEADY
            or cs.last_tick != tick
            or (moment is not None and (cs.baseline is None or t <= moment))
        ):
            return None
        k = 0 if level is _GO else 2
        lo, hi = hull[k], hull[k + 1]
        if not lo <= hi:
            return None
        ts_hi = ts + _PROBE
        if ts_problem(ts_hi, self.first_ts) is not None:
            ts_hi = ts
        t_hi = t + _PROBE
        if source_time_problem(t_hi, ts) is not None:
            t_hi = t
        epoch = self._tick_epoch(ts)
        tick_hi = tick
        for ahead in (4096, 64, 1):
            if tick_problem(tick + ahead, interval, epoch, ts) is None:
                tick_hi = tick + ahead
                break
        return Vouched(ts_hi, math.nextafter(t_hi, math.inf), tick_hi, lo, hi, RANK[level])

    def steady_run(self, criterion: str, values: list[float], times: list[float], tick: int) -> None:
        """Fold a run of plain samples of `criterion` that `vouch` vouched for, the last one at poll slot `tick`:
        what folding each through apply_sample would do to the criterion (the head and time: `moved`)."""
        cs = self.criteria[criterion]
        cs.last_tick = tick
        trend = zip(times[-HISTORY:], values[-HISTORY:], strict=True)  # the deque keeps as many
        _steady(cs, values[-1], times[-1], "", len(values), trend)

    def moved(self, seq: int, h: str, ts: float) -> None:
        """The head and time after a run of vouched samples, the last one (seq, h, ts): what _admit leaves."""
        self.seq, self.head, self.last_ts = seq, h, ts

    def _backfill(self, ev: Event) -> None:
        """A backfill event met in log order (a live console): its points, judged as samples; those older than
        the criterion's last tick are dropped as the fold drops any repeated slot. (Report folds `merged`.)"""
        for p in backfill_points(ev):
            self._sample(p)

    def _criterion_transition(
        self, ev: Event, c: Criterion, before: Level, after: Level, reason: str, t: float
    ) -> None:
        key = f"criterion:{c.id}"
        bad = after in (Level.NOGO, Level.ROLLBACK)
        existing = self.alerts.get(key)
        if bad:
            sev = "critical" if after == Level.ROLLBACK or c.required else "warning"
            title = f"{c.name} {after.value}: {reason}"
            if existing is None or not existing.firing:
                self.alerts[key] = AlertState(key, "criterion", sev, title, {"criterion": c.id}, {}, t)
            else:
                existing.severity, existing.title = sev, title
        elif existing is not None and existing.firing and before in (Level.NOGO, Level.ROLLBACK):
            existing.ended = t
        self._trim_alerts()
        self._say(ev, f"{c.name}: {before.value} -> {after.value} ({reason})")

    def _alert(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, AlertRec):
            return
        key = "am:" + d.fingerprint
        labels, ann = d.labels, d.annotations
        t = d.t if d.t is not None else ev.ts
        a = self.alerts.get(key)
        if d.firing:
            title = labels.get("alertname", "alert")
            summary = ann.get("summary") or ann.get("description")
            if summary:
                title += f": {summary}"
            if a is None or not a.firing:
                self.alerts[key] = AlertState(
                    key,
                    d.source,
                    labels.get("severity", "warning"),
                    title,
                    labels,
                    ann,
                    d.starts_at if d.starts_at is not None else t,
                )
                self._say(ev, f"alert firing: {title}")
            else:
                a.labels, a.annotations, a.title = labels, ann, title
        elif a is not None and a.firing:
            a.ended = t
            self._say(ev, f"alert resolved: {a.title}")
        self._trim_alerts()

    def _trim_alerts(self) -> None:
        if len(self.alerts) > FEED:
            for k in [k for k, a in self.alerts.items() if not a.firing][: len(self.alerts) - FEED]:
                del self.alerts[k]

    def _ack(self, ev: Event) -> None:
        d = ev.payload
        a = self.alerts.get(d.alert) if isinstance(d, AckRec) else None
        if a is not None:
            a.acked_by, a.acked_at = actor_label(ev.actor), ev.ts
            self._say(ev, f"acknowledged: {a.title}")

    def _silence(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, SilenceRec):
            return
        a = self.alerts.get(d.alert)
        st = d.state
        what = a.title if a is not None else d.alert
        sid = d.id if d.id is not None else "?"
        if st == "created":
            if a is not None:
                a.silence = d.id or ""
            self._say(ev, f"silence {sid} created for {what} (by {d.by if d.by is not None else '?'})")
        elif st == "expired":
            if a is not None:
                a.silence = None
            self._say(ev, f"silence {sid} expired for {what}: {d.why or ''}")
        elif st == "failed":
            self._say(ev, f"silence {d.action or ''} FAILED for {what}: {d.error or ''}")
        elif st == "expire_requested":
            self._say(ev, f"silence expiry requested for {what}")

    def _check(self, ev: Event) -> None:
        d = ev.payload
        item_id = d.item if isinstance(d, ItemMark) else ""
        st = self.items.get(item_id)
        if st is None:
            return
        done = ev.kind == "check"
        st.done, st.by, st.at = done, actor_label(ev.actor), ev.ts
        text = self.launch.items_by_id[item_id][2].text
        self._say(ev, ("checked: " if done else "unchecked: ") + text)

    def _signoff(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, SignoffRec):
            return
        role, verdict = d.role, d.verdict
        so = Signoff(role, verdict, actor_label(ev.actor), ev.ts, d.reason, dict(d.snapshot))
        if role in self.launch.roles_by_id:
            self.signoffs[role] = so
            title = self.launch.roles_by_id[role].title
            self._say(ev, f"sign-off {title}: {verdict}" + (f" ({so.reason})" if so.reason else ""))

    def _decision(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, DecisionRec):
            return
        self.decision = Signoff("commander", d.verdict, actor_label(ev.actor), ev.ts, d.reason)
        self._say(
            ev,
            f"final decision: {self.decision.verdict}" + (f" ({self.decision.reason})" if self.decision.reason else ""),
        )

    def _note(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, Note):
            return
        entry = TimelineEntry(ev.seq, ev.ts, actor_label(ev.actor), "note", d.text)
        self.notes.append(entry)
        self.timeline.append(entry)

    def _trigger_mode(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, TriggerModeSet):
            return
        cs = self.criteria.get(d.criterion)
        mode = d.mode
        if cs is not None and mode is not None:
            cs.trigger_mode = mode
            self._say(ev, f"trigger mode for {cs.id}: {mode}")

    def _rollback(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, Rollback):
            return
        phase = d.phase
        rb = self.rollback
        t = ev.ts
        why = f": {d.reason}" if d.has_reason else ""
        if phase == RollbackPhase.REQUESTED:
            if d.automatic and d.criteria:
                rb.auto_fired.update(d.criteria)
            self._say(ev, "rollback requested" + (" (dry run)" if d.dry_run else "") + why)
        elif phase == RollbackPhase.REFUSED:
            refused = RollbackStatus.REFUSED
            rb.history.append({"at": t, "status": refused, "by": actor_label(ev.actor), "reason": d.reason})
            self._say(ev, f"rollback refused: {d.reason}")
        elif phase == RollbackPhase.STARTED:
            self._rollback_started(ev, d)
        elif phase in STEP_PHASES:
            self._rollback_step(ev, d)
        elif phase == RollbackPhase.VERIFY:
            rb.verify = d.status or ""
            rb.verify_detail = d.detail if d.detail is not None else (d.what or "")
            if rb.verify != VerifyStatus.RUNNING:
                self._say(ev, f"rollback verify {rb.verify}: {rb.verify_detail}")
        elif phase == RollbackPhase.VERIFY_OUTPUT:
            rb.verify_output.extend(d.lines)
            del rb.verify_output[:-200]
        elif phase == RollbackPhase.RECOMMENDATION:
            self._say(
                ev,
                f"rollback recommendation ({d.criterion if d.criterion is not None else '?'}): commander chose "
                f"{d.choice if d.choice is not None else '?'}" + why,
            )
        elif phase == RollbackPhase.FINISHED:
            self._rollback_finished(ev, d)

    def _rollback_started(self, ev: Event, d: Rollback) -> None:
        rb = self.rollback
        self.rollback = RollbackState(
            RollbackStatus.RUNNING,
            actor_label(ev.actor),
            d.reason,
            ev.ts,
            dry_run=d.dry_run,
            automatic=d.automatic,
            steps=[StepRun(s) for s in d.steps],
            history=rb.history,
            auto_fired=rb.auto_fired,
            procedure=d.procedure,
            values=dict(d.values),
        )
        self._say(
            ev,
            "rollback started"
            + ("" if self.rollback.procedure == "primary" else f" (procedure {self.rollback.procedure})")
            + (" automatically" if d.automatic else "")
            + (" (dry run)" if d.dry_run else ""),
        )

    def _rollback_step(self, ev: Event, d: Rollback) -> None:
        rb, i, t = self.rollback, d.step_index, ev.ts
        if not 0 <= i < len(rb.steps):
            return
        step = rb.steps[i]
        if d.phase == RollbackPhase.STEP_STARTED:
            step.status, step.started = StepStatus.RUNNING, t
        elif d.phase == RollbackPhase.STEP_OUTPUT:
            step.output.extend(d.lines)
            del step.output[:-200]
        else:
            step.finished, step.exit_code = t, d.exit_code
            ok = StepStatus.OK if d.exit_code == 0 else StepStatus.FAILED
            step.status = d.status if d.status is not None else ok
            step.duration = d.duration
            step.detail = d.detail or ""
            took = f", {step.duration:.1f}s" if step.duration is not None else ""
            how = step.detail if step.status == StepStatus.SKIPPED else f"exit {step.exit_code}{took}"
            self._say(ev, f"rollback step {i + 1} '{step.name}': {step.status} ({how})")

    def _rollback_finished(self, ev: Event, d: Rollback) -> None:
        rb, t = self.rollback, ev.ts
        rb.status = RollbackStatus.SUCCEEDED if d.ok else RollbackStatus.FAILED
        rb.finished = t
        for step in rb.steps:  # a run that ended has nothing running: what had no end recorded was cut off
            if step.status == StepStatus.RUNNING:
                step.status, step.finished, step.detail = StepStatus.INTERRUPTED, t, "no outcome recorded"
        if rb.verify == VerifyStatus.RUNNING:
            rb.verify = VerifyStatus.INTERRUPTED
        rb.outcome = d.reason
        rb.history.append({"at": t, "status": rb.status, "by": rb.by, "reason": d.reason})
        self._say(ev, f"rollback {rb.status}" + (f": {d.reason}" if d.has_reason else ""))
        old = self.alerts.get("rollback")
        if d.ok and not d.dry_run and old is not None and old.firing:
            old.ended = t  # a later rollback that worked ends the "rollback failed" alert
        if not d.ok:
            others = [p for p in self.launch.rollback.procedures if p != rb.procedure]
            advice = f"; another way back: {', '.join(others)} (a person chooses)" if others else ""
            self.alerts["rollback"] = AlertState(
                "rollback", "rollback", "critical", f"Rollback failed: {d.reason}{advice}", {}, {}, t
            )

    def _session(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, SessionRec):
            return
        key = f"{actor_label(ev.actor)}#{d.pid if d.pid is not None else ''}"
        if d.state == "closed":
            self.sessions.pop(key, None)
        else:
            self.sessions[key] = {"mode": d.mode, "since": ev.ts, "actor": actor_label(ev.actor)}
        self._say(ev, f"console {d.state} ({d.mode if d.mode is not None else 'live'})")

    def _recorder(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, RecorderRec):
            return
        self.recorder = actor_label(ev.actor) if d.state != "released" else None
        if d.state == "write_recovered":
            self._say(
                ev,
                f"recording resumed after failing writes ({d.reason}); {d.lost} events were not recorded",
            )

    def _source(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, SourceHealth):
            return
        name, feed = d.source, d.feed
        if name not in self.launch.sources and name.removeprefix("notify:") not in self.launch.notify.channels:
            return
        ok = d.ok
        since = d.t if d.t is not None else ev.ts
        h = FeedHealth(ok, since, d.error, d.reason)
        feeds = self.sources.setdefault(name, {})
        before = feeds.get(feed)
        feeds[feed] = h
        if ok and (before is None or before.ok):
            return  # the first "ok" of a source is not news
        self._say(ev, f"source {name} ({feed}): " + ("ok again" if ok else f"FAILING: {h.reason or h.error}"))


_HANDLERS = {
    "sample": LaunchState._sample,
    "alert": LaunchState._alert,
    "ack": LaunchState._ack,
    "check": LaunchState._check,
    "uncheck": LaunchState._check,
    "signoff": LaunchState._signoff,
    "decision": LaunchState._decision,
    "note": LaunchState._note,
    "trigger_mode": LaunchState._trigger_mode,
    "rollback": LaunchState._rollback,
    "session": LaunchState._session,
    "recorder": LaunchState._recorder,
    "backfill": LaunchState._backfill,
    "source": LaunchState._source,
    "silence": LaunchState._silence,
}


def _event(ev: Event | None, line: dict[str, Any] | None, ts: float) -> Event:
    """The event itself, or the one its verified line makes (built only when a doubt or the timeline needs it)."""
    if ev is not None:
        return ev
    assert line is not None
    return event_of(line, line["hash"], ts)


def actor_label(a: Actor) -> str:
    """The actor in views: its display name (marked when its authority rests on that claim) and its account."""
    if not a.name:
        return f"{a.user}@{a.host}"
    return f"{a.name} [claimed] ({a.user}@{a.host})" if a.claimed else f"{a.name} ({a.user}@{a.host})"


def stale_limit(launch: Launch, c: Criterion) -> float | None:
    """How old a value may get before it is STALE: `stale_after`, else three poll intervals plus the
    source's timeout, so a recorder that stopped (or a source backing off for long) shows up as STALE."""
    if c.stale_after is not None:
        return c.stale_after
    src = launch.sources.get(c.source)
    if src is None:
        return None
    return 3 * poll_interval(launch, c) + float(src.timeout)


def poll_interval(launch: Launch, c: Criterion) -> float:
    """How often the criterion is polled: its own interval, else its source's (0 if the source is unknown)."""
    if c.interval is not None:
        return c.interval
    src = launch.sources.get(c.source)
    return float(src.interval) if src is not None else 0.0


def limit_of(c: Criterion, cs: CriterionState) -> float | None:
    """The staleness limit in force for a criterion (the one place the fallback to `stale_after` lives)."""
    return cs.stale_limit if cs.stale_limit is not None else c.stale_after


def is_stale(c: Criterion, cs: CriterionState, now: float) -> bool:
    """No sample, or the last one older than the limit: the value no longer says anything about now."""
    limit = limit_of(c, cs)
    return cs.t is None or (limit is not None and now - cs.t > limit)


def feeds_alerts(launch: Launch, name: str) -> bool:
    """Whether the source has an alert feed the recorder polls (an Alertmanager, a simulation with alerts)."""
    cfg = launch.sources.get(name)
    return isinstance(cfg, AlertmanagerSource) or (isinstance(cfg, SimulatedSource) and bool(cfg.alerts))


def fold(launch: Launch, events: Iterable[Event], state: LaunchState | None = None) -> LaunchState:
    """Apply `events` to `state` (or a fresh state) and return it."""
    st = state if state is not None else LaunchState(launch)
    for ev in events:
        st.apply(ev)
    return st


# ====================================================================== view


@dataclass(frozen=True)
class CriterionView:
    criterion: Criterion
    level: Level
    unknown: Unknown | None
    reason: str
    value: float | None
    shown: str  # the value as text, never rounded across the threshold
    age: float | None
    trend: tuple[float | None, ...]
    trigger_mode: str
    trigger_breached: bool
    pending: bool = False  # a breach is building (WARN) but not confirmed: not GO either

    @property
    def passing(self) -> bool:
        """Counts as GO for the verdict: GO, or WARN inside the warning band (not a pending breach)."""
        return self.level == Level.GO or (self.level == Level.WARN and not self.pending)


@dataclass(frozen=True)
class PhaseProgress:
    id: str
    name: str
    done: int
    total: int
    critical_open: int
    due: bool
    current: bool


@dataclass(frozen=True)
class SignoffView:
    role: str
    title: str
    required: bool
    signoff: Signoff | None
    stale: bool
    stale_reason: str = ""


@dataclass(frozen=True)
class SourceView:
    """One source's health as the log tells it: ok, FAILING since when and why, or not read yet."""

    name: str
    kind: str  # the config's source type
    alerts: bool  # it feeds the alert panel (so while it fails, "no alerts" means "unknown")
    state: str  # "ok", "failing" or "unread"
    since: float | None = None
    error: str = ""
    reason: str = ""
    feed: str = ""  # the failing feed ("readings" or "alerts")

    @property
    def failing(self) -> bool:
        return self.state == "failing"

    def text(self, t0: float) -> str:
        """'alertmanager: FAILING since T+00:12:00 — HTTP 401 ...', 'prom: ok', 'am: not read yet'."""
        if self.state == "failing":
            since = "" if self.since is None else f" since {format_t_relative(self.since - t0)}"
            return f"{self.name}: FAILING{since} — {self.reason or self.error}"
        return f"{self.name}: " + ("ok" if self.state == "ok" else "not read yet")


@dataclass(frozen=True)
class Verdict:
    status: str  # GO, NO-GO, ROLLBACK, PENDING
    reasons: tuple[str, ...]
    now: float
    offset: float
    phase_id: str | None
    phase_name: str
    criteria: tuple[CriterionView, ...]
    phases: tuple[PhaseProgress, ...]
    signoffs: tuple[SignoffView, ...]
    items_done: frozenset[str]
    done: int
    total: int
    sources: tuple[SourceView, ...] = ()
    # The criteria's part of the verdict alone (`check --criteria-only`): same rules, same words.
    criteria_status: str = "PENDING"
    criteria_reasons: tuple[str, ...] = ()
    doubts: tuple[str, ...] = ()  # events not applied, times that went back (LaunchState.doubts)
    refused: tuple[str, ...] = ()  # events not applied for want of authority (LaunchState.refused), in words

    @property
    def clock(self) -> str:
        return format_t_relative(self.offset)


def criterion_view(c: Criterion, cs: CriterionState, now: float) -> CriterionView:
    word(c, cs)
    tr = cs.tracker
    level, unknown, reason, pending = tr.level, tr.unknown, tr.reason, tr.pending
    age = None if cs.t is None else max(0.0, now - cs.t)
    limit = limit_of(c, cs)
    if cs.t is None:
        level, unknown, reason, pending = Level.UNKNOWN, Unknown.NO_DATA, "no sample yet", False
    elif limit is not None and age is not None and age > limit:
        old = f"last sample is {format_duration(age)} old (limit {format_duration(limit)})"
        if tr.held in (Level.NOGO, Level.ROLLBACK):
            reason = f"{reason}; {old}"  # a confirmed breach is not cleared by silence
        else:
            level, unknown, reason, pending = Level.UNKNOWN, Unknown.STALE, old, False
    if level == Level.UNKNOWN and unknown is not None and not reason.startswith(unknown.value):
        reason = f"{unknown.value}: {reason}"
    shown = "—" if cs.value is None or not math.isfinite(cs.value) else show(c, cs.value, cs.baseline)
    return CriterionView(
        c,
        level,
        unknown,
        reason,
        cs.value,
        shown,
        age,
        tuple(v for _t, v in cs.history),
        cs.trigger_mode,
        level == Level.ROLLBACK,
        pending,
    )


def item_done(item: Item, state: LaunchState, by_id: dict[str, CriterionView]) -> bool:
    """A checklist item is done when ticked, or, if linked to a criterion, while that criterion is `passing`."""
    return by_id[item.criterion].passing if item.criterion else state.items[item.id].done


def source_views(state: LaunchState) -> tuple[SourceView, ...]:
    """Every configured source's health, in config order; a failing feed makes the source failing."""
    out = []
    for name, cfg in state.launch.sources.items():
        feeds = state.sources.get(name, {})
        alerts = feeds_alerts(state.launch, name)
        bad = sorted(((h.since, feed, h) for feed, h in feeds.items() if not h.ok), key=lambda x: x[0])
        if bad:
            since, feed, h = bad[0]
            out.append(SourceView(name, cfg.type, alerts, "failing", since, h.error, h.reason, feed))
        elif alerts and "alerts" not in feeds:
            out.append(SourceView(name, cfg.type, alerts, "unread"))
        elif feeds:
            out.append(SourceView(name, cfg.type, alerts, "ok", min(h.since for h in feeds.values())))
        else:
            out.append(SourceView(name, cfg.type, alerts, "unread"))
    for ch, ccfg in state.launch.notify.channels.items():  # a notification channel, once it has been used
        chfeeds = state.sources.get(f"notify:{ch}", {})
        failing = [fh for fh in chfeeds.values() if not fh.ok]
        if chfeeds:
            h = failing[0] if failing else next(iter(chfeeds.values()))
            kind = f"notify-{ccfg.type}"
            out.append(
                SourceView(f"notify:{ch}", kind, False, "failing" if failing else "ok", h.since, h.error, h.reason)
            )
    return tuple(out)


def alert_source_reasons(sources: Iterable[SourceView], t0: float) -> list[str]:
    """Why the alert feed cannot be trusted: a source that feeds it is failing or was never read."""
    out = []
    for s in sources:
        if s.alerts and s.failing:
            out.append(f"alerts unknown: source {s.text(t0)}")
        elif s.alerts and s.state == "unread":
            out.append(f"alerts unknown: source {s.name} not read yet")
    return out


NOTHING_JUDGED = "no required criteria: nothing is judged, so nothing says GO"


@dataclass(frozen=True, slots=True)
class _Criteria:
    """What the criteria (and the alert sources) say: the reasons in the order the verdict lists them."""

    first: list[str]  # ROLLBACK and NO-GO criteria lead the reasons
    then: list[str]  # then UNKNOWN and PENDING ones, unread alert sources, an empty gate
    advisory: list[str]  # shown, but never what keeps the verdict from GO
    rollback: bool
    nogo: bool

    @property
    def status(self) -> str:
        if self.rollback:
            return "ROLLBACK"
        if self.nogo:
            return "NO-GO"
        return "PENDING" if self.first or self.then else "GO"


def _judge_criteria(
    launch: Launch, crit_views: tuple[CriterionView, ...], sources: tuple[SourceView, ...]
) -> _Criteria:
    first: list[str] = []
    then: list[str] = []
    advisory: list[str] = []
    rollback = nogo = False
    for v in crit_views:
        c = v.criterion
        if v.level == Level.ROLLBACK:
            rollback = True
            first.insert(0, f"ROLLBACK trigger: {c.name}: {v.reason}")
        elif not c.required:
            if not v.passing:
                advisory.append(f"advisory {v.level.value}: {c.name}: {v.reason}")
        elif v.level == Level.NOGO:
            nogo = True
            first.append(f"NO-GO: {c.name}: {v.reason}")
        elif v.level == Level.UNKNOWN:
            then.append(f"UNKNOWN: {c.name}: {v.reason}")
        elif v.pending:
            then.append(f"PENDING: {c.name}: {v.reason}")
    then += alert_source_reasons(sources, launch.t0)
    if not any(c.required for c in launch.criteria):
        then.append(NOTHING_JUDGED)
    return _Criteria(first, then, advisory, rollback, nogo)


def _phase_progress(
    state: LaunchState, by_id: dict[str, CriterionView], cur_index: int
) -> tuple[list[PhaseProgress], set[str], list[str]]:
    """Each phase's progress, the items done, and the critical items still open in a phase that is due."""
    done_ids: set[str] = set()
    phases: list[PhaseProgress] = []
    reasons: list[str] = []
    for i, ph in enumerate(state.launch.phases):
        d = tot = crit_open = 0
        for sec in ph.sections:
            for item in sec.items:
                tot += 1
                if item_done(item, state, by_id):
                    d += 1
                    done_ids.add(item.id)
                elif item.critical:
                    crit_open += 1
                    if i <= cur_index:
                        reasons.append(f"critical item open ({ph.name}): {item.text}")
        phases.append(PhaseProgress(ph.id, ph.name, d, tot, crit_open, i <= cur_index, i == cur_index))
    return phases, done_ids, reasons


def _worse_since(so: Signoff, by_id: dict[str, CriterionView]) -> str:
    """Why a sign-off is stale: the criteria that got worse since its snapshot ("" if none did)."""
    worse = [
        cid
        for cid, lvl in so.snapshot.items()
        if cid in by_id and lvl in RANK and RANK[by_id[cid].level] > RANK[Level(lvl)]
    ]
    if not worse:
        return ""
    return "worse since sign-off: " + ", ".join(
        f"{by_id[cid].criterion.name} {so.snapshot[cid]} -> {by_id[cid].level.value}" for cid in worse
    )


def _signoff_views(
    state: LaunchState, by_id: dict[str, CriterionView], reasons: list[str]
) -> tuple[list[SignoffView], bool]:
    """Each signing role's view; what a required one still lacks goes into `reasons`. True if one said NO-GO."""
    views: list[SignoffView] = []
    nogo = False
    for role in state.launch.roles:
        if role.signoff == "none":
            continue
        so = state.signoffs.get(role.id)
        why = _worse_since(so, by_id) if so is not None else ""
        stale = bool(why)
        required = role.signoff == "required"
        if required:
            if so is None:
                reasons.append(f"sign-off pending: {role.title}")
            elif so.verdict != "GO":
                nogo = True
                reasons.insert(0, f"NO-GO sign-off by {role.title}" + (f": {so.reason}" if so.reason else ""))
            elif stale:
                reasons.append(f"sign-off by {role.title} is stale ({why})")
        views.append(SignoffView(role.id, role.title, required, so, stale, why))
    return views, nogo


def _actions_say(state: LaunchState, reasons: list[str]) -> bool:
    """A failed or running rollback and the commander's NO-GO lead the reasons. True if they make it NO-GO."""
    nogo = False
    rb = state.rollback
    if rb.status == "failed":
        nogo = True
        reasons.insert(0, f"NO-GO: rollback failed: {rb.outcome or rb.reason or 'see rollback panel'}")
    elif rb.status == "running":
        reasons.insert(0, "rollback in progress")
    if state.decision is not None and state.decision.verdict == "NO-GO":
        nogo = True
        reasons.insert(0, "commander decided NO-GO" + (f": {state.decision.reason}" if state.decision.reason else ""))
    return nogo


def _log_notes(state: LaunchState) -> list[str]:
    """What the log itself casts doubt on: implausible times, events refused for want of authority."""
    out: list[str] = []
    if state.doubts:
        n = len(state.doubts)
        out.append(f"log: {n} doubt{'s' if n != 1 else ''} about event times; latest: {state.doubts[-1].text}")
    if state.refused:
        n, last = len(state.refused), state.refused[-1]
        out.append(f"log: {n} event{'s' if n != 1 else ''} refused (no authority); latest by {last.actor}: {last.text}")
    return out


def view(state: LaunchState, now: float) -> Verdict:
    """The verdict and every panel's data as of `now`."""
    launch = state.launch
    offset = now - launch.t0
    current = launch.phase_at(offset)
    cur_index = launch.phases.index(current) if current else -1
    crit_views = tuple(criterion_view(c, state.criteria[c.id], now) for c in launch.criteria)
    by_id = {v.criterion.id: v for v in crit_views}
    phases, done_ids, item_reasons = _phase_progress(state, by_id, cur_index)
    sources = source_views(state)
    crit = _judge_criteria(launch, crit_views, sources)
    reasons = [*crit.first, *crit.then, *item_reasons]
    so_views, so_nogo = _signoff_views(state, by_id, reasons)
    nogo = _actions_say(state, reasons) or so_nogo or crit.nogo
    if crit.rollback:
        status = "ROLLBACK"
    elif nogo:
        status = "NO-GO"
    elif reasons:
        status = "PENDING"
    else:
        status = "GO"
        reasons.append("every required criterion is GO, due critical items are done, all sign-offs given")
    reasons += crit.advisory + _log_notes(state)
    crit_reasons = tuple(crit.first + crit.then) or ("every required criterion is GO",)
    return Verdict(
        status,
        tuple(reasons),
        now,
        offset,
        current.id if current else None,
        current.name if current else "before the first phase",
        crit_views,
        tuple(phases),
        tuple(so_views),
        frozenset(done_ids),
        len(done_ids),
        sum(p.total for p in phases),
        sources,
        crit.status,
        crit_reasons + tuple(crit.advisory),
        tuple(e.text for e in state.doubts),
        tuple(f"seq {e.seq} by {e.actor}: {e.text}" for e in state.refused),
    )


def snapshot(state: LaunchState, now: float) -> dict[str, dict[str, Any]]:
    """Every criterion's value and state, as recorded with a sign-off."""
    out: dict[str, dict[str, Any]] = {}
    for c in state.launch.criteria:
        v = criterion_view(c, state.criteria[c.id], now)
        out[c.id] = {"level": v.level.value, "value": v.value, "shown": v.shown}
    return out


__all__ = [
    "Judgement",
    "LaunchState",
    "Level",
    "SourceView",
    "Unknown",
    "Verdict",
    "fold",
    "item_done",
    "snapshot",
    "view",
]
