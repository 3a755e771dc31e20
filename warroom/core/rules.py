"""Criterion rules: judging one sample, and the hysteresis that turns samples into a state.

Pure: no clock, no I/O. Times are the samples' own times (seconds since the
epoch), so live, replay and report compute identical states. docs/semantics.md
explains the rules and how they compare with Argo Rollouts, Flagger and Keptn.

In the words a commander would use:
- one sample is judged GO, WARN (meets `go` but is outside the `warn` band),
  NO-GO (misses `go`), ROLLBACK (meets the trigger's `when`) or UNKNOWN
  (NO-DATA: empty result, NaN, no baseline yet; SOURCE-ERROR: down, timeout,
  bad query, bad response). `no_data: go|nogo` turns no data into GO or NO-GO,
  only when the config says so;
- a breach is confirmed only after `breach_samples` consecutive breaching
  samples and, if set, after breaching continuously for `breach_hold`; the
  trigger likewise with its own `samples`/`hold`. Until then the criterion is
  WARN and *pending*: not GO, and the verdict says so;
- a confirmed breach clears only after `clear_samples` consecutive good
  samples, each meeting `clear` if given (else `go`). UNKNOWN samples and
  staleness never clear it: not knowing is not recovering;
- a confirmed trigger stays ROLLBACK until the criterion clears;
- an UNKNOWN sample breaks every run (breach, trigger, recovery): runs are
  consecutive samples, never totals, so one blip an hour never adds up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from warroom.config import Criterion
from warroom.core.units import Threshold, format_duration, format_t_relative, format_value


class Level(StrEnum):
    GO = "GO"
    WARN = "WARN"
    NOGO = "NO-GO"
    ROLLBACK = "ROLLBACK"
    UNKNOWN = "UNKNOWN"


class Unknown(StrEnum):
    NO_DATA = "NO-DATA"
    SOURCE_ERROR = "SOURCE-ERROR"
    STALE = "STALE"


# How bad a level is, for "got worse since the sign-off" and sorting.
RANK = {Level.GO: 0, Level.WARN: 1, Level.UNKNOWN: 2, Level.NOGO: 3, Level.ROLLBACK: 4}
NO_DATA_ERROR = "no-data"
BAD = (Level.NOGO, Level.ROLLBACK)


@dataclass(frozen=True, slots=True)
class Judgement:
    """What one sample says. `breach`: misses `go`; `trigger`: meets the trigger; `clears`: counts
    toward clearing a confirmed breach."""

    level: Level
    reason: str
    unknown: Unknown | None = None
    breach: bool = False
    trigger: bool = False
    clears: bool = False


def bound(th: Threshold, baseline: float | None) -> float | None:
    """The absolute number a threshold compares against (None for a relative one without baseline)."""
    if th.relative_to is None:
        return th.value
    return None if baseline is None else baseline * (1.0 + th.value / 100.0)


def baseline_moment(c: Criterion, t0: float) -> float | None:
    """When the criterion's baseline is taken (epoch seconds), if a threshold is relative to one."""
    off = c.baseline_offset
    return None if off is None else t0 + off


def thresholds(c: Criterion) -> tuple[Threshold, ...]:
    return c.thresholds


def show(c: Criterion, value: float, baseline: float | None = None) -> str:
    """The value as text with enough digits to sit on the right side of every threshold."""
    fixed = c.fixed_bounds
    bounds = fixed if fixed is not None else [b for th in thresholds(c) if (b := bound(th, baseline)) is not None]
    return format_value(value, c.unit, bounds)


def _bound_text(th: Threshold, baseline: float | None, unit: str) -> str:
    b = bound(th, baseline)
    if th.relative_to is None or b is None:
        return th.text
    return f"{th.text} (= {th.op} {format_value(b, unit)})"


def classify(c: Criterion, value: float, baseline: float | None) -> Level:
    """The level one finite sample reads against the thresholds (no hysteresis, no words).

    judge() words it; the lean fold (state.py) uses it alone to see that a sample changes nothing.
    """
    tt = c.trigger_threshold
    if tt is not None and tt.holds(value, baseline):
        return Level.ROLLBACK
    if not c.go_threshold.holds(value, baseline):
        return Level.NOGO
    wt = c.warn_threshold
    if wt is not None and not wt.holds(value, baseline):
        return Level.WARN
    return Level.GO


ORDER_OPS = frozenset({"<", "<=", ">", ">="})


def convex_levels(c: Criterion) -> bool:
    """Whether every level classify() gives is an interval of values: absolute thresholds compared by order
    (each holds on a half-line, and a level is where some hold and others do not, an intersection of
    half-lines). Then two values of one level vouch for every value between them (the lean fold's hull)."""
    ths = [th for th in (c.trigger_threshold, c.go_threshold, c.warn_threshold) if th is not None]
    return all(th.relative_to is None and th.op in ORDER_OPS for th in ths)


def judge(
    c: Criterion,
    value: float | None,
    error: str | None = None,
    baseline: float | None = None,
    before_baseline: bool = False,
    reason: str = "",
) -> Judgement:
    """What one sample says about a criterion, before hysteresis."""
    detail = f": {reason}" if reason else ""
    if error is not None and error != NO_DATA_ERROR:
        return Judgement(Level.UNKNOWN, f"source error ({error}){detail}", Unknown.SOURCE_ERROR)
    if value is None or not math.isfinite(value) or error == NO_DATA_ERROR:
        why = reason or ("no value" if value is None or math.isnan(value) else f"value is {format_value(value, '')}")
        if c.no_data == "go":
            return Judgement(Level.GO, f"no data ({why}); counts as GO (no_data: go)", clears=True)
        if c.no_data == "nogo":
            return Judgement(Level.NOGO, f"no data ({why}); counts as NO-GO (no_data: nogo)", breach=True)
        return Judgement(Level.UNKNOWN, f"no data ({why})", Unknown.NO_DATA)
    if c.baseline_offset is not None and (before_baseline or baseline is None):
        moment = format_t_relative(c.baseline_offset)
        why = "not reached yet" if before_baseline else "no value was recorded at or before it"
        return Judgement(Level.UNKNOWN, f"no baseline: it is taken at {moment}, {why}", Unknown.NO_DATA)
    level = classify(c, value, baseline)
    shown = show(c, value, baseline)
    go = c.go_threshold
    if level == Level.ROLLBACK:
        tt = c.trigger_threshold
        assert tt is not None
        return Judgement(
            Level.ROLLBACK,
            f"{shown} meets rollback trigger {_bound_text(tt, baseline, c.unit)}",
            breach=True,
            trigger=True,
        )
    if level == Level.NOGO:
        return Judgement(Level.NOGO, f"{shown} misses {_bound_text(go, baseline, c.unit)}", breach=True)
    ct = c.clear_threshold
    clears = ct is None or ct.holds(value, baseline)
    if level == Level.WARN:
        wt = c.warn_threshold
        assert wt is not None
        return Judgement(
            Level.WARN,
            f"{shown} meets {_bound_text(go, baseline, c.unit)} but is outside the "
            f"warning band {_bound_text(wt, baseline, c.unit)}",
            clears=clears,
        )
    return Judgement(Level.GO, f"{shown} meets {_bound_text(go, baseline, c.unit)}", clears=clears)


@dataclass(slots=True)
class Tracker:
    """Hysteresis state of one criterion, advanced one sample at a time.

    `level` is what is shown; `held` is the confirmed state underneath it
    (GO while no breach is confirmed, else NO-GO or ROLLBACK), which an
    UNKNOWN sample does not change. `since` is when `level` last changed.
    """

    level: Level = Level.UNKNOWN
    unknown: Unknown | None = Unknown.NO_DATA
    reason: str = "no sample yet"
    since: float | None = None
    held: Level = Level.GO
    held_since: float | None = None
    pending: bool = False  # a breach is building but not confirmed: WARN, and not GO
    breach_run: int = 0
    breach_start: float | None = None
    trigger_run: int = 0
    trigger_start: float | None = None
    good_run: int = 0

    def _set(self, level: Level, reason: str, t: float, unknown: Unknown | None = None) -> None:
        if level != self.level or unknown != self.unknown:
            self.since = t
        self.level, self.reason, self.unknown = level, reason, unknown

    def _hold(self, level: Level, t: float) -> None:
        if level != self.held:
            self.held, self.held_since = level, t

    def step(self, c: Criterion, j: Judgement, t: float) -> None:
        if j.level == Level.UNKNOWN:
            self.breach_run = self.trigger_run = self.good_run = 0
            self.breach_start = self.trigger_start = None
            self.pending = False
            if self.held in BAD:
                assert j.unknown is not None
                self.reason = f"still {self.held.value}, no good sample since; latest: {j.unknown.value}: {j.reason}"
                return
            self._set(Level.UNKNOWN, j.reason, t, j.unknown)
            return
        if j.breach:
            self._breach(c, j, t)
            return
        self.breach_run = self.trigger_run = 0
        self.breach_start = self.trigger_start = None
        self.pending = False
        if self.held in BAD:
            self.good_run = self.good_run + 1 if j.clears else 0
            if self.good_run < c.clear_samples:
                extra = "" if j.clears else f", each meeting the clear threshold {c.clear}"
                self.reason = (
                    f"recovering: {self.good_run}/{c.clear_samples} consecutive good samples"
                    f"{extra} needed to clear; latest: {j.reason}"
                )
                return
            self._hold(Level.GO, t)
            self.good_run = 0
            self._set(j.level, f"{j.reason} (cleared after {c.clear_samples} good samples)", t)
            return
        self._set(j.level, j.reason, t)

    def _breach(self, c: Criterion, j: Judgement, t: float) -> None:
        self.good_run = 0
        self.breach_run += 1
        self.breach_start = self.breach_start if self.breach_start is not None else t
        if j.trigger:
            self.trigger_run += 1
            self.trigger_start = self.trigger_start if self.trigger_start is not None else t
        else:
            self.trigger_run, self.trigger_start = 0, None
        trig = c.trigger
        if self.held == Level.ROLLBACK or (
            trig is not None
            and j.trigger
            and _confirmed(self.trigger_run, trig.samples, self.trigger_start, trig.hold, t)
        ):
            self.pending = False
            self._hold(Level.ROLLBACK, t)
            why = j.reason if j.trigger else f"rollback trigger fired and has not cleared; now {j.reason}"
            self._set(Level.ROLLBACK, why, t)
            return
        if self.held == Level.NOGO or _confirmed(
            self.breach_run, c.breach_samples, self.breach_start, c.breach_hold, t
        ):
            self.pending = False
            self._hold(Level.NOGO, t)
            self._set(Level.NOGO, j.reason + self._pending_trigger(c), t)
            return
        self.pending = True
        self._set(Level.WARN, f"breach not confirmed yet ({self._progress(c, t)}): {j.reason}", t)

    def _progress(self, c: Criterion, t: float) -> str:
        parts = [f"{self.breach_run}/{c.breach_samples} samples"]
        if c.breach_hold:
            held = t - (self.breach_start if self.breach_start is not None else t)
            parts.append(f"held {format_duration(held)} of {format_duration(c.breach_hold)}")
        return ", ".join(parts)

    def _pending_trigger(self, c: Criterion) -> str:
        if c.trigger is None or self.trigger_run == 0:
            return ""
        parts = [f"{self.trigger_run}/{c.trigger.samples} samples"]
        if c.trigger.hold and self.trigger_start is not None:
            parts.append(f"hold {format_duration(c.trigger.hold)}")
        return f" (rollback trigger building: {', '.join(parts)})"


def _confirmed(run: int, samples: int, start: float | None, hold: float | None, t: float) -> bool:
    """N consecutive samples and, if a hold is set, breaching continuously for at least that long."""
    if run < samples:
        return False
    return hold is None or (start is not None and t - start >= hold)
