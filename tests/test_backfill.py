"""`warroom backfill` and the report of a launch whose console was closed, against a real Prometheus holding a
deterministic launch made by promtool (tests/launchdata.py): spike at minutes 60-75, one bad day (day 3)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from launchdata import BAD_DAY, SPIKE, History, history_prometheus

from warroom.backfilled import collect, merged
from warroom.config import load_launch
from warroom.events import Actor
from warroom.launchlog import bind
from warroom.log import DecisionLog, iter_events
from warroom.recorder import Recorder
from warroom.report import build_report, to_json
from warroom.state import LaunchState

ROOT = Path(__file__).resolve().parent.parent
WEEK = 7 * 86400


def config_text(h: History) -> str:
    t0 = datetime.fromtimestamp(h.t0, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"""
version: 1
launch: {{id: history, name: History launch, t0: "{t0}"}}
roles:
  - {{id: commander, title: Launch Commander, commander: true}}
  - {{id: cpo, title: CPO, signoff: optional}}
phases:
  - {{id: launch, name: Launch, at: 0s}}
sources:
  prom: {{type: prometheus, url: "{h.url}", interval: 30s, timeout: 5s}}
  web: {{type: http, url: "http://127.0.0.1:9/health"}}
criteria:
  - id: error-rate
    name: Error rate
    source: prom
    query: wr_error_rate_percent
    unit: "%"
    go: "< 0.1%"
    trigger: {{when: "> 1%", hold: 5m}}
  - id: api-p95
    name: P95 latency
    source: prom
    query: wr_p95_ms
    unit: ms
    go: "<= +10% of T-1h"
    interval: 1m
  - id: health
    name: Health endpoint
    source: web
    query: status
    go: "== 200"
rollback:
  allowed_roles: [commander]
  steps:
    - {{name: Undo, run: ["true"]}}
success_metrics:
  - {{id: errors-week, name: Error rate, target: "< 0.1%", unit: "%", check: daily, criterion: error-rate, window: 7d}}
  - {{id: p95-week, name: P95 latency, target: "< 500ms", unit: ms, check: daily, criterion: api-p95, window: 7d}}
  - {{id: satisfaction, name: User satisfaction, target: ">= 4.5", unit: score, check: weekly, window: 7d}}
"""


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    with history_prometheus(tmp_path_factory.mktemp("history")) as h:
        yield h


@pytest.fixture
def config(history: History, tmp_path: Path) -> Path:
    p = tmp_path / "launch.yaml"
    p.write_text(config_text(history))
    return p


def warroom(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "warroom", *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


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
