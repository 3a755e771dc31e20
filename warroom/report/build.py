"""The post-launch report: everything the log says about the launch, gathered in one streaming pass.

Every figure comes from the fold: the go/no-go tables are `criterion_view` at
the moment of each sign-off and decision, the verdict is `view` at the end,
alert and rollback records are the fold's own objects kept as they retire.
Memory stays bounded however long the log is: samples only feed fixed-size
chart buckets (min/max/mean per bucket, buckets widen as the launch goes on)
and success-metric accumulators; lists of human events are capped.

Rendering lives in `report_md.py`, `report_html.py` (with `report_svg.py`)
and `to_json` below; all of them read only the `Report` built here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import add as _add
from pathlib import Path
from typing import Any

from warroom.config import Criterion, Launch, SuccessMetric
from warroom.core.authority import CHECKED, SigVerdict, what
from warroom.core.backfilled import KIND, Merge, fold_time, late, merged
from warroom.core.events import MARK_KINDS, Event, event_of, iso
from warroom.core.lanes import UNARMS, Lane, Lanes
from warroom.core.records import Ack as AckRec
from warroom.core.records import Alert as AlertRec
from warroom.core.records import Measurement as MeasurementRec
from warroom.core.records import Rollback as RollbackRec
from warroom.core.records import RollbackPhase, Sample, TornRecovered
from warroom.core.records import Signoff as SignoffRec
from warroom.core.rules import ORDER_OPS, RANK, Level
from warroom.core.state import (
    AlertState,
    CriterionState,
    LaunchState,
    RollbackState,
    SourceView,
    actor_label,
    criterion_view,
    view,
)
from warroom.core.units import format_duration, format_t_relative, format_value
from warroom.store.backfill_scan import collect
from warroom.store.launchlog import first_launch_event, launch_from_log
from warroom.store.log import LogCorrupt, Parsed, VerifyProblem, iter_events_from, iter_parsed
from warroom.trust import heads
from warroom.trust.audit import SEEN
from warroom.trust.guard import Guard, signers_path

_isfinite = math.isfinite
BUCKETS = 240  # chart resolution per criterion
_NOGO, _UNKNOWN = RANK[Level.NOGO], RANK[Level.UNKNOWN]
MAX_ROWS = 5000  # timeline entries / alerts kept; the rest are counted
PERIODS = {"hourly": 3600.0, "daily": 86400.0, "weekly": 604800.0}
BEYOND = 1 << 62  # Metric.slot of a time after the window

# ====================================================================== the report's data


@dataclass(frozen=True)
class Row:
    """One line of a go/no-go table, as the console showed it at that moment."""

    criterion: str
    name: str
    threshold: str
    actual: str
    status: str
    reason: str
    value: float | None
    required: bool


@dataclass
class Gate:
    """A sign-off or commander decision with the go/no-go table at that moment."""

    kind: str  # "signoff" or "decision"
    seq: int
    ts: float
    actor: str
    role: str
    verdict: str
    reason: str
    rows: list[Row]
    console: str  # the console's overall status at that moment
    console_reasons: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    seq: int
    ts: float
    actor: str
    kind: str
    text: str


@dataclass(frozen=True)
class ItemRow:
    id: str
    text: str
    owner: str
    critical: bool
    done: bool
    by: str | None
    at: float | None
    criterion: str | None  # name of the criterion that ticks it, if any


@dataclass(frozen=True)
class PhaseRow:
    id: str
    name: str
    at: float  # offset from T-0
    done: int
    total: int
    items: list[ItemRow]


@dataclass
class Rollback:
    requested_by: str | None
    requested_at: float | None
    state: RollbackState | None  # the fold's own record, complete once finished
    refused: dict[str, Any] | None = None
    procedure: str = "primary"  # which procedure was asked for, and with which values, by `requested_by`
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Period:
    start: float
    end: float
    n: int = 0
    no_data: int = 0
    lo: float = math.inf
    hi: float = -math.inf
    total: float = 0.0
    meeting: int = 0

    def add(self, v: float | None, ok: bool | None) -> None:
        if v is None:
            self.no_data += 1
            return
        self.add_run((v,), 1 if ok else 0)

    def add_run(self, vs: Sequence[float], meeting: int) -> None:
        """Finite values in log order, `meeting` of them meeting the target: the sum adds them one by one (as
        adding each alone does: reduce, not sum(), which may compensate), min and max keep the first of equals."""
        self.n += len(vs)
        self.total = reduce(_add, vs, self.total)
        m = min(vs)
        if m < self.lo:
            self.lo = m
        m = max(vs)
        if m > self.hi:
            self.hi = m
        self.meeting += meeting

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def share(self) -> float | None:
        return self.meeting / self.n if self.n else None


@dataclass(frozen=True)
class Measurement:
    """A success metric's value entered by its owner (or measured in Prometheus) for one period, as logged."""

    seq: int
    ts: float
    by: str
    value: float
    period: str
    link: str
    source: str  # "manual" or "prometheus <query>"


@dataclass
class Metric:
    """A success metric measured over its window from the samples of the criterion it links to."""

    metric: SuccessMetric
    criterion: Criterion | None
    start: float
    end: float
    period: float
    periods: dict[int, Period] = field(default_factory=dict)
    baseline: float | None = None
    log_end: float | None = None
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def overall(self) -> Period:
        """The whole window: the periods added up (samples feed only their period, once)."""
        o = Period(self.start, self.end)
        for p in self.periods.values():
            o.n += p.n
            o.no_data += p.no_data
            o.total += p.total
            o.meeting += p.meeting
            o.lo, o.hi = min(o.lo, p.lo), max(o.hi, p.hi)
        return o

    def meets(self, value: float | None) -> bool | None:
        if value is None:
            return None
        th = self.metric.target_threshold
        if th.relative_to is not None and self.baseline is None:
            return None
        return th.holds(value, self.baseline)

    def meeting(self, vs: Sequence[float]) -> int:
        """How many of `vs` `meets`: with the target compared by order, meets is monotone in the value, so when a
        run's least and greatest agree, every value of it does."""
        if self.metric.target_threshold.op in ORDER_OPS:
            ok = self.meets(min(vs))
            if ok == self.meets(max(vs)):
                return len(vs) if ok else 0
        return sum(1 for v in vs if self.meets(v))

    def slot(self, t: float) -> int:
        """The period of the window `t` falls in: -1 before the window (or not a time), BEYOND after it. Monotone
        in t, so a run of samples between two times of one slot lies in it."""
        if not t >= self.start:
            return -1
        if t >= self.end:
            return BEYOND
        return int((t - self.start) // self.period)

    @property
    def status(self) -> str:
        if self.measurements:
            return "MISSED" if any(not self.meets(m.value) for m in self.measurements) else "MET"
        if self.criterion is None:
            return "NOT MEASURED"  # never "passed" without a measurement
        if not any(p.n for p in self.periods.values()):
            return "NO DATA"
        missed = [p for p in self.periods.values() if p.n and not self.meets(p.mean)]
        if missed:
            return "MISSED"
        return "MET" if self.coverage >= 0.999 else "MET so far"

    @property
    def coverage(self) -> float:
        """Share of the window the log covers."""
        if self.log_end is None or self.end <= self.start:
            return 0.0
        return max(0.0, min(1.0, (min(self.log_end, self.end) - self.start) / (self.end - self.start)))


class Series:
    """A criterion over the launch in a fixed number of buckets that double in width as time goes on."""

    __slots__ = ("bad", "err", "hi", "lo", "n", "origin", "total", "unknown", "width")

    def __init__(self, origin: float, width: float = 1.0):
        self.origin = origin
        self.width = width
        self.lo = [math.inf] * BUCKETS
        self.hi = [-math.inf] * BUCKETS
        self.total = [0.0] * BUCKETS
        self.n = [0] * BUCKETS
        self.err = [0] * BUCKETS
        self.bad = [0] * BUCKETS  # samples after which the criterion stood at NO-GO or ROLLBACK
        self.unknown = [0] * BUCKETS  # ... at UNKNOWN

    def index(self, t: float) -> int:
        """The bucket `t` falls in at the present width, before clamping (monotone in t)."""
        return int((t - self.origin) / self.width)

    def add(self, t: float, v: float | None, rank: int) -> None:
        i = self.index(t)
        while i >= BUCKETS:
            self._widen()
            i = self.index(t)
        if i < 0:
            i = 0
        if v is None:
            self._ranked(i, 1, rank)
            self.err[i] += 1
            return
        self.add_run(i, (v,), rank)

    def add_run(self, i: int, vs: Sequence[float], rank: int) -> None:
        """Finite values in log order into bucket `i` (see Period.add_run), the criterion at `rank` after each."""
        self._ranked(i, len(vs), rank)
        self.n[i] += len(vs)
        self.total[i] = reduce(_add, vs, self.total[i])
        m = min(vs)
        if m < self.lo[i]:
            self.lo[i] = m
        m = max(vs)
        if m > self.hi[i]:
            self.hi[i] = m

    def _ranked(self, i: int, n: int, rank: int) -> None:
        if rank >= _NOGO:
            self.bad[i] += n
        elif rank == _UNKNOWN:
            self.unknown[i] += n

    def _widen(self) -> None:
        def pair(xs: list[Any], f: Any, empty: Any) -> list[Any]:
            return [f(xs[k], xs[k + 1]) for k in range(0, BUCKETS, 2)] + [empty] * (BUCKETS // 2)

        self.lo = pair(self.lo, min, math.inf)
        self.hi = pair(self.hi, max, -math.inf)
        self.total = pair(self.total, lambda a, b: a + b, 0.0)
        self.n = pair(self.n, lambda a, b: a + b, 0)
        self.err = pair(self.err, lambda a, b: a + b, 0)
        self.bad = pair(self.bad, lambda a, b: a + b, 0)
        self.unknown = pair(self.unknown, lambda a, b: a + b, 0)
        self.width *= 2

    def buckets(self) -> list[tuple[float, float, float | None, float | None, float | None, int, int, float, float]]:
        """(start, end, min, max, mean, samples, errors, share NO-GO, share UNKNOWN) for every bucket that
        saw a sample; the shares are of the bucket's samples after which the criterion stood there."""
        out = []
        for i in range(BUCKETS):
            if self.n[i] or self.err[i]:
                a = self.origin + i * self.width
                has = self.n[i] > 0
                out.append(
                    (
                        a,
                        a + self.width,
                        self.lo[i] if has else None,
                        self.hi[i] if has else None,
                        self.total[i] / self.n[i] if has else None,
                        self.n[i],
                        self.err[i],
                        self.bad[i] / (self.n[i] + self.err[i]),
                        self.unknown[i] / (self.n[i] + self.err[i]),
                    )
                )
        return out


@dataclass
class Chart:
    criterion: Criterion
    series: Series
    lines: list[tuple[str, float]]  # (label, value) of thresholds in the criterion's unit
    band: tuple[float, float] | None = None  # pre-launch baseline range (min, max), drawn behind the line


COMPARE_DAYS = 31  # post-launch days compared to the baseline (a longer log adds no rows)


def _day(t0: float, t: float) -> int:
    """The post-launch day `t` falls in for the comparison: -1 before T-0, COMPARE_DAYS from then on (monotone)."""
    if t < t0:
        return -1
    return min(int((t - t0) // 86400), COMPARE_DAYS)


@dataclass
class Compare:
    """A criterion's pre-launch baseline beside its value in each post-launch day."""

    criterion: Criterion
    pre: Period
    days: dict[int, Period] = field(default_factory=dict)
    baseline: float | None = None  # the relative threshold's baseline if it has one, else the pre-launch mean

    def change(self, p: Period) -> float | None:
        """Per cent change of the period's mean from the baseline."""
        m = p.mean
        if m is None or self.baseline is None or self.baseline == 0:
            return None
        return (m - self.baseline) / abs(self.baseline) * 100


@dataclass
class Report:
    launch: Launch
    path: str
    first_ts: float | None = None
    last_ts: float | None = None
    events: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    participants: dict[str, set[str]] = field(default_factory=dict)  # actor -> kinds of what they did
    integrity_ok: bool = True
    integrity: str = ""
    metrics_provenance: str = ""  # where this run's success metrics came from (Prometheus now, or the log only)
    problem: VerifyProblem | None = None
    torn: int = 0
    torn_recovered: list[str] = field(default_factory=list)  # torn tails cut off the log by a later writer
    doubts: list[str] = field(default_factory=list)  # events the fold kept but did not apply (bounds.py)
    refused: list[str] = field(default_factory=list)  # events refused for want of authority (core/authority.py)
    signatures: list[str] = field(default_factory=list)  # each signed event: good and by whom, or why not
    anchors: list[str] = field(default_factory=list)  # truncated / rewritten against a kept head (warroom.trust)
    head: str = ""  # SEQ:HASH of the last event: paste it into the post-mortem, check later with --expect-head
    status: str = "PENDING"
    reasons: tuple[str, ...] = ()
    final_rows: list[Row] = field(default_factory=list)
    sources: tuple[SourceView, ...] = ()  # each source's health at the end of the log
    gates: list[Gate] = field(default_factory=list)
    timeline: list[Entry] = field(default_factory=list)
    timeline_omitted: int = 0
    phases: list[PhaseRow] = field(default_factory=list)
    alerts: list[AlertState] = field(default_factory=list)
    alerts_omitted: int = 0
    rollbacks: list[Rollback] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    markers: list[tuple[float, str, str]] = field(default_factory=list)  # (ts, kind, label) for charts
    compare: list[Compare] = field(default_factory=list)
    breaches: list[Entry] = field(default_factory=list)  # criteria entering/leaving NO-GO and ROLLBACK, in order
    backfilled: Counter[str] = field(default_factory=Counter)  # criterion -> samples that came from backfill
    cannot_backfill: dict[str, str] = field(default_factory=dict)  # criterion -> why its gaps stay gaps

    @property
    def t0(self) -> float:
        return self.launch.t0

    @property
    def decision(self) -> Gate | None:
        for g in reversed(self.gates):
            if g.kind == "decision":
                return g
        return None

    def rel(self, ts: float | None) -> str:
        return "—" if ts is None else format_t_relative(ts - self.t0)

    def utc(self, ts: float | None) -> str:
        return "—" if ts is None else iso(ts)[:19].replace("T", " ") + "Z"

    def when(self, ts: float | None) -> str:
        """T-relative and UTC: 'T-00:15:00 (2026-01-01 11:45:00Z)'."""
        return "—" if ts is None else f"{self.rel(ts)} ({self.utc(ts)})"


# ====================================================================== building it


def build_report(path: str | Path, reference: bool = False, launch: Launch | None = None) -> Report:
    """Stream the log once and gather the report; a broken chain stops the report there and says so.

    `reference`: fold Event by Event with every sample judged (no lean path, no plain-sample lane): the
    straightforward fold tests hold the fast one to, byte for byte.

    Backfilled points are folded at their source time, so they must be known before the pass. The fast pass
    does not search the log for them first (a read of the whole file, for the common log that has none): it
    folds as if there were none, and on meeting a backfill event (or a late sample) starts over with them.
    `launch`: the log's own (launch_from_log), when the caller has read it already."""
    path = Path(path)
    if launch is None:
        launch = launch_from_log(path)
    if reference:
        return _build(path, launch, collect(path), reference=True)
    try:
        return _build(path, launch, None)
    except _Backfilled:
        return _build(path, launch, collect(path))


class _Backfilled(Exception):
    """The pass that assumed no backfill met some: fold again with the points collected."""


def _build(path: Path, launch: Launch, backfill: list[Event] | None, reference: bool = False) -> Report:
    """One pass; `backfill` None: none assumed, _Backfilled raised on meeting any."""
    rep = Report(launch, str(path))
    b = _Builder(rep, LaunchState(launch, lean=not reference))
    torn: list[bytes] = []
    guard = report_guard(path, launch, b.state.signatures)  # signature verdicts reach the fold as data
    try:
        if reference:
            logged = guard(ev for _end, ev in iter_events_from(path, on_torn=torn.append))
            for ev in merged(logged, backfill or []):
                b.add(ev)
        else:
            b.read(iter_parsed(path, on_torn=torn.append), guard, Merge(backfill or []), backfill is None)
    except LogCorrupt as e:
        rep.integrity_ok = False
        rep.problem = e.problem
    rep.torn = len(torn[0]) if torn else 0
    rep.head = f"{guard.head[0]}:{guard.head[1]}"
    rep.anchors = guard.problems()
    rep.signatures = [
        f"seq {ev.seq} {what(ev)} by account {ev.actor.user}: "
        + (f"good signature by {v.signer}" if v.ok else f"BAD SIGNATURE: {v.detail}")
        for ev, v in guard.signed
    ]
    b.finish()
    return rep


def _edge(region: Callable[[float], object], t: float, guess: float) -> float:
    """A float above `t` below which every time from `t` on lies in t's region (a monotone slot function's value),
    the least such float as a rule: `guess` is the region's own arithmetic inverted, checked and corrected a few
    steps of one unit in the last place either way, then by bisection."""
    if guess == math.inf:
        return guess
    r = region(t)
    x = guess if guess > t else math.nextafter(t, math.inf)
    if region(x) == r:  # still inside: a bound that holds; the edge may be an ulp or two higher
        for _ in range(4):
            y = math.nextafter(x, math.inf)
            if region(y) != r:
                return y
            x = y
        return x
    for _ in range(4):  # outside: step down while the float below is outside too
        y = math.nextafter(x, -math.inf)
        if y <= t or region(y) == r:
            return x
        x = y
    lo, hi = t, x  # region(lo) == r != region(hi)
    while True:
        mid = lo + (hi - lo) / 2
        if not lo < mid < hi:
            return math.nextafter(lo, math.inf)
        if region(mid) == r:
            lo = mid
        else:
            hi = mid


class _Lane(Lane):
    """A criterion's lane (core.lanes) with the report's accumulators its runs go to, and where they end."""

    __slots__ = ("bucket", "cs", "day", "edges", "periods", "series")

    def __init__(self, cid: str, cs: CriterionState, series: Series):
        super().__init__(cid)
        self.cs, self.series = cs, series
        self.periods: list[tuple[Metric, Period]] = []
        self.day: Period | None = None
        self.edges: dict[str, tuple[object, float]] = {}
        self.bucket = 0

    def edge(self, key: tuple[Any, ...], region: Callable[[float], object], t: float, guess: float) -> float:
        """_edge, kept per accumulator for the region it was last asked about (a run of buckets asks once each)."""
        name = str(key[:-1])
        kept = self.edges.get(name)
        if kept is not None and kept[0] == key:
            return kept[1]
        e = _edge(region, t, guess)
        self.edges[name] = (key, e)
        return e


class _Lanes(Lanes):
    """The report's lanes: a run also goes to the chart's buckets, the metrics' periods and the day compared;
    a lane ends where they do, or where the next backfilled point goes in."""

    def __init__(self, b: _Builder, guard: Guard, backfill: Merge) -> None:
        super().__init__(b.state, None if guard.quiet else guard.note)
        self.b, self.guard, self.backfill = b, guard, backfill

    def make(self, cid: str) -> Lane:
        return _Lane(cid, self.state.criteria[cid], self.b.series[cid])

    def moved(self, seq: int, h: str, ts: float) -> None:
        """The fold's head, the guard's (if it took none of the samples), ours."""
        self.state.moved(seq, h, ts)
        if self.note is None:
            self.guard.note(seq, h)
        if seq > self.b.max_seq:
            self.b.max_seq = seq

    def run(self, ln: Lane) -> None:
        assert isinstance(ln, _Lane)
        vs = ln.vs
        ln.series.add_run(ln.bucket, vs, ln.rank)
        for met, p in ln.periods:
            met.baseline = ln.cs.baseline
            p.add_run(vs, met.meeting(vs))
        if ln.day is not None:
            ln.day.add_run(vs, 0)

    def bound(self, ln: Lane, t: float, t_hi: float) -> float:
        assert isinstance(ln, _Lane)
        b = self.b
        s = ln.series
        i = s.index(t)
        t_hi = min(t_hi, ln.edge(("s", s.width, i), s.index, t, s.origin + (i + 1) * s.width))
        ln.periods = []
        for j, met in enumerate(b.metrics.get(ln.cid, ())):
            k = met.slot(t)
            if k < 0:
                guess = met.start
            elif k == BEYOND:
                guess = math.inf
            else:
                guess = min(met.start + (k + 1) * met.period, met.end)
                ln.periods.append((met, met.periods[k]))
            t_hi = min(t_hi, ln.edge(("m", j, k), met.slot, t, guess))
        t0 = b.t0
        day = _day(t0, t)
        cmp = b.compare[ln.cid]
        ln.day = cmp.pre if day < 0 else cmp.days[day] if day < COMPARE_DAYS else None
        guess = t0 if day < 0 else t0 + (day + 1) * 86400.0 if day < COMPARE_DAYS else math.inf
        t_hi = min(t_hi, ln.edge(("d", day), lambda x: _day(t0, x), t, guess))
        backfill = self.backfill
        if backfill.waiting:  # the next backfilled point goes in before the first live sample at or after it
            t_hi = min(t_hi, backfill.points[backfill.i].ts)
        ln.bucket = max(i, 0)
        return t_hi


class _Builder:
    def __init__(self, rep: Report, state: LaunchState):
        self.rep = rep
        self.state = state
        launch = rep.launch
        self.crits = launch.criteria_by_id
        self.series: dict[str, Series] = {}
        self.metrics: dict[str, list[Metric]] = {}
        for m in launch.success_metrics:
            c = self.crits.get(m.criterion) if m.criterion else None
            start = launch.t0
            end = start + m.window
            period = PERIODS.get(m.check, m.window)
            met = Metric(m, c, start, end, period)
            rep.metrics.append(met)
            if c is not None:
                self.metrics.setdefault(c.id, []).append(met)
        self.alert_seen: dict[str, AlertState] = {}
        self.t0 = launch.t0
        self.max_seq = 0
        self.compare = {c.id: Compare(c, Period(-math.inf, launch.t0)) for c in launch.criteria}
        self.pending_request: tuple[str, float] | None = None
        self.pending_choice: tuple[str, dict[str, str]] = ("primary", {})

    def read(self, lines: Iterable[Parsed], guard: Guard, backfill: Merge, unseen: bool = False) -> None:
        """Fold the verified lines: a plain sample straight from its line (LaunchState.apply_sample), any other
        as its Event through `add`; what the guard and the backfill merge see is what they see in `merged`.

        Most plain samples change nothing but their criterion's last value and the report's sums: they are
        gathered into lanes (core.lanes, `_Lanes`: bounds from LaunchState.vouch and where the report's buckets,
        periods and days end) and folded as runs. A line that is not a plain sample flushes every lane, and
        disarms them all if it may move what they were vouched for: a sample, a backfill, a trigger mode, a
        launch (the epoch), time going back (nothing else the fold does touches a criterion).
        `unseen`: the backfill was not collected; raise _Backfilled on meeting one."""
        st = self.state
        crits = st.criteria
        note = guard.note
        apply_sample = st.apply_sample
        waiting = backfill.waiting
        lanes = _Lanes(self, guard, backfill)
        try:
            for (_end, seq, d, h, ts), p in lanes.gather(lines):
                if p is not None:
                    cid, value, t, tick = p
                    note(seq, h)  # all the guard does with a sample
                    if waiting:  # a plain sample is never a late one; its fold time is t
                        due = backfill.due(t)
                        if due:
                            lanes.disarm()
                            for pt in due:
                                self.add(pt)
                        waiting = backfill.waiting
                    if seq > self.max_seq:
                        self.max_seq = seq
                    cs = crits.get(cid)
                    if cs is None:
                        apply_sample(seq, h, ts, d, cid, value, t, tick)
                    else:
                        before, n = cs.tracker.level, cs.samples
                        apply_sample(seq, h, ts, d, cid, value, t, tick)
                        if cs.samples != n:
                            self._sampled(cs, before, False, ts)
                            lanes.arm(cid, ts, t, tick)
                    lanes.last = st.last_ts if st.last_ts is not None else -math.inf
                    continue
                ev = event_of(d, h, ts)
                guard.feed(ev)
                if ev.kind == KIND or late(ev):
                    if unseen:
                        raise _Backfilled
                    continue  # already in the merge, at its source time
                if waiting:
                    due = backfill.due(fold_time(ev))
                    if due:
                        lanes.disarm()
                        for pt in due:
                            self.add(pt)
                    waiting = backfill.waiting
                self.add(ev)
                now = st.last_ts
                if ev.kind in UNARMS or now is None or now < lanes.last:
                    lanes.disarm()  # it may have moved what the lanes were vouched for
                lanes.last = now if now is not None else -math.inf
        finally:  # a broken chain ends the report there: what came before it is folded
            lanes.disarm()
        for pt in backfill.rest():
            self.add(pt)

    def add(self, ev: Event) -> None:
        st = self.state
        kind = ev.kind
        if ev.seq > self.max_seq:
            self.max_seq = ev.seq
        if kind == "sample":
            p = ev.payload
            cs = st.criteria.get(p.criterion) if type(p) is Sample else None
            if cs is None:
                st.apply(ev)
                return
            before, n = cs.tracker.level, cs.samples
            st.apply(ev)
            if cs.samples != n:  # else the fold ignored it
                self._sampled(cs, before, p.backfilled, ev.ts)  # type: ignore[union-attr]
            return
        if kind == "signoff" or kind == "decision":
            rows, verdict = self._table(ev.ts)
        st.apply(ev)
        self.rep.kinds[kind] += 1
        if st.refused and st.refused[-1].seq == ev.seq and kind in CHECKED:
            self._entry(ev)  # kept in the timeline as refused, with the reason; it changed nothing
            return
        d = ev.payload
        if isinstance(d, TornRecovered):
            self.rep.torn_recovered.append(f"seq {ev.seq}: {d.bytes} bytes (sha256 {d.sha256}) moved to {d.kept_in}")
        if kind in MARK_KINDS or kind == "source":  # a source failing or recovering is part of the story
            self._entry(ev)
        if isinstance(d, AlertRec):
            self._alert("am:" + d.fingerprint)
        elif isinstance(d, AckRec):
            self._alert(d.alert)
        elif isinstance(d, SignoffRec):
            so = st.signoffs.get(d.role)
            if so is not None and so.at == ev.ts and so.by == actor_label(ev.actor):
                title = st.launch.roles_by_id[so.role].title
                self.rep.gates.append(
                    Gate(
                        "signoff",
                        ev.seq,
                        ev.ts,
                        so.by,
                        title,
                        so.verdict,
                        so.reason,
                        rows,
                        verdict.status,
                        verdict.reasons,
                    )
                )
                self.rep.markers.append((ev.ts, "signoff", f"{title} {so.verdict}"))
        elif kind == "decision":
            dec = st.decision
            assert dec is not None
            self.rep.gates.append(
                Gate(
                    "decision",
                    ev.seq,
                    ev.ts,
                    dec.by,
                    "Commander",
                    dec.verdict,
                    dec.reason,
                    rows,
                    verdict.status,
                    verdict.reasons,
                )
            )
            self.rep.markers.append((ev.ts, "decision", f"decision {dec.verdict}"))
        elif kind == "rollback":
            self._rollback(ev)
        elif kind == "measurement":
            self._measurement(ev)

    def _sampled(self, cs: CriterionState, before: Level, backfilled: bool, ts: float) -> None:
        """What a sample the fold took adds: the chart, the metrics' periods, the comparison, and a transition."""
        if backfilled:
            self.rep.backfilled[cs.id] += 1
        level = cs.tracker.level
        v = cs.value
        if v is not None and not _isfinite(v):
            v = None
        t = cs.t if cs.t is not None else ts
        cid = cs.id
        s = self.series.get(cid)
        if s is None:
            s = self.series[cid] = Series(t)
        s.add(t, v, RANK[level])
        mets = self.metrics.get(cid)
        if mets is not None:
            for met in mets:
                self._metric(met, cs.baseline, t, v)
        # the comparison with the pre-launch baseline: the day after T-0 the sample falls in
        cmp = self.compare[cid]
        t0 = self.t0
        day = _day(t0, t)
        if day < 0:
            cmp.pre.add(v, None)
        elif day < COMPARE_DAYS:
            p = cmp.days.get(day)
            if p is None:
                p = cmp.days[day] = Period(t0 + day * 86400, t0 + (day + 1) * 86400)
            p.add(v, None)
        if level != before:
            self._alert("criterion:" + cid)
            self._breach(before, level)

    def _table(self, now: float) -> tuple[list[Row], Any]:
        st = self.state
        rows = [_row(c, criterion_view(c, st.criteria[c.id], now)) for c in st.launch.criteria]
        return rows, view(st, now)

    def _entry(self, ev: Event) -> None:
        rep = self.rep
        tl = self.state.timeline
        if not tl or tl[-1].seq != ev.seq:
            return
        e = tl[-1]
        rep.participants.setdefault(e.actor, set()).add(ev.kind)
        if len(rep.timeline) < MAX_ROWS:
            rep.timeline.append(Entry(e.seq, e.ts, e.actor, e.kind, e.text))
        else:
            rep.timeline_omitted += 1

    def _breach(self, before: Level, after: Level) -> None:
        """A criterion moving into, between or out of NO-GO/ROLLBACK: the breach timeline (the fold's words)."""
        if RANK[before] < _NOGO and RANK[after] < _NOGO:
            return
        tl = self.state.timeline
        if not tl:
            return
        e = tl[-1]  # the fold said the transition just now (a backfill event's points share its seq)
        if len(self.rep.breaches) < MAX_ROWS:
            self.rep.breaches.append(Entry(e.seq, e.ts, e.actor, e.kind, e.text))

    def _alert(self, key: str) -> None:
        a = self.state.alerts.get(key)
        if a is None or self.alert_seen.get(key) is a:
            return
        self.alert_seen[key] = a
        if len(self.rep.alerts) < MAX_ROWS:
            self.rep.alerts.append(a)
        else:
            self.rep.alerts_omitted += 1

    def _rollback(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, RollbackRec):
            return
        phase = d.phase
        rb = self.state.rollback
        if phase == RollbackPhase.REQUESTED:
            self.pending_request = (actor_label(ev.actor), ev.ts)
            self.pending_choice = (d.procedure, dict(d.values))
        elif phase == RollbackPhase.REFUSED:
            by, at = self.pending_request or (actor_label(ev.actor), ev.ts)
            proc, vals = self.pending_choice
            refusal = {"at": ev.ts, "by": actor_label(ev.actor), "reason": d.reason}
            self.rep.rollbacks.append(Rollback(by, at, None, refusal, proc, vals))
            self.pending_request = None
        elif phase == RollbackPhase.STARTED:
            requested: tuple[str | None, float | None] = self.pending_request or (None, None)
            self.rep.rollbacks.append(Rollback(*requested, rb, None, rb.procedure, dict(rb.values)))
            self.pending_request = None
            self.rep.markers.append((ev.ts, "rollback", "rollback" + (" (dry run)" if rb.dry_run else "")))
        elif phase == RollbackPhase.FINISHED:
            self._alert("rollback")
            self.rep.markers.append((ev.ts, "rollback", f"rollback {rb.status}"))

    def _measurement(self, ev: Event) -> None:
        d = ev.payload
        if not isinstance(d, MeasurementRec):
            return
        value = d.value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return
        for met in self.rep.metrics:
            if met.metric.id == d.metric:
                met.measurements.append(
                    Measurement(
                        ev.seq,
                        ev.ts,
                        actor_label(ev.actor),
                        float(value),
                        d.period,
                        d.link,
                        d.source + (f": {d.query}" if d.query else ""),
                    )
                )

    def _metric(self, met: Metric, baseline: float | None, t: float, v: float | None) -> None:
        k = met.slot(t)
        if k < 0 or k == BEYOND:
            return
        p = met.periods.get(k)
        if p is None:
            a = met.start + k * met.period
            p = met.periods[k] = Period(a, min(a + met.period, met.end))
        if v is None:
            p.no_data += 1
            return
        met.baseline = baseline
        p.add(v, met.meets(v))

    def finish(self) -> None:
        rep, st = self.rep, self.state
        launch = rep.launch
        rep.events = max(st.seq, self.max_seq)  # backfilled samples carry their backfill event's (later) seq
        if rep.backfilled:
            for c in launch.criteria:
                if launch.sources.get(c.source) is not None and launch.sources[c.source].type != "prometheus":
                    rep.cannot_backfill[c.id] = (
                        f"source '{c.source}' ({launch.sources[c.source].type}) keeps no history"
                    )
        rep.first_ts, rep.last_ts = st.first_ts, st.last_ts
        rep.kinds["sample"] = sum(cs.samples for cs in st.criteria.values())
        now = st.last_ts if st.last_ts is not None else launch.t0
        v = view(st, now)
        rep.status, rep.reasons = v.status, v.reasons
        rep.final_rows = [_row(cv.criterion, cv) for cv in v.criteria]
        rep.sources = v.sources
        by_id = {cv.criterion.id: cv for cv in v.criteria}
        for ph in launch.phases:
            items = []
            for sec in ph.sections:
                for it in sec.items:
                    if it.criterion:
                        cv = by_id[it.criterion]
                        ok = it.id in v.items_done  # the view's rule (`passing`), not a copy of it
                        cs = st.criteria[it.criterion]
                        items.append(
                            ItemRow(
                                it.id,
                                it.text,
                                it.owner or "",
                                it.critical,
                                ok,
                                f"criterion {cv.criterion.name} {cv.level.value}",
                                cs.tracker.since if ok else None,
                                cv.criterion.name,
                            )
                        )
                    else:
                        s = st.items[it.id]
                        items.append(
                            ItemRow(
                                it.id,
                                it.text,
                                it.owner or "",
                                it.critical,
                                s.done,
                                s.by if s.done else None,
                                s.at if s.done else None,
                                None,
                            )
                        )
            rep.phases.append(PhaseRow(ph.id, ph.name, ph.at, sum(i.done for i in items), len(items), items))
        for met in rep.metrics:
            met.log_end = st.last_ts
            if met.criterion is not None and met.baseline is None:
                met.baseline = st.criteria[met.criterion.id].baseline
        for c in launch.criteria:
            cmp = self.compare[c.id]
            b = st.criteria[c.id].baseline
            cmp.baseline = b if b is not None else cmp.pre.mean
            if cmp.baseline is not None and cmp.days:
                rep.compare.append(cmp)
            series = self.series.get(c.id)
            if series is not None:
                band = (cmp.pre.lo, cmp.pre.hi) if cmp.pre.n else None
                rep.charts.append(Chart(c, series, _threshold_lines(c, b), band))
        rep.doubts = [e.text for e in st.doubts]
        rep.refused = [f"seq {e.seq} by {e.actor}: {e.text}" for e in st.refused]
        rep.integrity = integrity_text(rep)


def _row(c: Criterion, cv: Any) -> Row:
    return Row(c.id, c.name, c.threshold_text, cv.shown, cv.level.value, cv.reason, cv.value, c.required)


def _threshold_lines(c: Criterion, baseline: float | None) -> list[tuple[str, float]]:
    out = []
    for label, th in (("go", c.go_threshold), ("warn", c.warn_threshold), ("trigger", c.trigger_threshold)):
        if th is None:
            continue
        if th.relative_to is None:
            out.append((f"{label} {th.text}", th.value))
        elif baseline is not None:
            out.append(
                (
                    f"{label} {th.text} (= {format_value(baseline * (1 + th.value / 100), c.unit)})",
                    baseline * (1 + th.value / 100),
                )
            )
    return out


def report_guard(path: Path, launch: Launch, verdicts: dict[str, SigVerdict]) -> Guard:
    """The guard for a report: allowed_signers relative to the config the log recorded, this user's kept head."""
    first = first_launch_event(path)
    base = Path(str(first.data.get("path"))).resolve().parent if first is not None and first.data.get("path") else None
    seen = heads.seen(path)
    return Guard(launch, verdicts, signers_path(launch, base), {SEEN: seen} if seen else None)


def integrity_text(rep: Report) -> str:
    if not rep.integrity_ok:
        where = str(rep.problem) if rep.problem else "chain broken"
        return (
            f"TAMPERED: {where}. This report covers only the {rep.events:,} events before it; "
            "run 'warroom verify' on the log"
        )
    text = f"chain intact: {rep.events:,} events, every hash and link verified"
    if rep.torn:
        text += f"; a torn last line ({rep.torn} bytes) from an interrupted write is not included"
    for rec in rep.torn_recovered:
        text += f"; recovered a torn tail left by an interrupted write at {rec}"
    for why in rep.anchors:
        text += f"; {why}"
    if rep.doubts:
        text += f"; {len(rep.doubts)} doubt{'s' if len(rep.doubts) != 1 else ''} about event times: " + "; ".join(
            rep.doubts[:5]
        )
    return text


# ====================================================================== shared by the renderers


def metric_summary(m: Metric) -> dict[str, Any]:
    """The figures every format shows for a success metric."""
    o = m.overall
    unit = m.metric.unit
    th = m.metric.target_threshold.value if m.metric.target_threshold.relative_to is None else None

    def fmt(x: float | None) -> str:
        return "—" if x is None or not math.isfinite(x) else format_value(x, unit, th)

    return {
        "min": fmt(o.lo if o.n else None),
        "avg": fmt(o.mean),
        "max": fmt(o.hi if o.n else None),
        "share": "—" if o.share is None else f"{o.share * 100:.1f}%",
        "samples": o.n,
        "no_data": o.no_data,
        "coverage": f"{m.coverage * 100:.1f}%",
        "window": f"T+0 to {format_t_relative(m.end - m.start)} ({format_duration(m.end - m.start)})",
    }


def metric_origin(rep: Report, m: Metric) -> str:
    """Where a success metric's values came from, in words (the report says it beside the figures)."""
    parts = []
    prom = [x for x in m.measurements if x.source.startswith("prometheus")]
    manual = [x for x in m.measurements if not x.source.startswith("prometheus")]
    if prom:
        parts.append(f"{len(prom)} periods measured in Prometheus ({prom[0].source.partition(': ')[2]})")
    if manual:
        parts.append("entered by " + ", ".join(sorted({x.by for x in manual})))
    if m.criterion is not None and any(p.n for p in m.periods.values()):
        n = rep.backfilled.get(m.criterion.id, 0)
        parts.append(
            f"samples of criterion {m.criterion.id} in the log"
            + (f" ({n:,} of them backfilled from Prometheus)" if n else " (recorded live)")
        )
    return "; ".join(parts) or "not measured"


def period_rows(m: Metric) -> list[dict[str, Any]]:
    unit = m.metric.unit
    th = m.metric.target_threshold.value if m.metric.target_threshold.relative_to is None else None
    out = []
    for k in sorted(m.periods):
        p = m.periods[k]
        ok = m.meets(p.mean)
        out.append(
            {
                "start": format_t_relative(p.start - m.start),
                "samples": p.n,
                "avg": "—" if p.mean is None else format_value(p.mean, unit, th),
                "share": "—" if p.share is None else f"{p.share * 100:.1f}%",
                "status": "NO DATA" if ok is None else ("MET" if ok else "MISSED"),
            }
        )
    return out


def alert_duration(rep: Report, a: AlertState) -> str:
    end = a.ended if a.ended is not None else rep.last_ts
    if end is None:
        return "—"
    d = format_duration(max(0.0, end - a.started))
    return d if a.ended is not None else f"{d}+ (still firing at the end of the log)"


def to_json(rep: Report) -> dict[str, Any]:
    """The report as plain data (for tools); text is kept as logged, JSON escaping makes it safe."""

    def t(ts: float | None) -> dict[str, Any] | None:
        return None if ts is None else {"ts": ts, "utc": iso(ts), "t": rep.rel(ts)}

    dec = rep.decision
    return {
        "launch": {
            "id": rep.launch.id,
            "name": rep.launch.name,
            "description": rep.launch.launch.description,
            "t0": t(rep.t0),
        },
        "log": {
            "path": rep.path,
            "events": rep.events,
            "first": t(rep.first_ts),
            "last": t(rep.last_ts),
            "kinds": dict(rep.kinds),
            "integrity": {
                "ok": rep.integrity_ok,
                "text": rep.integrity,
                "torn_bytes": rep.torn,
                "torn_recovered": rep.torn_recovered,
                "doubts": rep.doubts,
                "head": rep.head,
                "anchors": rep.anchors,
                "refused": rep.refused,
                "signatures": rep.signatures,
            },
        },
        "participants": {a: sorted(k) for a, k in sorted(rep.participants.items())},
        "final": {
            "status": rep.status,
            "reasons": list(rep.reasons),
            "decision": None
            if dec is None
            else {"verdict": dec.verdict, "by": dec.actor, "at": t(dec.ts), "reason": dec.reason},
            "table": [_row_json(r) for r in rep.final_rows],
            "sources": [
                {
                    "name": sv.name,
                    "state": sv.state,
                    "since": t(sv.since),
                    "error": sv.error or None,
                    "reason": sv.reason or None,
                    "text": sv.text(rep.t0),
                }
                for sv in rep.sources
            ],
        },
        "gates": [
            {
                "kind": g.kind,
                "seq": g.seq,
                "at": t(g.ts),
                "by": g.actor,
                "role": g.role,
                "verdict": g.verdict,
                "reason": g.reason,
                "console": g.console,
                "console_reasons": list(g.console_reasons),
                "table": [_row_json(r) for r in g.rows],
            }
            for g in rep.gates
        ],
        "timeline": [
            {"seq": e.seq, "at": t(e.ts), "by": e.actor, "kind": e.kind, "what": e.text} for e in rep.timeline
        ],
        "timeline_omitted": rep.timeline_omitted,
        "compare_to_baseline": [
            {
                "criterion": cmp.criterion.id,
                "baseline": cmp.baseline,
                "pre_launch_samples": cmp.pre.n,
                "periods": [
                    {"day": d + 1, "start": t(p.start), "mean": p.mean, "samples": p.n, "change_pct": cmp.change(p)}
                    for d, p in sorted(cmp.days.items())
                ],
            }
            for cmp in rep.compare
        ],
        "breaches": [{"at": t(e.ts), "what": e.text} for e in rep.breaches],
        "backfill": {
            "samples": dict(rep.backfilled),
            "cannot": dict(rep.cannot_backfill),
        },
        "checklist": [
            {
                "phase": p.id,
                "name": p.name,
                "at": format_t_relative(p.at),
                "done": p.done,
                "total": p.total,
                "items": [
                    {
                        "id": i.id,
                        "text": i.text,
                        "owner": i.owner,
                        "critical": i.critical,
                        "done": i.done,
                        "by": i.by,
                        "at": t(i.at),
                        "criterion": i.criterion,
                    }
                    for i in p.items
                ],
            }
            for p in rep.phases
        ],
        "alerts": [
            {
                "key": a.key,
                "source": a.source,
                "severity": a.severity,
                "title": a.title,
                "labels": a.labels,
                "started": t(a.started),
                "ended": t(a.ended),
                "duration_s": None if a.ended is None else a.ended - a.started,
                "acked_by": a.acked_by,
                "acked_at": t(a.acked_at),
            }
            for a in rep.alerts
        ],
        "alerts_omitted": rep.alerts_omitted,
        "rollbacks": [_rollback_json(rep, r, t) for r in rep.rollbacks],
        "success_metrics_provenance": rep.metrics_provenance,
        "success_metrics": [
            {
                "id": m.metric.id,
                "name": m.metric.name,
                "target": m.metric.target,
                "check": m.metric.check,
                "criterion": m.criterion.id if m.criterion else None,
                "status": m.status,
                "origin": metric_origin(rep, m),
                **metric_summary(m),
                "periods": period_rows(m),
                "measurements": [
                    {
                        "value": x.value,
                        "period": x.period,
                        "by": x.by,
                        "at": t(x.ts),
                        "link": x.link,
                        "source": x.source,
                        "status": "MET" if m.meets(x.value) else "MISSED",
                    }
                    for x in m.measurements
                ],
            }
            for m in rep.metrics
        ],
        "charts": [
            {
                "criterion": c.criterion.id,
                "bucket_s": c.series.width,
                "thresholds": [{"label": lb, "value": v} for lb, v in c.lines],
                "buckets": [
                    {
                        "start": a,
                        "end": e,
                        "min": lo,
                        "max": hi,
                        "mean": mean,
                        "samples": n,
                        "errors": err,
                        "nogo_share": bad,
                        "unknown_share": unk,
                    }
                    for a, e, lo, hi, mean, n, err, bad, unk in c.series.buckets()
                ],
            }
            for c in rep.charts
        ],
    }


def _row_json(r: Row) -> dict[str, Any]:
    return {
        "criterion": r.criterion,
        "name": r.name,
        "threshold": r.threshold,
        "actual": r.actual,
        "value": r.value,
        "status": r.status,
        "reason": r.reason,
        "required": r.required,
    }


def _rollback_json(rep: Report, r: Rollback, t: Any) -> dict[str, Any]:
    rb = r.state
    out: dict[str, Any] = {
        "requested_by": r.requested_by,
        "requested_at": t(r.requested_at),
        "procedure": r.procedure,
        "chosen_by": r.requested_by,
        "values": r.values,
    }
    if r.refused is not None:
        out.update(status="refused", refused_by=r.refused["by"], at=t(r.refused["at"]), reason=r.refused["reason"])
        return out
    assert rb is not None
    out.update(
        status=rb.status,
        by=rb.by,
        reason=rb.reason,
        dry_run=rb.dry_run,
        automatic=rb.automatic,
        started=t(rb.started),
        finished=t(rb.finished),
        steps=[
            {
                "name": s.name,
                "status": s.status,
                "exit_code": s.exit_code,
                "started": t(s.started),
                "finished": t(s.finished),
                "output_tail": s.output[-20:],
            }
            for s in rb.steps
        ],
    )
    return out
