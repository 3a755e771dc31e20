"""backfill, measure and report --from-prometheus on a PostgreSQL log (tests/pgserver.py), against a real
Prometheus holding a deterministic launch made by promtool (tests/launchdata.py): what they add goes into the
database through the store, so every console and report on the shared log sees it, as on a file."""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import pytest
import runcli
from launchdata import BAD_DAY, SPIKE, History, fixture_config, fixture_history

from warroom.store.open import open_reader

__all__ = ["fixture_config", "fixture_history"]
# a week of history to backfill and report on, on a machine shared with other work
warroom = functools.partial(runcli.warroom, timeout=300)


def kinds(uri: str) -> list[str]:
    r = open_reader(uri)
    try:
        return [ev.kind for ev in r.events()]
    finally:
        r.close()


def report_json(log: str | Path, *extra: str) -> tuple[dict, str]:
    res = warroom("report", log, "--format", "json", *extra)
    assert res.returncode == 0, res.stderr
    return orjson.loads(res.stdout), res.stderr


def test_backfill_into_postgresql_shows_the_spike_and_a_second_run_adds_nothing(
    config: Path, pg_db: str, history: History
) -> None:
    res = warroom("backfill", config, "--log", pg_db, "--from", "T-1h", "--to", "T+2h")  # the launch id from the config
    assert res.returncode == 0, res.stdout + res.stderr
    assert (
        "health: cannot be backfilled" in res.stdout and "api-p95: baseline recorded from Prometheus" not in res.stderr
    )
    uri = pg_db + "#history"
    got = kinds(uri)
    assert got[0] == "launch" and got.count("backfill") >= 2
    assert open_reader(uri).verify().ok
    rep, _ = report_json(uri, "--log-only")  # read back from the database
    t0 = history.t0
    buckets = next(c for c in rep["charts"] if c["criterion"] == "error-rate")["buckets"]
    high = [b for b in buckets if b["max"] is not None and b["max"] >= 5.0]
    assert high and min(b["start"] for b in high) >= t0 + SPIKE[0] - 120
    assert max(b["end"] for b in high) <= t0 + SPIKE[1] + 120
    rb = [e for e in rep["breaches"] if "-> ROLLBACK" in e["what"] and "Error rate" in e["what"]]
    assert rb and t0 + SPIKE[0] + 300 <= rb[0]["at"]["ts"] <= t0 + SPIKE[0] + 360
    again = warroom("backfill", config, "--log", uri, "--from", "T-1h", "--to", "T+2h")
    assert again.returncode == 0, again.stderr
    assert "error-rate: 0 points" in again.stdout
    assert kinds(uri) == got  # idempotent on the shared log too: it read what the database holds


def test_a_hand_measurement_goes_into_the_shared_log_with_its_author(config: Path, pg_db: str) -> None:
    uri = pg_db + "#history"
    assert warroom("backfill", config, "--log", uri, "--from", "T-1h", "--to", "T-0").returncode == 0
    res = warroom("measure", uri, "satisfaction", "4.7", "--period", "week 1", "--as", "Pia")
    assert res.returncode == 0, res.stderr
    assert "satisfaction = 4.7 recorded for week 1" in res.stdout
    assert kinds(uri)[-1] == "measurement"
    rep, _ = report_json(uri, "--log-only")
    sat = next(m for m in rep["success_metrics"] if m["id"] == "satisfaction")
    assert sat["status"] == "MET" and sat["measurements"][0]["by"].startswith("Pia")
    bad = warroom("measure", uri, "nosuch", "1")
    assert bad.returncode == 2 and "satisfaction" in bad.stderr and "Traceback" not in bad.stderr
    gone = warroom("measure", pg_db + "#no-such-launch", "satisfaction", "1")
    assert gone.returncode == 2 and "no launch event" in gone.stderr and "Traceback" not in gone.stderr


@pytest.mark.slow
def test_report_measures_a_postgresql_log_in_prometheus_once_per_period(config: Path, pg_db: str) -> None:
    uri = pg_db + "#history"
    res = warroom("backfill", config, "--log", uri, "--from", "T-1h", "--to", "T+7d")
    assert res.returncode == 0, res.stderr
    before = kinds(uri).count("measurement")
    # by default, Prometheus answering: each completed day measured there and recorded in the database
    rep, said = report_json(uri)
    assert "21 success-metric periods measured" in said, said  # 7 days x (errors-week, errors-prom, p95-week)
    assert "measured in Prometheus for this report (Prometheus answered)" in rep["success_metrics_provenance"]
    assert kinds(uri).count("measurement") == before + 21
    metrics = {m["id"]: m for m in rep["success_metrics"]}
    rows = metrics["errors-prom"]["measurements"]  # the report shows what it just recorded
    assert len(rows) == 7 and [i for i, r in enumerate(rows) if r["status"] != "MET"] == [BAD_DAY]
    # --from-prometheus finds every period already in the shared log: nothing twice
    rep, said = report_json(uri, "--from-prometheus")
    assert "0 success-metric periods measured" in said
    assert kinds(uri).count("measurement") == before + 21
    assert rep["log"]["path"] == uri and open_reader(uri).verify().ok
