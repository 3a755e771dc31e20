"""Acks become silences in the real Alertmanager (tests/promstack.py starts one), made by the leading recorder.

- acknowledging an alert creates a silence the API shows: one equality matcher per label of the alert,
  created by the acknowledging user, commented with the launch and the ack's log seq, active, as long as
  `ack_silence`; the silenced alert stays firing in the war room (a silence is the ack, not a resolve);
- when the alert resolves the silence is expired; the console's expire key (its request event) expires
  one on demand; each outcome is in the log and the timeline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from promstack import start_alertmanager
from waiting import wait_for

from warroom.config import load_launch
from warroom.core.events import Actor
from warroom.core.state import fold
from warroom.store.log import DecisionLog, iter_events
from warroom.ui.silencing import expire_request

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.prometheus, pytest.mark.slow]
DANA = Actor(user="dana", host="laptop", name="Dana (CTO)")


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def post_alert(am: str, labels: dict[str, str], *, resolved: bool = False) -> None:
    now = datetime.now(UTC)
    ends = now - timedelta(seconds=1) if resolved else now + timedelta(hours=1)
    alert = {"labels": labels, "annotations": {"summary": "test"}, "startsAt": _iso(now - timedelta(minutes=1)),
             "endsAt": _iso(ends)}  # fmt: skip
    httpx.post(f"{am}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()


def kinds(log: Path, kind: str) -> list[dict]:
    return [ev.data | {"seq": ev.seq} for ev in iter_events(log) if ev.kind == kind] if log.exists() else []


def test_ack_creates_a_silence_and_resolve_expires_it(tmp_path: Path) -> None:
    am = start_alertmanager(tmp_path / "am")
    rec = None
    try:
        t0 = datetime.fromtimestamp(time.time() - 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cfg = tmp_path / "launch.yaml"
        cfg.write_text(
            f"""
version: 1
launch: {{id: silences, name: Silence test, t0: {t0}}}
roles:
  - {{id: commander, title: Launch Commander, commander: true, members: [dana]}}  # dana acks
phases:
  - {{id: live, name: Live, at: -1h}}
sources:
  am:
    type: alertmanager
    url: {am.url}
    interval: 0.5s
    ack_silence: 30m
"""
        )
        log = tmp_path / "launch.jsonl"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        rec = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "notify_recorder.py"), str(cfg), str(log)], env=env, cwd=ROOT
        )
        api = {"alertname": "CheckoutErrors", "service": "api", "severity": "critical"}
        db = {"alertname": "DiskFull", "service": "db", "severity": "warning"}
        post_alert(am.url, api)
        post_alert(am.url, db)
        firing = wait_for(
            "both alerts recorded", lambda: len([a for a in kinds(log, "alert")]) == 2 and kinds(log, "alert")
        )
        key = {a["labels"]["alertname"]: "am:" + a["fingerprint"] for a in firing}

        with DecisionLog(log, DANA) as dl:
            ack = dl.append("ack", {"alert": key["CheckoutErrors"]})
        created = wait_for("a silence", lambda: [s for s in kinds(log, "silence") if s["state"] == "created"])[0]
        assert created["alert"] == key["CheckoutErrors"] and created["ack_seq"] == ack.seq
        sil = httpx.get(f"{am.url}/api/v2/silence/{created['id']}", timeout=5).json()
        assert sil["status"]["state"] == "active"
        assert sil["createdBy"] == "Dana (CTO) (dana@laptop)"
        assert "silences" in sil["comment"] and f"log seq {ack.seq}" in sil["comment"]
        assert sorted((m["name"], m["value"], m["isRegex"], m.get("isEqual", True)) for m in sil["matchers"]) == sorted(
            (k, v, False, True) for k, v in api.items()
        )
        length = datetime.fromisoformat(sil["endsAt"]) - datetime.fromisoformat(sil["startsAt"])
        assert abs(length.total_seconds() - 1800) < 5
        # the silenced alert is acknowledged, not resolved: a few polls later it is still firing in the log
        time.sleep(2)
        st = fold(load_launch(cfg), iter_events(log))
        a = st.alerts[key["CheckoutErrors"]]
        assert a.firing and a.acked_by is not None and a.silence == created["id"]

        # the alert resolves: its silence is expired
        post_alert(am.url, api, resolved=True)
        expired = wait_for("the silence expired", lambda: [s for s in kinds(log, "silence") if s["state"] == "expired"])
        assert expired[0]["id"] == created["id"] and expired[0]["why"] == "the alert resolved"
        assert httpx.get(f"{am.url}/api/v2/silence/{created['id']}", timeout=5).json()["status"]["state"] == "expired"

        # on demand: ack the other alert, then the console's expire key asks for its silence to go
        with DecisionLog(log, DANA) as dl:
            dl.append("ack", {"alert": key["DiskFull"]})
        second = wait_for("a second silence", lambda: [s for s in kinds(log, "silence") if s["state"] == "created"][1:])
        st = fold(load_launch(cfg), iter_events(log))
        data, said = expire_request(st, None)
        assert data == {"state": "expire_requested", "alert": key["DiskFull"], "id": second[0]["id"]}
        assert second[0]["id"] in said
        with DecisionLog(log, DANA) as dl:
            dl.append("silence", data)
        wait_for("expired on demand", lambda: len([s for s in kinds(log, "silence") if s["state"] == "expired"]) == 2)
        assert httpx.get(f"{am.url}/api/v2/silence/{second[0]['id']}", timeout=5).json()["status"]["state"] == "expired"
        timeline = " ".join(e.text for e in fold(load_launch(cfg), iter_events(log)).timeline)
        assert f"silence {second[0]['id']} expired" in timeline and "on request of Dana (CTO)" in timeline
        assert expire_request(fold(load_launch(cfg), iter_events(log)), None)[0] is None
    finally:
        if rec is not None:
            rec.send_signal(signal.SIGINT)
            rec.wait(15)
        am.stop()
