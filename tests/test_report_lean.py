"""The lean fold (report and replay) reaches exactly the states the full fold does, sample by sample.

The lean fold skips judge() for a sample that leaves a steady criterion
where it is and words its reason only when someone looks; these tests fold
random sample streams over every shipped config (plus one with a baseline
threshold and no_data rules) both ways and compare every criterion view.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from recorded import record_launch

from warroom.config import load_launch, parse_launch
from warroom.core.events import SYSTEM, Event
from warroom.core.state import LaunchState, criterion_view, view
from warroom.store.log import iter_events

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

BASELINE = """
version: 1
launch: {id: lean, name: Lean, t0: 2026-01-01T12:00:00Z}
roles: [{id: lead, title: Lead, members: [dana]}]
phases: [{id: go, name: Go, at: 0s}]
sources: {sim: {type: simulated, signals: {a: {base: 1}, b: {base: 1}, c: {base: 1}}}}
criteria:
  - {id: rel, name: Relative, source: sim, query: a, unit: ms, go: "<= +10% of T-1h", warn: "<= +5% of T-1h",
     breach_samples: 2, clear_samples: 3}
  - {id: quiet, name: Quiet, source: sim, query: b, unit: "%", go: ">= 99%", no_data: go, clear: ">= 99.5%",
     trigger: {when: "< 95%", samples: 2, hold: 20s}}
  - {id: strict, name: Strict, source: sim, query: c, unit: "%", go: "< 1%", warn: "< 0.5%", no_data: nogo,
     breach_hold: 15s}
"""


def stream(launch, n: int, seed: int) -> list[Event]:
    """Samples around each criterion's thresholds, with errors, no data, NaN, repeats and baseline moments."""
    rng = random.Random(seed)
    out = []
    t = launch.t0 - 2 * 3600
    for seq in range(1, n + 1):
        c = rng.choice(launch.criteria)
        go = c.go_threshold
        centre = go.value if go.relative_to is None else 300.0 * (1 + go.value / 100)
        scale = abs(centre) * 0.08 or 1.0
        roll = rng.random()
        data: dict = {"criterion": c.id, "t": t}
        if roll < 0.03:
            data.update(value=None, error="timeout", reason="no answer")
        elif roll < 0.05:
            data.update(value=None, error="no-data")
        elif roll < 0.06:
            data.update(value="NaN")
        else:
            # mostly long quiet runs near the centre (where the lean path acts), sometimes a swing across
            spread = scale * (3 if rng.random() < 0.15 else 0.4)
            v = (300.0 if go.relative_to is not None else centre - scale) + rng.uniform(-spread, spread)
            data["value"] = round(v, rng.choice([0, 2, 4]))
        if rng.random() < 0.01:
            data["baseline"] = True
        out.append(Event(1, seq, t, SYSTEM, "sample", data))
        t += rng.choice([0.5, 1.0, 5.0, 30.0])
    return out


def same(a: LaunchState, b: LaunchState, now: float) -> None:
    """Equal in every field and view (compared as text, so a NaN value equals a NaN value)."""
    for c in a.launch.criteria:
        va, vb = criterion_view(c, a.criteria[c.id], now), criterion_view(c, b.criteria[c.id], now)
        assert repr(va) == repr(vb), c.id
    assert repr(a) == repr(b)
    assert repr(view(a, now)) == repr(view(b, now))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("source", [*CONFIGS, "baseline"], ids=lambda s: getattr(s, "stem", s))
def test_lean_fold_equals_full_fold(source, seed):
    launch = parse_launch(BASELINE) if source == "baseline" else load_launch(source)
    full, lean = LaunchState(launch), LaunchState(launch, lean=True)
    skipped = 0
    for i, ev in enumerate(stream(launch, 3000, seed)):
        full.apply(ev)
        lean.apply(ev)
        skipped += any(cs.unworded is not None for cs in lean.criteria.values())
        if i % 37 == 0:
            same(full, lean, ev.ts + 1)
    same(full, lean, ev.ts + 60)
    assert skipped > 300  # the lean path was actually taken, often


def test_lean_fold_on_a_recorded_launch(tmp_path):
    rec = record_launch(tmp_path / "r.jsonl", until="3h")
    full, lean = LaunchState(rec.launch), LaunchState(rec.launch, lean=True)
    moments = {w.seq for w in rec.human}
    for ev in iter_events(rec.path):
        full.apply(ev)
        lean.apply(ev)
        if ev.seq in moments:
            same(full, lean, ev.ts)
    same(full, lean, rec.end)
