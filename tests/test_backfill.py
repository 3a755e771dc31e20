"""`warroom backfill` and the report of a launch whose console was closed, against a real Prometheus holding a
deterministic launch made by promtool (tests/launchdata.py): spike at minutes 60-75, one bad day (day 3)."""

from __future__ import annotations

import asyncio
import functools
import socket
import subprocess
from pathlib import Path

import orjson
import pytest
import runcli
from launchdata import BAD_DAY, SPIKE, History, config_text, fixture_config, fixture_history

from warroom.config import load_launch
from warroom.core.backfilled import merged
from warroom.core.events import Actor
from warroom.core.rules import Level
from warroom.core.state import LaunchState
from warroom.recorder.loop import Recorder
from warroom.replay.timeline import open_replay
from warroom.report.build import build_report, to_json
from warroom.store.backfill_scan import collect
from warroom.store.launchlog import bind
from warroom.store.log import DecisionLog, iter_events

__all__ = ["fixture_config", "fixture_history"]
WEEK = 7 * 86400


# a week of history to backfill and report on, on a machine shared with other work
warroom = functools.partial(runcli.warroom, timeout=300)


def backfill(config: Path, log: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    res = warroom("backfill", config, "--log", log, *extra)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def events_of(log: Path) -> int:
    return sum(1 for _ in iter_events(log))


def report_json(log: Path) -> dict:
    res = warroom("report", log, "--format", "json")
    assert res.returncode == 0, res.stderr
    return orjson.loads(res.stdout)


def chart(rep: dict, cid: str) -> list[dict]:
    return next(c for c in rep["charts"] if c["criterion"] == cid)["buckets"]


def test_backfilled_launch_shows_the_spike_and_the_rollback_breach(config: Path, tmp_path: Path, history: History):
    log = tmp_path / "launch.jsonl"
    res = backfill(config, log, "--from", "T-1h", "--to", "T+2h")
    assert "health: cannot be backfilled" in res.stdout
    rep = report_json(log)
    t0 = history.t0
    buckets = chart(rep, "error-rate")
    high = [b for b in buckets if b["max"] is not None and b["max"] >= 5.0]
    assert high, "the spike is in the chart"
    assert min(b["start"] for b in high) >= t0 + SPIKE[0] - 120
    assert max(b["end"] for b in high) <= t0 + SPIKE[1] + 120
    quiet = [b for b in buckets if b["end"] < t0 + SPIKE[0] - 60 or b["start"] > t0 + SPIKE[1] + 60]
    assert quiet and all(b["max"] < 1 for b in quiet)
    # the breach: NO-GO at once, ROLLBACK once held 5 minutes
    alert = next(a for a in rep["alerts"] if a["key"] == "criterion:error-rate")
    assert alert["severity"] == "critical"
    assert t0 + SPIKE[0] <= alert["started"]["ts"] <= t0 + SPIKE[0] + 60
    assert t0 + SPIKE[1] <= alert["ended"]["ts"] <= t0 + SPIKE[1] + 60
    rb = [e for e in rep["breaches"] if "-> ROLLBACK" in e["what"] and "Error rate" in e["what"]]
    assert rb, rep["breaches"]
    assert t0 + SPIKE[0] + 300 <= rb[0]["at"]["ts"] <= t0 + SPIKE[0] + 300 + 60
    assert rb[0]["at"]["t"].startswith("T+01:05")
    assert rep["backfill"]["cannot"]["health"]
    md = warroom("report", log).stdout
    assert "Breach timeline" in md and "health: cannot be backfilled" in md


def test_backfill_twice_adds_nothing(config: Path, tmp_path: Path):
    log = tmp_path / "launch.jsonl"
    backfill(config, log, "--from", "T-1h", "--to", "T+2h")
    before = log.read_bytes()
    res = backfill(config, log, "--from", "T-1h", "--to", "T+2h")
    assert "0 points" in res.stdout
    after = log.read_bytes()
    assert events_of(log) == sum(1 for _ in iter_events(log))
    kinds = [ev.kind for ev in iter_events(log)][len(before.splitlines()) :]
    assert "backfill" not in kinds and "sample" not in kinds
    assert after.startswith(before)


def record_live(config: Path, log: Path, t0: float, until: float) -> int:
    """A console that ran (on a clock set to the launch's own time) from T+0 to `until` and was then closed:
    the real recorder polling the real Prometheus at each slot. Returns the samples it recorded."""
    launch = load_launch(config)
    now = [t0 - 3900.0]  # the log was opened at T-1h05m, on the whole minute
    dlog = DecisionLog(log, Actor("ops", "console"), clock=lambda: now[0])
    launch, _ = bind(dlog, launch, config.read_text(), str(config))
    epoch = now[0]
    rec = Recorder(launch, dlog, clock=lambda: now[0], epoch=epoch)

    async def go() -> None:
        assert await rec.acquire()
        try:
            for g in rec.groups():
                if g.source.kind != "prometheus":
                    continue
                for k in range(round((t0 - epoch) / g.interval), round((until - epoch) / g.interval) + 1):
                    now[0] = epoch + k * g.interval
                    await rec.poll_group(g, k, now[0])
        finally:
            await rec.release()

    asyncio.run(go())
    dlog.close()
    return sum(1 for ev in iter_events(log) if ev.kind == "sample")


def test_live_minutes_plus_backfill_have_no_duplicated_moment(config: Path, tmp_path: Path, history: History):
    log = tmp_path / "launch.jsonl"
    t0 = history.t0
    live = record_live(config, log, t0, t0 + 1800)
    assert live == 61 + 31  # error rate every 30 s, latency every minute, T+0 to T+30m
    backfill(config, log, "--from", "T-1h", "--to", "T+2h")
    launch = build_report(log).launch
    st = LaunchState(launch)
    moments: dict[str, list[float]] = {}
    live_seen = 0
    for ev in merged(iter_events(log), collect(log)):
        before = {cid: cs.samples for cid, cs in st.criteria.items()}
        st.apply(ev)
        if ev.kind == "sample" and not ev.data.get("baseline"):
            cid = ev.data["criterion"]
            if st.criteria[cid].samples > before[cid]:
                moments.setdefault(cid, []).append(ev.data["t"])
                live_seen += not ev.data.get("backfilled")
    assert live_seen == live, "every live sample is kept"
    for cid, iv in (("error-rate", 30), ("api-p95", 60)):
        ts = moments[cid]
        assert len(ts) == len(set(ts)), f"{cid}: a moment twice"
        assert ts == sorted(ts), f"{cid}: judged out of time order"
        assert len(ts) == 3 * 3600 // iv + 1, f"{cid}: every slot from T-1h to T+2h once"
        assert st.criteria[cid].duplicates == 0
    # the live-looking and backfilled halves agree on the spike (it lies in the backfilled part)
    rep = to_json(build_report(log))
    assert any(b["max"] and b["max"] >= 5 for b in chart(rep, "error-rate"))
    assert rep["backfill"]["samples"]["error-rate"] == 3 * 120 + 1 - 61


def test_daily_success_metric_rows_fail_exactly_the_bad_day(config: Path, tmp_path: Path):
    log = tmp_path / "week.jsonl"
    backfill(config, log, "--from", "T-1h", "--to", "T+7d")
    log_only = warroom("report", log, "--log-only", "--format", "json")
    assert log_only.returncode == 0, log_only.stderr
    rep = orjson.loads(log_only.stdout)
    assert rep["success_metrics_provenance"] == "from the log only (--log-only)"
    metrics = {m["id"]: m for m in rep["success_metrics"]}
    errors = metrics["errors-week"]
    assert len(errors["periods"]) == 7, errors["periods"]
    failed = [i for i, p in enumerate(errors["periods"]) if p["status"] != "MET"]
    assert failed == [BAD_DAY], errors["periods"]
    assert errors["status"] == "MISSED"
    assert metrics["p95-week"]["status"] == "MET"
    assert all(p["status"] == "MET" for p in metrics["p95-week"]["periods"])
    assert metrics["satisfaction"]["status"] == "NOT MEASURED"
    assert "backfilled from Prometheus" in errors["origin"]
    # a console folding the log in its own order (live, replay) judges the same points: chunks are in time order
    launch = build_report(log).launch
    in_order = LaunchState(launch)
    for ev in iter_events(log):
        in_order.apply(ev)
    at_source_time = LaunchState(launch)
    for ev in merged(iter_events(log), collect(log)):
        at_source_time.apply(ev)
    for cid in ("error-rate", "api-p95"):
        a, b = in_order.criteria[cid], at_source_time.criteria[cid]
        assert a.samples == b.samples > 10_000 and a.duplicates == b.duplicates == 0
        assert (a.level, a.value, a.t) == (b.level, b.value, b.t)
    assert metrics["errors-prom"]["status"] == "NOT MEASURED"
    # by default, Prometheus answering: each completed day measured there, once, and the report says so
    res = warroom("report", log, "--format", "json")
    assert res.returncode == 0, res.stderr
    assert "21 success-metric periods measured" in res.stderr  # 7 days x (errors-week, errors-prom, p95-week)
    assert "satisfaction: not in Prometheus" in res.stderr
    assert (
        "measured in Prometheus for this report (Prometheus answered)"
        in orjson.loads(res.stdout)["success_metrics_provenance"]
    )
    again = warroom("report", log, "--from-prometheus", "--format", "json")
    assert "0 success-metric periods measured" in again.stderr
    metrics = {m["id"]: m for m in orjson.loads(again.stdout)["success_metrics"]}
    for mid in ("errors-prom", "errors-week"):
        rows = metrics[mid]["measurements"]
        assert len(rows) == 7 and "measured in Prometheus" in metrics[mid]["origin"]
        assert [i for i, r in enumerate(rows) if r["status"] != "MET"] == [BAD_DAY], rows
        assert metrics[mid]["status"] == "MISSED"
    assert metrics["p95-week"]["status"] == "MET" and len(metrics["p95-week"]["measurements"]) == 7
    assert metrics["satisfaction"]["status"] == "NOT MEASURED"


def test_a_hand_measured_metric_appears_with_its_author(config: Path, tmp_path: Path):
    log = tmp_path / "week.jsonl"
    backfill(config, log, "--from", "T-1h", "--to", "T+1h")
    res = warroom(
        "measure", log, "satisfaction", "4.7", "--period", "week 1", "--link", "https://survey", "--as", "Pia"
    )
    assert res.returncode == 0, res.stderr
    rep = report_json(log)
    sat = next(m for m in rep["success_metrics"] if m["id"] == "satisfaction")
    assert sat["status"] == "MET"
    (m,) = sat["measurements"]
    assert m["by"].startswith("Pia") and m["value"] == 4.7 and m["period"] == "week 1"
    md = warroom("report", log).stdout
    assert "Pia" in md and "https://survey" in md
    bad = warroom("measure", log, "nosuch", "1")
    assert bad.returncode == 2 and "satisfaction" in bad.stderr and "Traceback" not in bad.stderr


def test_baseline_from_history_is_recorded_once_and_compared(config: Path, tmp_path: Path):
    log = tmp_path / "launch.jsonl"
    res = backfill(config, log, "--from", "T-30m", "--to", "T+2d")  # no range point reaches back to T-1h
    assert "api-p95: baseline recorded from Prometheus" in res.stdout
    backfill(config, log, "--from", "T-30m", "--to", "T+2d")
    taken = [ev for ev in iter_events(log) if ev.kind == "sample" and ev.data.get("baseline")]
    assert len(taken) == 1 and taken[0].data["criterion"] == "api-p95" and taken[0].data["value"] == 300.0
    rep = report_json(log)
    # judged against the baseline: 300 ms, so the 900 ms spike breaches `<= +10% of T-1h`
    assert any("P95 latency" in b["what"] and "NO-GO" in b["what"] for b in rep["breaches"])
    cmp = {c["criterion"]: c for c in rep["compare_to_baseline"]}
    p95 = cmp["api-p95"]
    assert p95["baseline"] == 300.0
    day1, day2 = p95["periods"][:2]
    assert day1["change_pct"] > 0.5  # the spike day is a little above the baseline
    assert day2["change_pct"] == 0.0
    assert cmp["error-rate"]["baseline"] == pytest.approx(0.02)  # no relative threshold: the pre-launch mean
    html = warroom("report", log, "--format", "html").stdout
    assert "Compare to baseline" in html and "baseline-band" in html


def test_alert_firing_intervals_from_the_alerts_series(config: Path, tmp_path: Path, history: History):
    log = tmp_path / "launch.jsonl"
    res = backfill(config, log, "--from", "T-1h", "--to", "T+2h")
    assert "alerts: 1 firing intervals" in res.stdout
    res = backfill(config, log, "--from", "T-1h", "--to", "T+2h")
    assert "alerts: 0 firing intervals" in res.stdout
    rep = report_json(log)
    (alert,) = [a for a in rep["alerts"] if a["key"].startswith("am:")]
    assert alert["title"].startswith("HighErrorRate") and alert["severity"] == "critical"
    t0 = history.t0
    assert t0 + SPIKE[0] - 60 <= alert["started"]["ts"] <= t0 + SPIKE[0] + 60
    assert t0 + SPIKE[1] - 60 <= alert["ended"]["ts"] <= t0 + SPIKE[1] + 120  # one rule evaluation late at most


def test_alert_history_uses_alertmanagers_own_fingerprint(tmp_path: Path):
    """So an alert seen live and the same firing read back from ALERTS are one alert in the fold."""
    from promstack import prom_stack
    from waiting import wait_for

    from warroom.recorder.alerthistory import am_fingerprint

    with prom_stack(tmp_path) as st:
        st.exporter.set("wr_latency_ms", 5000)
        wait_for("the alert to reach Alertmanager", lambda: bool(st.am_alerts()), ignoring=(Exception,))
        (a,) = st.am_alerts()
        assert am_fingerprint(a["labels"]) == a["fingerprint"]


def test_replay_shows_backfilled_points_at_their_moment(config: Path, tmp_path: Path, history: History):
    """A reviewer replaying a launch whose console was closed at T+30m sees the backfilled spike at T+65m, and
    every moment's state is the report's fold at that moment, whichever way the playhead moved."""
    log = tmp_path / "launch.jsonl"
    t0 = history.t0
    record_live(config, log, t0, t0 + 1800)
    backfill(config, log, "--from", "T-1h", "--to", "T+2h")
    rep = open_replay(log)
    assert rep.ok, rep.integrity
    assert rep.end >= t0 + 2 * 3600 - 60, "the playhead reaches the last backfilled point"
    launch = rep.launch
    stream = list(merged(iter_events(log), collect(log)))

    def reference(t: float) -> LaunchState:
        st = LaunchState(launch)
        for ev in stream:
            if ev.ts > t:
                break
            st.apply(ev)
        return st

    moments = [t0 + 20 * 60, t0 + (SPIKE[0] + 300 + 90), t0 + 100 * 60, t0 + 10 * 60, t0 + SPIKE[0] + 120]
    for t in moments:  # forward, back to the live half, then into the spike again
        got, want = rep.state_at(t), reference(t)
        for cid in ("error-rate", "api-p95"):
            a, b = got.criteria[cid], want.criteria[cid]
            assert (a.value, a.t, a.samples, a.level) == (b.value, b.t, b.samples, b.level), (cid, t - t0)
    spike = rep.state_at(t0 + SPIKE[0] + 300 + 90).criteria["error-rate"]
    assert spike.value is not None and spike.value >= 5 and spike.level == Level.ROLLBACK
    calm = rep.state_at(t0 + 20 * 60).criteria["error-rate"]
    assert calm.level == Level.GO and calm.samples > 0


def test_report_says_when_prometheus_cannot_be_reached(history: History, tmp_path: Path):
    """Made away from the launch's network, the report still comes out, from the log, and says why."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    cfg = tmp_path / "away.yaml"
    cfg.write_text(config_text(history).replace(history.url, closed))
    log = tmp_path / "away.jsonl"
    res = warroom("backfill", cfg, "--log", log, "--from", "T-1h", "--to", "T+1h")
    assert res.returncode == 1 and "failed: error-rate: cannot reach" in res.stderr
    assert "error-rate: 0 points (its range queries failed" in res.stdout, "a failed query is not 'no gap'"
    md = warroom("report", log)
    assert md.returncode == 0, md.stderr
    assert "Success metrics from the log only: Prometheus not reachable (prom:" in md.stdout
    assert "0 success-metric periods measured" in md.stderr
