"""Go/no-go semantics, through the log and the fold: hysteresis, holds, clearing, no data,
baselines, precision, staleness, duplicates, and the verdict's reasons."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shown import read_back

from warroom.config import Launch, parse_launch
from warroom.core.events import SYSTEM, Actor
from warroom.core.rules import Level, Unknown
from warroom.core.state import LaunchState, fold, view
from warroom.core.units import format_value, parse_threshold
from warroom.store.log import DecisionLog, read_log

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
DANA = Actor("dana", "bastion", name="Dana (CTO)")


def make_launch(*criteria: str, roles: str = "", items: str = "", sources: str = "") -> Launch:
    """A launch with the given criteria (YAML list entries), on a simulated source `sim`."""
    text = textwrap.dedent("""\
        version: 1
        launch: {id: engine-test, name: Engine test, t0: 2027-01-15T08:00:00Z}
        roles:
          - {id: commander, title: Commander, members: [dana], commander: true}
        %ROLES%
        phases:
          - id: launch
            name: Launch
            at: -1d
            sections:
              - name: Deploy
                items:
                  - {id: deploy, text: Deploy to production}
        %ITEMS%
        sources:
          sim: {type: simulated, interval: 10s, timeout: 1s, signals: {x: {base: 1}}}
        %SOURCES%
        criteria:
        %CRITERIA%
        """)
    text = text.replace("%ROLES%", textwrap.indent(textwrap.dedent(roles), "  ").rstrip())
    text = text.replace("%ITEMS%", textwrap.indent(textwrap.dedent(items), "          ").rstrip())
    text = text.replace("%SOURCES%", textwrap.indent(textwrap.dedent(sources), "  ").rstrip())
    parts = [textwrap.dedent(c).strip("\n") for c in criteria]
    text = text.replace("%CRITERIA%", textwrap.indent("\n".join(parts) + "\n", "  "))
    return parse_launch(text, "engine-test.yaml")


LATENCY = """\
    - id: p95
      name: API latency P95
      source: sim
      query: x
      unit: ms
      go: "< 500ms"
      warn: "< 400ms"
      trigger: {when: "> 1s", samples: 2}
      breach_samples: 2
      clear_samples: 3
    """


class Run:
    """Samples appended to a real log, then folded event by event (the console's path)."""

    def __init__(self, launch: Launch, tmp: Path):
        self.launch = launch
        self.log = DecisionLog(tmp / "launch.jsonl", DANA)
        self.t = T0

    def sample(
        self,
        cid: str,
        value: float | str | None,
        *,
        error: str | None = None,
        reason: str = "",
        dt: float = 10.0,
        tick: int | None = None,
        t: float | None = None,
    ) -> None:
        self.t = t if t is not None else self.t + dt
        data = {"criterion": cid, "value": value, "error": error, "reason": reason, "t": self.t}
        if tick is not None:
            data["tick"] = tick
        self.log.append("sample", data, actor=SYSTEM)

    def series(self, cid: str, values: list[float | None], dt: float = 10.0) -> list[Level]:
        """Append `values` and return the criterion's level after each one."""
        start = len(read_log(self.log.path).events)
        for v in values:
            self.sample(cid, v, dt=dt)
        st = LaunchState(self.launch)
        levels = []
        for i, ev in enumerate(read_log(self.log.path).events):
            st.apply(ev)
            if i >= start:
                levels.append(st.criteria[cid].level)
        return levels

    def state(self) -> LaunchState:
        return fold(self.launch, read_log(self.log.path).events)

    def view(self, now: float | None = None):
        return view(self.state(), self.t + 1 if now is None else now)


@pytest.fixture
def run(tmp_path: Path):
    def make(launch: Launch) -> Run:
        return Run(launch, tmp_path)

    return make


G, W, N, R, U = Level.GO, Level.WARN, Level.NOGO, Level.ROLLBACK, Level.UNKNOWN


# ----------------------------------------------------------------------------- consecutive samples


def test_isolated_blips_never_add_up_to_a_breach(run):
    r = run(make_launch(LATENCY))
    # one breaching sample an hour, ten times: never two in a row, so never NO-GO
    values = [320, 720] * 10
    levels = r.series("p95", values)
    assert N not in levels and R not in levels
    assert levels[1::2] == [W] * 10  # each blip is a pending breach, shown as WARN


def test_breach_confirms_after_n_in_a_row_and_clears_after_m_good(run):
    r = run(make_launch(LATENCY))
    levels = r.series("p95", [320, 720, 730, 310, 300, 720, 310, 300, 305, 300])
    # 2 breaching confirm; 2 good do not clear (needs 3); a breach resets the good run; 3 good clear
    assert levels == [G, W, N, N, N, N, N, N, G, G]
    assert read_reason(r, "p95", upto=5).startswith(
        "recovering: 2/3 consecutive good samples needed to clear; latest: 300 ms meets < 500ms"
    )


def test_pending_breach_keeps_the_verdict_from_go(run):
    r = run(make_launch(LATENCY))
    r.series("p95", [320, 720])
    v = r.view()
    cv = v.criteria[0]
    assert cv.level == W and cv.pending and not cv.passing
    assert v.status == "PENDING"
    assert any(x.startswith("PENDING: API latency P95: breach not confirmed yet (1/2 samples)") for x in v.reasons)


def test_warning_band_alone_is_still_go(run):
    r = run(make_launch(LATENCY))
    r.series("p95", [450])
    v = r.view()
    assert v.criteria[0].level == W and not v.criteria[0].pending and v.criteria[0].passing
    assert v.status == "GO", v.reasons


def test_trigger_needs_its_own_consecutive_samples_and_stays_until_cleared(run):
    r = run(make_launch(LATENCY))
    levels = r.series("p95", [320, 1200, 1300, 700, 700, 320, 320, 320])
    # 1200 starts both runs; 1300 confirms the breach and the trigger (2 samples) -> ROLLBACK;
    # 700 no longer meets the trigger but the criterion has not cleared: stays ROLLBACK until 3 good
    assert levels == [G, W, R, R, R, R, R, G]
    v = r.view()
    assert v.status == "GO"


def test_rollback_verdict_and_reason(run):
    r = run(make_launch(LATENCY))
    r.series("p95", [1200, 1300])
    v = r.view()
    assert v.status == "ROLLBACK"
    assert v.reasons[0] == "ROLLBACK trigger: API latency P95: 1.3 s meets rollback trigger > 1s"


# ----------------------------------------------------------------------------- hold durations


HOLD = """\
    - id: err
      name: Error rate
      source: sim
      query: x
      unit: "%"
      go: "< 1%"
      breach_hold: 60s
      trigger: {when: "> 5%", hold: 2m}
    """


def test_breach_hold_counts_time_breaching_continuously(run):
    r = run(make_launch(HOLD))
    levels = r.series("err", [0.5, 2, 2, 2, 2, 2, 2, 2], dt=15)
    # first breach at t=30; confirmed once 60 s of continuous breach have passed (t=90)
    assert levels == [G, W, W, W, W, N, N, N]
    assert "held 45 s of 1 min" in read_reason(r, "err", upto=5)


def read_reason(r: Run, cid: str, upto: int) -> str:
    st = LaunchState(r.launch)
    for ev in read_log(r.log.path).events[:upto]:
        st.apply(ev)
    return st.criteria[cid].tracker.reason


def test_a_good_sample_restarts_the_hold(run):
    r = run(make_launch(HOLD))
    levels = r.series("err", [2, 2, 2, 0.5, 2, 2, 2, 2, 2], dt=15)
    assert levels == [W, W, W, G, W, W, W, W, N]


def test_trigger_hold(run):
    r = run(make_launch(HOLD))
    levels = r.series("err", [9] * 10, dt=15)
    # breach confirmed after 60 s (NO-GO), trigger after 120 s of meeting it (ROLLBACK)
    assert levels == [W, W, W, W, N, N, N, N, R, R]
    assert "rollback trigger building" in read_reason(r, "err", upto=6)


# ----------------------------------------------------------------------------- clear threshold


def test_separate_clear_threshold(run):
    launch = make_launch("""\
        - id: cpu
          name: Database CPU
          source: sim
          query: x
          unit: "%"
          go: "< 80%"
          clear: "< 70%"
          clear_samples: 2
        """)
    r = run(launch)
    levels = r.series("cpu", [85, 75, 75, 75, 65, 69, 75])
    # once NO-GO, 75% meets go but not clear: stays NO-GO; two samples under 70% clear it
    assert levels == [N, N, N, N, N, G, G]
    assert "clear threshold < 70%" in read_reason(r, "cpu", upto=3)


# ----------------------------------------------------------------------------- unknown and no data


def test_unknown_never_clears_a_confirmed_breach(run):
    r = run(make_launch(LATENCY))
    r.series("p95", [720, 730])
    r.sample("p95", None, error="timeout", reason="no answer within 2s")
    st = r.state()
    assert st.criteria["p95"].level == N
    assert "latest: SOURCE-ERROR: source error (timeout): no answer within 2s" in st.criteria["p95"].tracker.reason
    levels = r.series("p95", [320, 320, 320])
    assert levels == [N, N, G]  # recovery starts again after the gap: 3 consecutive good samples


def test_unknown_breaks_runs(run):
    r = run(make_launch(LATENCY))
    for v in (720, None, 720):
        r.sample("p95", v, error=None if v else "connection", reason="" if v else "refused")
    assert r.state().criteria["p95"].level == W  # 720, gap, 720: not two in a row


@pytest.mark.parametrize(
    ("value", "error", "reason", "kind", "words"),
    [
        (
            None,
            "no-data",
            "query returned an empty vector",
            Unknown.NO_DATA,
            "NO-DATA: no data (query returned an empty",
        ),
        ("NaN", None, "", Unknown.NO_DATA, "NO-DATA: no data (no value)"),
        (
            None,
            "timeout",
            "no answer from http://p:9090 within 2s",
            Unknown.SOURCE_ERROR,
            "SOURCE-ERROR: source error (timeout): no answer",
        ),
        (None, "bad-query", "parse error at char 5", Unknown.SOURCE_ERROR, "SOURCE-ERROR: source error (bad-query)"),
    ],
)
def test_unknown_says_which_and_why_and_is_never_go(run, value, error, reason, kind, words):
    r = run(make_launch(LATENCY))
    r.sample("p95", value, error=error, reason=reason)
    v = r.view()
    cv = v.criteria[0]
    assert cv.level == U and cv.unknown == kind
    assert cv.reason.startswith(words), cv.reason
    assert v.status != "GO"
    assert any(x.startswith("UNKNOWN: API latency P95: " + kind.value) for x in v.reasons)


def test_no_data_counts_only_as_the_config_says(run):
    launch = make_launch("""\
        - {id: quiet, name: Quiet error rate, source: sim, query: x, unit: "%", go: "< 1%", no_data: go}
        - {id: strict, name: Strict error rate, source: sim, query: x, unit: "%", go: "< 1%", no_data: nogo}
        - {id: plain, name: Plain error rate, source: sim, query: x, unit: "%", go: "< 1%"}
        """)
    r = run(launch)
    for cid in ("quiet", "strict", "plain"):
        r.sample(cid, None, error="no-data", reason="query returned NaN (0/0)", dt=0)
    by = {c.criterion.id: c for c in r.view().criteria}
    assert by["quiet"].level == G and "counts as GO (no_data: go)" in by["quiet"].reason
    assert by["strict"].level == N and "counts as NO-GO (no_data: nogo)" in by["strict"].reason
    assert by["plain"].level == U
    # no_data: go never hides a source that is down
    r.sample("quiet", None, error="connection", reason="refused")
    assert r.view().criteria[0].level == U


# ----------------------------------------------------------------------------- staleness


def test_stale_value_is_unknown_with_its_age(run):
    launch = make_launch("""\
        - {id: c, name: Crash-free, source: sim, query: x, unit: "%", go: ">= 99.8%", stale_after: 30s}
        - {id: d, name: Default limit, source: sim, query: x, unit: "%", go: ">= 99.8%"}
        """)
    r = run(launch)
    r.sample("c", 99.9, dt=0)
    r.sample("d", 99.9, dt=0)
    assert r.view(now=r.t + 29).criteria[0].level == G
    late = r.view(now=r.t + 45)
    c, d = late.criteria
    assert c.level == U and c.unknown == Unknown.STALE
    assert c.reason == "STALE: last sample is 45 s old (limit 30 s)"
    # without stale_after: three 10 s intervals plus the 1 s timeout
    assert d.unknown == Unknown.STALE and "(limit 31 s)" in d.reason
    assert r.view(now=r.t + 30).criteria[1].level == G


def test_silence_does_not_clear_a_breach(run):
    launch = make_launch("""\
        - {id: c, name: Crash-free, source: sim, query: x, unit: "%", go: ">= 99.8%", stale_after: 30s}
        """)
    r = run(launch)
    r.sample("c", 99.0)
    cv = r.view(now=r.t + 120).criteria[0]
    assert cv.level == N and cv.reason == "99.00% misses >= 99.8%; last sample is 2 min old (limit 30 s)"


# ----------------------------------------------------------------------------- baselines


REL = """\
    - id: p95
      name: API latency P95
      source: sim
      query: x
      unit: ms
      go: "<= +10% of T-1h"
    """


def test_relative_threshold_uses_the_value_at_the_named_moment(run):
    r = run(make_launch(REL))
    moment = T0 - 3600
    r.sample("p95", 300, t=moment - 600)
    r.sample("p95", 400, t=moment - 5)  # the last value at or before T-1h is the baseline
    assert r.view().criteria[0].unknown == Unknown.NO_DATA  # no judgement before the moment
    r.sample("p95", 430, t=moment + 60)
    cv = r.view().criteria[0]
    assert cv.level == G and cv.reason == "430 ms meets <= +10% of T-1h (= <= 440 ms)"
    r.sample("p95", 441, t=moment + 70)
    cv = r.view().criteria[0]
    assert cv.level == N and "misses <= +10% of T-1h (= <= 440 ms)" in cv.reason


def test_relative_threshold_without_baseline_is_unknown_in_words(run):
    r = run(make_launch(REL))
    r.sample("p95", 300, t=T0)
    cv = r.view().criteria[0]
    assert cv.level == U and cv.unknown == Unknown.NO_DATA
    assert cv.reason == "NO-DATA: no baseline: it is taken at T-01:00:00, no value was recorded at or before it"


def test_baseline_sample_sets_the_baseline_without_judging(run):
    r = run(make_launch(REL))
    r.log.append(
        "sample",
        {"criterion": "p95", "value": 400, "error": None, "reason": "", "t": T0 - 3600, "baseline": True},
        actor=SYSTEM,
    )
    st = r.state()
    assert st.criteria["p95"].baseline == 400 and st.criteria["p95"].samples == 0
    r.sample("p95", 500, t=T0)
    assert r.view().criteria[0].level == N


# ----------------------------------------------------------------------------- duplicates


def test_a_repeated_tick_is_ignored(run):
    r = run(make_launch(LATENCY))
    r.sample("p95", 320, tick=5)
    r.sample("p95", 720, tick=6)
    r.sample("p95", 720, tick=6)  # a second recorder's copy of slot 6
    r.sample("p95", 320, tick=7)
    cs = r.state().criteria["p95"]
    assert cs.duplicates == 1 and cs.samples == 3
    assert cs.level == G  # the copy did not count as a second consecutive breach


# ----------------------------------------------------------------------------- precision


def test_a_miss_is_never_shown_as_a_pass(run):
    launch = make_launch("""\
        - {id: c, name: Crash-free, source: sim, query: x, unit: "%", go: ">= 99.8%", trigger: {when: "< 99.5%"}}
        """)
    r = run(launch)
    r.sample("c", 99.79)
    cv = r.view().criteria[0]
    assert cv.shown == "99.79%" and cv.level == N
    r.sample("c", 99.7999)
    assert r.view().criteria[0].shown == "99.7999%"
    r.sample("c", 99.49999)
    assert r.view().criteria[0].shown == "99.49999%"  # beside the trigger too


@settings(max_examples=300, deadline=None)
@given(
    value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    bound=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    unit=st.sampled_from(["%", "ms", "s", "", "ratio", "count", "MB"]),
    op=st.sampled_from([">=", ">", "<=", "<", "==", "!="]),
)
def test_shown_value_reads_on_the_same_side_of_the_threshold(value, bound, unit, op):
    shown = format_value(value, unit, bound)
    number = read_back(shown, unit)
    th = parse_threshold(f"{op} {bound!r}", unit)
    assert th.holds(number) == th.holds(value), (value, bound, shown)


@settings(max_examples=300, deadline=None)
@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    bound=st.floats(allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(["%", "ms", "s", "", "ratio", "count", "MB"]),
    op=st.sampled_from([">=", ">", "<=", "<", "==", "!="]),
)
def test_any_finite_value_is_shown_compactly_and_on_the_same_side_of_the_threshold(value, bound, unit, op):
    shown = format_value(value, unit, bound)
    number = read_back(shown, unit)
    th = parse_threshold(f"{op} {bound!r}", unit)
    assert th.holds(number) == th.holds(value), (value, bound, shown)
    assert len(shown) <= 40, shown  # 1e308 once came out as a 309-digit integer and pushed the columns off


def test_a_huge_metric_value_reads_like_a_number_in_the_table(run):
    launch = make_launch("""\
        - {id: c, name: Latency, source: sim, query: x, unit: ms, go: "<= 200ms"}
        """)
    r = run(launch)
    r.sample("c", 1e308)
    cv = r.view().criteria[0]
    assert cv.shown == "1.0e308 ms" and cv.level == N


# ----------------------------------------------------------------------------- the verdict


SIGNOFFS = """\
    - {id: cto, title: CTO, members: [dana], signoff: required}
    - {id: pm, title: Product, members: [pat], signoff: optional}
    """


def test_verdict_is_go_only_when_everything_is(run):
    launch = make_launch(
        LATENCY,
        """\
    - {id: cpu, name: Database CPU, source: sim, query: x, unit: "%", go: "< 80%", required: false}
    """,
        roles=SIGNOFFS,
        items="- {id: smoke, text: Smoke tests pass, critical: true}",
    )
    r = run(launch)
    r.sample("p95", 320)
    v = r.view()
    assert v.status == "PENDING"
    assert "critical item open (Launch): Smoke tests pass" in v.reasons
    assert "sign-off pending: CTO" in v.reasons
    r.log.append("check", {"item": "smoke"})
    r.log.append("signoff", {"role": "cto", "verdict": "GO", "reason": "", "snapshot": {}})
    v = r.view()
    # the advisory criterion has no sample: listed, but not what keeps the verdict from GO
    assert v.status == "GO", v.reasons
    assert v.reasons[0].startswith("every required criterion is GO")
    assert "advisory UNKNOWN: Database CPU: NO-DATA: no sample yet" in v.reasons
    r.sample("cpu", 95)
    v = r.view()
    assert v.status == "GO" and "advisory NO-GO: Database CPU: 95.00% misses < 80%" in v.reasons


def test_verdict_lists_every_reason(run):
    launch = make_launch(
        LATENCY,
        """\
    - {id: err, name: Error rate, source: sim, query: x, unit: "%", go: "< 1%"}
    - {id: cfur, name: Crash-free, source: sim, query: x, unit: "%", go: ">= 99.8%"}
    """,
        roles=SIGNOFFS,
        items="- {id: smoke, text: Smoke tests pass, critical: true}",
    )
    r = run(launch)
    r.series("p95", [720, 730])
    r.sample("err", None, error="connection", reason="cannot connect to http://127.0.0.1:9: refused")
    r.sample("cfur", 99.0)
    v = r.view()
    assert v.status == "NO-GO"
    assert v.reasons == (
        "NO-GO: API latency P95: 730 ms misses < 500ms",
        "NO-GO: Crash-free: 99.00% misses >= 99.8%",
        "UNKNOWN: Error rate: SOURCE-ERROR: source error (connection): cannot connect to http://127.0.0.1:9: refused",
        "critical item open (Launch): Smoke tests pass",
        "sign-off pending: CTO",
    )


def test_values_stay_finite_in_views(run):
    r = run(make_launch(LATENCY))
    r.sample("p95", "+Inf")
    cv = r.view().criteria[0]
    assert cv.level == U and cv.shown == "—"
    assert math.isinf(cv.value or 0)
