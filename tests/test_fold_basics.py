"""The fold turns samples into criterion states with hysteresis; the verdict lists its reasons."""

from __future__ import annotations

from warroom.core.rules import Level
from warroom.core.state import fold, view
from warroom.store.log import read_log


def test_breach_needs_consecutive_samples_and_clears_after_good_ones(demo_launch, log):
    t0 = demo_launch.t0
    for i, v in enumerate([320, 720, 330, 720, 730, 310, 300]):
        log.append("sample", {"criterion": "api-p95", "value": v, "t": t0 + 5 * i})
    st = fold(demo_launch, [])
    levels = []
    for ev in read_log(log.path).events:
        st.apply(ev)
        levels.append(st.criteria["api-p95"].level)
    # one blip (720 then 330) never confirms; two in a row do; two good samples clear
    assert levels == [Level.GO, Level.WARN, Level.GO, Level.WARN, Level.NOGO, Level.NOGO, Level.GO]


def test_unknown_is_never_go(demo_launch, log):
    for c in demo_launch.criteria:
        log.append("sample", {"criterion": c.id, "error": "timeout", "reason": "no answer in 5s", "t": demo_launch.t0})
    v = view(fold(demo_launch, read_log(log.path).events), demo_launch.t0 + 1)
    assert v.status != "GO"
    assert any("UNKNOWN: API latency P95: SOURCE-ERROR" in r for r in v.reasons)
