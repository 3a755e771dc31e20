"""Criterion rules: judging one sample, and the hysteresis that turns samples into a state.

Pure: no clock, no I/O. Times are the samples' own times (seconds since the
epoch), so live, replay and report compute identical states.

Semantics, in the words a commander would use:
- a single sample is judged GO, WARN (inside the warning band), NO-GO (misses
  `go`), ROLLBACK (meets the trigger's `when`) or UNKNOWN (no data, source
  error); NaN and +-Inf are no data;
- a breach counts only after `breach_samples` consecutive breaching samples
  and, if set, after breaching continuously for `breach_hold`; a trigger the
  same with its own `samples`/`hold`;
- a confirmed breach clears only after `clear_samples` consecutive good
  samples (meeting `clear` if given, else `go`);
- an UNKNOWN sample breaks every run: it neither confirms nor clears a breach
  and never fires a trigger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from warroom.config import Criterion
from warroom.units import Threshold, format_value


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
    NO_BASELINE = "NO-BASELINE"


# How bad a level is, for "got worse since the sign-off" and sorting.
RANK = {Level.GO: 0, Level.WARN: 1, Level.UNKNOWN: 2, Level.NOGO: 3, Level.ROLLBACK: 4}
ERROR_KINDS = {"no-data": Unknown.NO_DATA}


@dataclass(frozen=True, slots=True)
class Judgement:
    level: Level
    reason: str
    unknown: Unknown | None = None


def _bound_text(th: Threshold, baseline: float | None, unit: str) -> str:
    if th.relative_to is None or baseline is None:
        return th.text
    bound = baseline * (1 + th.value / 100)
    return f"{th.text} = {th.op} {format_value(bound, unit)}"


def judge(c: Criterion, value: float | None, error: str | None = None, baseline: float | None = None,
          before_baseline: bool = False) -> Judgement:
    """What one sample says about a criterion, before hysteresis."""
    if error is not None and error != "no-data":
        return Judgement(Level.UNKNOWN, f"source error: {error}", Unknown.SOURCE_ERROR)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        why = "no data" if value is None else f"value is {format_value(value, c.unit)}"
        if error == "no-data" or value is None or not math.isfinite(value):
            if c.no_data == "go":
                return Judgement(Level.GO, f"{why}; counts as GO (no_data: go)")
            if c.no_data == "nogo":
                return Judgement(Level.NOGO, f"{why}; counts as NO-GO (no_data: nogo)")
            return Judgement(Level.UNKNOWN, why, Unknown.NO_DATA)
    assert value is not None
    thresholds = [c.go_threshold, c.warn_threshold, c.trigger_threshold, c.clear_threshold]
    if any(t is not None and t.relative_to is not None for t in thresholds) and (before_baseline or baseline is None):
        return Judgement(Level.UNKNOWN, "baseline not taken yet", Unknown.NO_BASELINE)
    shown = format_value(value, c.unit, c.go_threshold.value if c.go_threshold.relative_to is None else None)
    tt = c.trigger_threshold
    if tt is not None and tt.holds(value, baseline):
        return Judgement(Level.ROLLBACK, f"{shown} meets rollback trigger {_bound_text(tt, baseline, c.unit)}")
    if not c.go_threshold.holds(value, baseline):
        return Judgement(Level.NOGO, f"{shown} misses {_bound_text(c.go_threshold, baseline, c.unit)}")
    wt = c.warn_threshold
    if wt is not None and not wt.holds(value, baseline):
        return Judgement(Level.WARN, f"{shown} meets {c.go} but is outside the warning band {wt.text}")
    return Judgement(Level.GO, f"{shown} meets {_bound_text(c.go_threshold, baseline, c.unit)}")


@dataclass(slots=True)
class Tracker:
    """Hysteresis state of one criterion, advanced one sample at a time."""

    level: Level = Level.UNKNOWN
    unknown: Unknown | None = Unknown.NO_DATA
    reason: str = "no sample yet"
    since: float | None = None
    breach_run: int = 0
    breach_start: float | None = None
    trigger_run: int = 0
    trigger_start: float | None = None
    good_run: int = 0

    def _set(self, level: Level, reason: str, t: float, unknown: Unknown | None = None) -> None:
        if level != self.level or unknown != self.unknown:
            self.since = t
        self.level, self.reason, self.unknown = level, reason, unknown

    def step(self, c: Criterion, j: Judgement, t: float, value: float | None, baseline: float | None) -> None:
        if j.level == Level.UNKNOWN:
            self.breach_run = self.trigger_run = self.good_run = 0
            self.breach_start = self.trigger_start = None
            self._set(Level.UNKNOWN, j.reason, t, j.unknown)
            return
        confirmed_bad = self.level in (Level.NOGO, Level.ROLLBACK)
        if j.level in (Level.NOGO, Level.ROLLBACK):
            self.good_run = 0
            self.breach_run += 1
            self.breach_start = self.breach_start if self.breach_start is not None else t
            if j.level == Level.ROLLBACK:
                self.trigger_run += 1
                self.trigger_start = self.trigger_start if self.trigger_start is not None else t
            else:
                self.trigger_run, self.trigger_start = 0, None
            trig = c.trigger
            if (j.level == Level.ROLLBACK and trig is not None and self.trigger_run >= trig.samples
                    and (trig.hold is None or t - (self.trigger_start or t) >= trig.hold)):
                self._set(Level.ROLLBACK, j.reason, t)
                return
            if confirmed_bad or (self.breach_run >= c.breach_samples
                                 and (c.breach_hold is None or t - (self.breach_start or t) >= c.breach_hold)):
                if self.level == Level.ROLLBACK and j.level == Level.ROLLBACK:
                    self.reason = j.reason
                    return
                self._set(Level.NOGO, j.reason + _pending_trigger(c, self), t)
                return
            need = f"{self.breach_run}/{c.breach_samples} samples"
            if c.breach_hold:
                need += f", {t - (self.breach_start or t):.0f}s/{c.breach_hold:.0f}s held"
            self._set(Level.WARN, f"breach not confirmed yet ({need}): {j.reason}", t)
            return
        # a good sample (GO or WARN)
        self.breach_run = self.trigger_run = 0
        self.breach_start = self.trigger_start = None
        ct = c.clear_threshold
        counts = value is not None and (ct is None or ct.holds(value, baseline))
        self.good_run = self.good_run + 1 if counts else 0
        if confirmed_bad and self.good_run < c.clear_samples:
            extra = "" if counts else f" (must meet clear threshold {c.clear})"
            self.reason = f"recovering ({self.good_run}/{c.clear_samples} good samples){extra}: {j.reason}"
            return
        self._set(j.level, j.reason, t)


def _pending_trigger(c: Criterion, tr: Tracker) -> str:
    if c.trigger is None or tr.trigger_run == 0:
        return ""
    return f" (rollback trigger {tr.trigger_run}/{c.trigger.samples} samples)"
