"""A deterministic launch in Prometheus: OpenMetrics text, turned into TSDB blocks by promtool, served by a real
Prometheus over that directory (no scraping: the history is all there is).

The story (T-0 = `t0`, a whole minute about 8 days ago so the blocks sit inside retention):
- every 30 s from T-1h to T+7d: error rate 0.02 %, P95 300 ms, CFUR 99.95 %;
- minutes 60-75 an error spike at 5 % (a ROLLBACK trigger `> 1%` held 5 min) with P95 at 900 ms;
- the same steady values after it, except day 3 (T+3d .. T+4d), the one bad day: error rate
  0.5 % all day (its daily error-rate check fails; every other day passes, the spike day included: 15 minutes of
  5 % over a day average to about 0.07 %).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from promstack import PROMETHEUS, Proc, free_port, require

PROMTOOL = "/usr/bin/promtool"
DAY = 86400.0
SPIKE = (60 * 60.0, 75 * 60.0)  # seconds after T-0
BAD_DAY = 3  # T+3d .. T+4d
STEADY = {"wr_error_rate_percent": 0.02, "wr_p95_ms": 300.0, "wr_cfur_percent": 99.95}
ERROR_SPIKE, LATENCY_SPIKE, ERROR_BAD_DAY = 5.0, 900.0, 0.5


def launch_t0(now: float | None = None) -> float:
    """T-0 for a history that ends a day before now: 8 days ago, on a whole minute (points land on the grid)."""
    now = time.time() if now is None else now
    return float(int(now - 8 * DAY) // 60 * 60)


def value(metric: str, off: float) -> float:
    """The metric's value at `off` seconds after T-0: the whole story in one function."""
    if metric == "wr_error_rate_percent":
        if SPIKE[0] <= off < SPIKE[1]:
            return ERROR_SPIKE
        if BAD_DAY * DAY <= off < (BAD_DAY + 1) * DAY:
            return ERROR_BAD_DAY
    if metric == "wr_p95_ms" and SPIKE[0] <= off < SPIKE[1]:
        return LATENCY_SPIKE
    return STEADY[metric]


def offsets() -> Iterator[float]:
    """Sample times after T-0: every 30 s from T-1h to T+7d (evenly, so a sample average is a time average)."""
    off = -3600.0
    while off <= 7 * DAY:
        yield off
        off += 30.0


def openmetrics(t0: float) -> str:
    """The whole history as OpenMetrics text (families in turn, samples in time order, `# EOF` last)."""
    out: list[str] = []
    for metric in STEADY:
        out.append(f"# HELP {metric} warroom test launch history\n# TYPE {metric} gauge\n")
        out.extend(f"{metric} {value(metric, off)} {t0 + off:.0f}\n" for off in offsets())
    # what Prometheus itself stores for a firing alerting rule: the spike fires HighErrorRate
    out.append("# HELP ALERTS alerts as Prometheus records them\n# TYPE ALERTS gauge\n")
    out.extend(
        f'ALERTS{{alertname="HighErrorRate",alertstate="firing",severity="critical"}} 1 {t0 + off:.0f}\n'
        for off in offsets()
        if SPIKE[0] <= off < SPIKE[1]
    )
    out.append("# EOF\n")
    return "".join(out)


@dataclass
class History:
    """A Prometheus serving the launch's history, and the T-0 it was made for."""

    proc: Proc
    t0: float

    @property
    def url(self) -> str:
        return self.proc.url


def make_tsdb(tmp: Path, t0: float) -> Path:
    """Write the OpenMetrics file and let promtool turn it into blocks; returns the TSDB directory."""
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / "history.om"
    src.write_text(openmetrics(t0))
    data = tmp / "data"
    promtool = require(PROMTOOL)
    res = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(src), str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if res.returncode != 0:
        raise AssertionError(f"promtool failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return data


@contextlib.contextmanager
def history_prometheus(tmp: Path, t0: float | None = None, *, rules: str = "") -> Iterator[History]:
    """A real Prometheus over a promtool-made TSDB holding the launch (stopped on exit)."""
    t0 = launch_t0() if t0 is None else t0
    data = make_tsdb(tmp, t0)
    cfg = tmp / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    proc = Proc(
        "prometheus-history",
        [
            require(PROMETHEUS),
            f"--config.file={cfg}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=90d",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        port,
        tmp,  # its own directory: the TSDB, config and log live there and go when it stops
    )
    proc.start()
    try:
        yield History(proc, t0)
    finally:
        proc.stop()


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
  am: {{type: alertmanager, url: "http://127.0.0.1:9", prometheus: prom}}
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
  - {{id: errors-prom, name: Error rate in Prometheus, target: "< 0.1%", unit: "%", check: daily, source: prom,
     query: "avg_over_time(wr_error_rate_percent[1d])", window: 7d}}
  - {{id: satisfaction, name: User satisfaction, target: ">= 4.5", unit: score, check: weekly, window: 7d}}
"""


@pytest.fixture(scope="module", name="history")
def fixture_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """A real Prometheus holding the launch, shared by one module's tests (`from launchdata import fixture_history`)."""
    with history_prometheus(tmp_path_factory.mktemp("history")) as h:
        yield h


@pytest.fixture(name="config")
def fixture_config(history: History, tmp_path: Path) -> Path:
    """This test's launch config over the history (`config_text`)."""
    p = tmp_path / "launch.yaml"
    p.write_text(config_text(history))
    return p
