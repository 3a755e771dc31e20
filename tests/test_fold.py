"""The pure fold from events to launch state, and the verdict view of it.

A small launch is defined here (not the demo, which is tuned for the console)
so every number below can be checked by hand. Events are built in memory; the
determinism tests also go through a real log file.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.config import Launch, parse_launch
from warroom.core.events import GENESIS, Actor, Event
from warroom.core.rules import Level
from warroom.core.state import LaunchState, fold, snapshot, view
from warroom.store.log import DecisionLog, read_log

LAUNCH = """
version: 1
launch: {id: fold-test, name: Fold test, t0: 2026-03-01T12:00:00Z}
roles:
  - {id: commander, title: Launch Commander, members: [root], commander: true}
  - {id: cto, title: CTO, members: [dana], signoff: required}
  - {id: sec, title: Security Lead, members: [sam], signoff: required}
  - {id: pm, title: Product Manager, members: [pat], signoff: optional}
authority: {ticks: any-role}  # the CTO ticks the whole list in these tests
phases:
  - id: pre
    name: Pre-launch
    at: -1d
    sections:
      - name: Security
        items:
          - {id: secrets, text: Secrets moved, owner: sec, critical: true}
          - {id: pentest, text: Pen test done, owner: sec}
  - id: t-1h
    name: T-1 hour
    at: -1h
    sections:
      - name: Readiness
        items:
          - {id: team, text: Team assembled, owner: commander, critical: true}
          - {id: errors-ok, text: Error rate healthy, owner: cto, critical: true, criterion: error-rate}
  - id: t-0
    name: Launch
    at: 0s
    sections:
      - name: Deploy
        items:
          - {id: deploy, text: Deploy to production, owner: cto, critical: true}
sources:
  prom: {type: prometheus, url: "http://127.0.0.1:9090"}
criteria:
  - {id: error-rate, name: Error rate, source: prom, query: errors, unit: "%", go: "< 1%",
     trigger: {when: "> 5%", samples: 2}, stale_after: 60s}
  - {id: p95, name: Latency P95, source: prom, query: p95, unit: ms, go: "< 500ms", warn: "< 400ms",
     breach_samples: 2, clear_samples: 2, stale_after: 60s}
  - {id: disk, name: Disk, source: prom, query: disk, unit: "%", go: "< 90%", required: false, stale_after: 60s}
rollback:
  allowed_roles: [commander, cto]
  steps:
    - {name: Undo, run: [kubectl, rollout, undo, deployment/app]}
    - {name: Wait, run: [kubectl, rollout, status, deployment/app]}
"""

CTO = Actor("dana", "bastion", "10.0.0.7", "Dana")
SEC = Actor("sam", "bastion", None, "Sam")
CMD = Actor("root", "bastion", None, "Commander")
SYS = Actor("warroom", "-", None, "recorder")


@pytest.fixture(scope="module")
def launch() -> Launch:
    return parse_launch(LAUNCH, "fold-test.yaml")


class Log:
    """Events in memory, numbered and timed like a real log (the fold does not check the chain)."""

    def __init__(self, launch: Launch, start: float = -2 * 86400):
        self.t0 = launch.t0
        self.t = self.t0 + start
        self.events: list[Event] = []

    def at(self, offset: float) -> Log:
        self.t = self.t0 + offset
        return self

    def add(self, kind: str, actor: Actor = SYS, **data: Any) -> Event:
        self.t += 1
        ev = Event(1, len(self.events) + 1, self.t, actor, kind, data, GENESIS, f"h{len(self.events) + 1}")
        self.events.append(ev)
        return ev

    def sample(self, criterion: str, value: float | None, error: str | None = None) -> Event:
        return self.add("sample", criterion=criterion, value=value, error=error, reason="", t=self.t + 1)

    def green(self) -> None:
        for cid, v in (("error-rate", 0.2), ("p95", 300.0), ("disk", 40.0)):
            self.sample(cid, v)


def _all_done(log: Log) -> None:
    for item in ("secrets", "pentest", "team", "deploy"):
        log.add("check", CTO, item=item)


# ------------------------------------------------------------------ checklist


def test_checklist_progress_per_phase_and_critical_items_due(launch):
    log = Log(launch)
    log.add("check", SEC, item="secrets")
    log.add("check", CMD, item="team")
    log.add("check", CMD, item="deploy")
    log.add("uncheck", CMD, item="deploy")
    st = fold(launch, log.events)
    assert st.items["secrets"].done and st.items["secrets"].by == "Sam (sam@bastion)"
    assert not st.items["deploy"].done and st.items["deploy"].by == "Commander (root@bastion)"

    before = view(st, launch.t0 - 2 * 3600)  # in the pre-launch phase
    progress = {p.id: (p.done, p.total, p.critical_open, p.due, p.current) for p in before.phases}
    assert progress == {"pre": (1, 2, 0, True, True), "t-1h": (1, 2, 1, False, False), "t-0": (0, 1, 1, False, False)}
    assert (before.done, before.total) == (2, 5) and before.phase_id == "pre"
    assert not any("critical item open" in r for r in before.reasons)  # nothing critical is due yet

    at_t0 = view(st, launch.t0 + 60)
    assert at_t0.phase_name == "Launch" and at_t0.clock == "T+00:01:00"
    assert "critical item open (Launch): Deploy to production" in at_t0.reasons
    assert "critical item open (T-1 hour): Error rate healthy" in at_t0.reasons  # linked, no sample yet
    assert at_t0.items_done == frozenset({"secrets", "team"})


def test_unknown_items_and_kinds_are_ignored_not_fatal(launch):
    log = Log(launch)
    log.add("check", CTO, item="no-such-item")
    log.add("future-kind", CTO, anything=[1, 2])
    st = fold(launch, log.events)
    assert st.seq == 2 and all(not s.done for s in st.items.values())


def test_linked_item_ticks_with_its_criterion_not_by_hand(launch):
    log = Log(launch)
    log.add("check", CTO, item="errors-ok")  # a hand tick does not count for a linked item
    st = fold(launch, log.events)
    assert "errors-ok" not in view(st, log.t).items_done
    fold(launch, [log.sample("error-rate", 0.3)], st)
    assert "errors-ok" in view(st, log.t).items_done
    fold(launch, [log.sample("error-rate", 2.0)], st)  # misses go (< 1%)
    v = view(st, launch.t0 + 60)
    assert v.criteria[0].level == Level.NOGO  # a confirmed breach is not cleared by going stale
    assert "errors-ok" not in v.items_done
    assert "critical item open (T-1 hour): Error rate healthy" in v.reasons
    assert "errors-ok" not in view(st, log.t).items_done
    # stale data un-ticks it too: unknown is never done
    fold(launch, [log.sample("error-rate", 0.3)], st)
    assert "errors-ok" in view(st, st.criteria["error-rate"].t + 30).items_done
    assert "errors-ok" not in view(st, st.criteria["error-rate"].t + 61).items_done


# ------------------------------------------------------------------ criteria


def test_breach_confirmation_warn_band_and_trigger(launch):
    log = Log(launch)
    st = fold(launch, [log.sample("p95", 450.0)])
    assert st.criteria["p95"].level == Level.WARN  # inside go, outside the warning band
    assert view(st, log.t).criteria[1].passing
    fold(launch, [log.sample("p95", 700.0)], st)
    cv = view(st, log.t).criteria[1]
    assert cv.level == Level.WARN and cv.pending and not cv.passing  # one breaching sample of two
    fold(launch, [log.sample("p95", 720.0)], st)
    assert st.criteria["p95"].level == Level.NOGO
    assert st.alerts["criterion:p95"].firing and st.alerts["criterion:p95"].severity == "critical"
    fold(launch, [log.sample("p95", 300.0), log.sample("p95", 310.0)], st)  # two good samples clear it
    assert st.criteria["p95"].level == Level.GO and not st.alerts["criterion:p95"].firing

    fold(launch, [log.sample("error-rate", 7.0)], st)
    assert st.criteria["error-rate"].level != Level.ROLLBACK  # trigger needs two samples
    fold(launch, [log.sample("error-rate", 8.0)], st)
    v = view(st, log.t)
    assert st.criteria["error-rate"].level == Level.ROLLBACK and v.status == "ROLLBACK"
    assert v.reasons[0].startswith("ROLLBACK trigger: Error rate: ")
    assert v.criteria[0].trigger_breached and v.criteria[0].shown.startswith("8")


def test_missing_erroring_nan_and_stale_data_is_unknown_never_go(launch):
    log = Log(launch)
    st = fold(launch, [], LaunchState(launch))
    v = view(st, launch.t0)
    assert {c.criterion.id: c.level for c in v.criteria} == {
        "error-rate": Level.UNKNOWN,
        "p95": Level.UNKNOWN,
        "disk": Level.UNKNOWN,
    }
    assert "UNKNOWN: Error rate: NO-DATA: no sample yet" in v.reasons
    fold(
        launch,
        [
            log.sample("error-rate", None, "timeout"),
            log.sample("p95", float("nan")),
            log.sample("disk", None, "no-data"),
        ],
        st,
    )
    v = view(st, log.t)
    assert [c.level for c in v.criteria] == [Level.UNKNOWN] * 3 and v.status != "GO"
    assert any(r.startswith("UNKNOWN: Error rate: SOURCE-ERROR") for r in v.reasons)
    fold(launch, [log.sample("error-rate", 0.1), log.sample("p95", 200.0)], st)
    assert view(st, log.t).criteria[0].level == Level.GO
    late = view(st, log.t + 120)
    assert late.criteria[0].level == Level.UNKNOWN and "STALE" in late.criteria[0].reason
    assert late.status != "GO"


# ------------------------------------------------------------------ sign-offs, decisions, notes


def test_signoffs_pending_given_stale_and_nogo(launch):
    log = Log(launch).at(-600)
    _all_done(log)
    log.green()
    st = fold(launch, log.events)
    v = view(st, log.t)
    assert v.status == "PENDING"
    assert "sign-off pending: CTO" in v.reasons and "sign-off pending: Security Lead" in v.reasons
    assert not any("Product Manager" in r for r in v.reasons)  # optional roles never block

    snap = snapshot(st, log.t)
    assert snap["p95"] == {"level": "GO", "value": 300.0, "shown": snap["p95"]["shown"]}
    fold(
        launch,
        [
            log.add("signoff", CTO, role="cto", verdict="GO", reason="ship it", snapshot=snap),
            log.add("signoff", SEC, role="sec", verdict="GO", snapshot=snap),
        ],
        st,
    )
    v = view(st, log.t)
    assert v.status == "GO", v.reasons
    assert v.reasons == ("every required criterion is GO, due critical items are done, all sign-offs given",)
    cto = next(s for s in v.signoffs if s.role == "cto")
    assert cto.signoff.by == "Dana (dana@bastion)" and cto.signoff.reason == "ship it" and not cto.stale

    fold(launch, [log.sample("p95", 450.0)], st)  # GO -> WARN after the sign-offs
    v = view(st, log.t)
    cto = next(s for s in v.signoffs if s.role == "cto")
    assert cto.stale and "Latency P95 GO -> WARN" in cto.stale_reason
    assert v.status == "PENDING" and any(r.startswith("sign-off by CTO is stale") for r in v.reasons)

    fold(
        launch,
        [
            log.sample("p95", 300.0),
            log.add(
                "signoff", SEC, role="sec", verdict="NO-GO", reason="pen test finding", snapshot=snapshot(st, log.t)
            ),
        ],
        st,
    )
    v = view(st, log.t)
    assert v.status == "NO-GO" and v.reasons[0] == "NO-GO sign-off by Security Lead: pen test finding"
    fold(launch, [log.add("signoff", CTO, role="nobody", verdict="GO")], st)  # not a role: ignored
    assert set(st.signoffs) == {"cto", "sec"}


def test_decisions_and_notes(launch):
    log = Log(launch).at(-60)
    _all_done(log)
    log.green()
    log.add("note", CTO, text="deploy window agreed")
    log.add("decision", CMD, verdict="NO-GO", reason="waiting for marketing")
    st = fold(launch, log.events)
    v = view(st, log.t)
    assert v.status == "NO-GO" and v.reasons[0] == "commander decided NO-GO: waiting for marketing"
    assert [n.text for n in st.notes] == ["deploy window agreed"] and st.notes[0].actor == "Dana (dana@bastion)"
    assert st.timeline[-1].text == "final decision: NO-GO (waiting for marketing)"
    fold(launch, [log.add("decision", CMD, verdict="GO", reason="go")], st)
    assert st.decision.verdict == "GO"
    # a commander's GO does not paper over sign-offs that are missing
    assert view(st, log.t).status == "PENDING"


# ------------------------------------------------------------------ alerts


def test_alerts_fire_resolve_ack_and_refire(launch):
    log = Log(launch)
    labels = {"alertname": "HighLatency", "severity": "critical"}
    log.add(
        "alert",
        fingerprint="abc",
        status="firing",
        labels=labels,
        annotations={"summary": "P95 above 500ms"},
        starts_at=log.t - 30,
        t=log.t,
    )
    st = fold(launch, log.events)
    a = st.alerts["am:abc"]
    assert a.firing and a.title == "HighLatency: P95 above 500ms" and a.severity == "critical"
    assert a.started == pytest.approx(log.t - 31)
    fold(launch, [log.add("ack", CTO, alert="am:abc")], st)
    assert st.alerts["am:abc"].acked_by == "Dana (dana@bastion)"
    fold(launch, [log.add("alert", fingerprint="abc", status="resolved", labels=labels, t=log.t)], st)
    assert not st.alerts["am:abc"].firing and st.alerts["am:abc"].ended == log.t - 1
    fold(launch, [log.add("alert", fingerprint="abc", status="firing", labels=labels, t=log.t)], st)
    again = st.alerts["am:abc"]
    assert again.firing and again.acked_by is None  # a new firing needs a new ack
    texts = [e.text for e in st.timeline]
    assert texts.count("alert firing: HighLatency: P95 above 500ms") == 1 and "alert firing: HighLatency" in texts


# ------------------------------------------------------------------ rollback


def test_rollback_status_steps_and_failure(launch):
    log = Log(launch).at(600)
    log.add("rollback", CMD, phase="requested", reason="error rate")
    log.add("rollback", CMD, phase="started", steps=["Undo", "Wait"], reason="error rate")
    st = fold(launch, log.events)
    v = view(st, log.t)
    assert st.rollback.status == "running" and v.reasons[0] == "rollback in progress"
    fold(
        launch,
        [
            log.add("rollback", CMD, phase="step_started", index=0),
            log.add("rollback", CMD, phase="step_output", index=0, lines=["deployment rolled back"]),
            log.add("rollback", CMD, phase="step_finished", index=0, exit_code=0, status="ok"),
            log.add("rollback", CMD, phase="step_started", index=1),
            log.add("rollback", CMD, phase="step_finished", index=1, exit_code=1, status="failed"),
            log.add("rollback", CMD, phase="finished", ok=False, reason="step 2 failed"),
        ],
        st,
    )
    rb = st.rollback
    assert rb.status == "failed" and [s.status for s in rb.steps] == ["ok", "failed"]
    assert rb.steps[0].output == ["deployment rolled back"] and rb.steps[1].exit_code == 1
    v = view(st, log.t)
    assert v.status == "NO-GO" and v.reasons[0] == "NO-GO: rollback failed: step 2 failed"
    assert st.alerts["rollback"].firing and st.alerts["rollback"].severity == "critical"
    fold(
        launch,
        [
            log.add("rollback", CMD, phase="started", steps=["Undo", "Wait"]),
            log.add("rollback", CMD, phase="finished", ok=True),
        ],
        st,
    )
    assert st.rollback.status == "succeeded" and not st.alerts["rollback"].firing
    assert [h["status"] for h in st.rollback.history] == ["failed", "succeeded"]


# ------------------------------------------------------------------ determinism and purity


def _scenario(launch: Launch) -> list[Event]:
    log = Log(launch).at(-3 * 3600)
    _all_done(log)
    for i in range(40):
        log.sample("error-rate", 0.2 + (i % 7) * 0.3)
        log.sample("p95", 250.0 + (i * 37) % 400)
        log.sample("disk", 50.0 + i)
        if i == 10:
            log.add("signoff", CTO, role="cto", verdict="GO", snapshot={"p95": {"level": "GO"}})
        if i == 20:
            log.add("alert", fingerprint="f1", status="firing", labels={"alertname": "X"}, t=log.t)
        if i == 25:
            log.add("ack", SEC, alert="am:f1")
        if i == 30:
            log.add("note", CMD, text="half way")
    return log.events


def test_folding_twice_and_in_two_halves_gives_the_same_state_and_view(launch):
    events = _scenario(launch)
    now = events[-1].ts + 5
    a, b = fold(launch, events), fold(launch, events)
    assert a == b and view(a, now) == view(b, now)
    for cut in (1, len(events) // 3, len(events) // 2, len(events) - 1):
        halves = fold(launch, events[cut:], fold(launch, events[:cut]))
        assert halves == a, cut
        assert view(halves, now) == view(a, now)
    # every prefix's view is a function of that prefix only
    st = LaunchState(launch)
    for i, ev in enumerate(events):
        st.apply(ev)
        if i % 17 == 0:
            assert view(st, ev.ts) == view(fold(launch, events[: i + 1]), ev.ts)


def test_fold_of_a_real_log_matches_fold_of_the_events_written(launch, tmp_path):
    events = _scenario(launch)
    clock = iter(ev.ts for ev in events)
    with DecisionLog(tmp_path / "l.jsonl", SYS, clock=lambda: next(clock)) as dlog:
        written = [dlog.append(ev.kind, ev.data, ev.actor) for ev in events]
    read = read_log(tmp_path / "l.jsonl").events
    assert [replace(e, hash="", prev="") for e in read] == [replace(e, hash="", prev="") for e in written]
    now = read[-1].ts + 1
    assert view(fold(launch, read), now) == view(fold(launch, events), now)


def test_fold_reads_no_clock_and_no_file(launch, monkeypatch):
    events = _scenario(launch)
    expected = fold(launch, events)

    def boom(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the fold must not read the clock or a file")

    monkeypatch.setattr(time, "time", boom)
    monkeypatch.setattr(time, "monotonic", boom)
    monkeypatch.setattr("builtins.open", boom)
    st = fold(launch, events)
    v = view(st, events[-1].ts)
    assert st == expected and v.now == events[-1].ts


def test_fold_does_not_change_the_events(launch):
    events = _scenario(launch)
    before = [(e.kind, repr(e.data)) for e in events]
    fold(launch, events)
    assert [(e.kind, repr(e.data)) for e in events] == before


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
FIELDS = [
    "criterion",
    "value",
    "error",
    "t",
    "tick",
    "item",
    "role",
    "verdict",
    "snapshot",
    "reason",
    "text",
    "alert",
    "fingerprint",
    "status",
    "labels",
    "annotations",
    "starts_at",
    "phase",
    "index",
    "steps",
    "lines",
    "exit_code",
    "ok",
    "mode",
    "state",
    "pid",
    "criteria",
    "automatic",
    "duration",
    "baseline",
]
KINDS = [
    "sample",
    "alert",
    "ack",
    "check",
    "uncheck",
    "signoff",
    "decision",
    "note",
    "trigger_mode",
    "rollback",
    "session",
    "recorder",
    "launch",
    "other",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(KINDS), st.dictionaries(st.sampled_from(FIELDS), junk, max_size=6)), max_size=12)
)
def test_fold_and_view_survive_any_event_data(launch, batch):
    """A log line with a valid hash may still hold odd data (another version, a bug): never a crash."""
    log = Log(launch)
    for kind, data in batch:
        if kind == "sample" and "criterion" not in data:
            data["criterion"] = "p95"
        if kind == "rollback" and "phase" not in data:
            data["phase"] = "started"
        log.add(kind, CTO, **data)
    st = fold(launch, log.events)
    v = view(st, log.t)
    assert v.status in ("GO", "NO-GO", "ROLLBACK", "PENDING")
    snapshot(st, log.t)
