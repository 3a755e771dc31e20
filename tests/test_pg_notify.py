"""Notifications and ack silences on a PostgreSQL log (tests/pgserver.py): the leading recorder follows the
shared log through the store, so it queues, delivers and silences exactly as on a file.

Real parts: the recorder processes (tests/notify_recorder.py), a local HTTP receiver standing in for Slack,
PagerDuty and a webhook (tests/notify_receiver.py), a real Alertmanager (tests/promstack.py).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import servers
from notify_receiver import Receiver
from test_notify import SLACK_TOKEN, config, env, pd_actions
from test_silences import post_alert
from waiting import wait_for

from warroom.core.events import Actor
from warroom.notify.messages import slack_escape
from warroom.store.base import StoreUnavailable
from warroom.store.open import open_reader, open_store

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow]


@pytest.fixture
def recv() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def events(uri: str, kind: str) -> list[dict[str, Any]]:
    try:
        r = open_reader(uri)
    except StoreUnavailable:  # the recorder has not made the tables yet
        return []
    try:
        return [ev.data | {"seq": ev.seq} for ev in r.events() if ev.kind == kind]
    finally:
        r.close()


def settled(uri: str, channel: str) -> bool:
    evs = events(uri, "notify")
    queued = {e["seq"] for e in evs if e["state"] == "queued" and channel in e["channels"]}
    final = {e["id"] for e in evs if e.get("channel") == channel and e["state"] in ("delivered", "failed", "gave_up")}
    return bool(queued) and queued <= final


def recorder(cfg: Path, uri: str, environ: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "notify_recorder.py"), str(cfg), uri],
        env=environ,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_breach_on_a_postgresql_log_is_announced_once_per_channel(tmp_path: Path, recv: Receiver, pg_db: str) -> None:
    cfg = config(tmp_path, recv)
    uri = pg_db + "#notif"
    slack = f"/slack/{SLACK_TOKEN}"
    recv.script(slack, (429, {"Retry-After": "1"}, 0.0))  # retried, and the retry recorded in the database
    p = recorder(cfg, uri, env(recv))
    try:
        wait_for("the breach's trigger and resolve", lambda: [a for a, _ in pd_actions(recv)] == ["trigger", "resolve"])
        wait_for("every message delivered", lambda: all(settled(uri, ch) for ch in ("ops", "oncall", "hook")))
    finally:
        servers.interrupt(p)
    evs = events(uri, "notify")
    queued = [e for e in evs if e["state"] == "queued"]
    texts = Counter(r.json["text"] for r in recv.got(slack, accepted=True))
    assert texts == Counter(slack_escape(e["text"]) for e in queued if "ops" in e["channels"])  # once each
    assert any(e["state"] == "retrying" and e["result"] == "HTTP 429 (retry after 1s)" for e in evs)
    assert pd_actions(recv) == [
        ("trigger", "warroom/notif/criterion/latency"),
        ("resolve", "warroom/notif/criterion/latency"),
    ]
    hooks = recv.got("/hook/", accepted=True)
    assert sorted(r.headers["Idempotency-Key"].split("-")[0] for r in hooks) == sorted(
        str(e["seq"]) for e in queued if "hook" in e["channels"]
    )
    assert open_reader(uri).verify().ok


def test_a_recorder_taking_over_on_another_host_sends_what_was_left_and_nothing_twice(
    tmp_path: Path, recv: Receiver, pg_db: str
) -> None:
    """SIGKILL the leader while Slack makes it wait a minute: the next one (another "host") reads the database's
    notify events, delivers what was queued and not delivered, and queues nothing already announced."""
    # the breach outlasts the takeover (a lease's TTL plus a new interpreter's start on a loaded machine)
    cfg = config(tmp_path, recv, breach_at=2.0, breach_for=25.0)
    uri = pg_db + "#notif"
    slack = f"/slack/{SLACK_TOKEN}"
    recv.script(slack, (429, {"Retry-After": "60"}, 0.0))
    a = recorder(cfg, uri, {**env(recv), "SSH_CONNECTION": "10.0.0.1 50000 10.0.0.9 22"})
    b = None
    try:
        wait_for("A waiting out Retry-After", lambda: any(e["state"] == "retrying" for e in events(uri, "notify")))
        # PagerDuty's trigger, sent alongside, on the record first: a kill between its 202 and the record is a
        # duplicate no recorder can avoid (as in test_notify's takeover)
        wait_for(
            "A's PagerDuty trigger recorded as delivered",
            lambda: any(e.get("channel") == "oncall" and e["state"] == "delivered" for e in events(uri, "notify")),
        )
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        b = recorder(cfg, uri, {**env(recv), "SSH_CONNECTION": "10.0.0.2 50000 10.0.0.9 22"})
        wait_for("the clear resolved", lambda: ("resolve", "warroom/notif/criterion/latency") in pd_actions(recv), 90)
        wait_for("everything delivered", lambda: all(settled(uri, ch) for ch in ("ops", "oncall", "hook")), 60)
    finally:
        servers.interrupt(a)
        if b is not None:
            servers.interrupt(b)
    queued = [e for e in events(uri, "notify") if e["state"] == "queued"]
    by_signal: dict[str, list[object]] = {}
    for e in queued:
        by_signal.setdefault(e["signal"], []).append(e.get("value"))
    for sig, values in by_signal.items():  # B knew from the database what A had announced
        assert all(a != b for a, b in itertools.pairwise(values)), f"{sig} announced twice: {values}"
    assert len({d.get("pid") for d in events(uri, "recorder")}) == 2, "the second recorder did not take over"
    texts = Counter(r.json["text"] for r in recv.got(slack, accepted=True))
    assert texts == Counter(slack_escape(e["text"]) for e in queued if "ops" in e["channels"])
    assert pd_actions(recv) == [
        ("trigger", "warroom/notif/criterion/latency"),
        ("resolve", "warroom/notif/criterion/latency"),
    ]


@pytest.mark.prometheus
def test_an_ack_on_a_postgresql_log_becomes_a_silence_and_the_resolve_expires_it(tmp_path: Path, pg_db: str) -> None:
    from promstack import start_alertmanager

    am = start_alertmanager(tmp_path / "am")
    rec = None
    uri = pg_db + "#silences"
    try:
        t0 = datetime.fromtimestamp(time.time() - 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cfg = tmp_path / "launch.yaml"
        cfg.write_text(
            f"""
version: 1
launch: {{id: silences, name: Silence test, t0: {t0}}}
roles:
  - {{id: commander, title: Launch Commander, commander: true, members: [dana]}}
phases:
  - {{id: live, name: Live, at: -1h}}
sources:
  am: {{type: alertmanager, url: "{am.url}", interval: 0.5s, ack_silence: 30m}}
"""
        )
        rec = recorder(cfg, uri, {**os.environ, "PYTHONPATH": str(ROOT)})
        labels = {"alertname": "CheckoutErrors", "service": "api", "severity": "critical"}
        post_alert(am.url, labels)
        (alert,) = wait_for("the alert recorded", lambda: events(uri, "alert"))
        key = "am:" + alert["fingerprint"]
        dana = open_store(uri, Actor(user="dana", host="laptop", name="Dana (CTO)"))  # a console on another host
        try:
            ack = dana.append("ack", {"alert": key})
        finally:
            dana.close()
        created = wait_for("a silence", lambda: [s for s in events(uri, "silence") if s["state"] == "created"])[0]
        assert created["alert"] == key and created["ack_seq"] == ack.seq
        sil = httpx.get(f"{am.url}/api/v2/silence/{created['id']}", timeout=5).json()
        assert sil["status"]["state"] == "active" and sil["createdBy"] == "Dana (CTO) (dana@laptop)"
        assert f"log seq {ack.seq}" in sil["comment"]
        post_alert(am.url, labels, resolved=True)
        expired = wait_for(
            "the silence expired", lambda: [s for s in events(uri, "silence") if s["state"] == "expired"]
        )
        assert expired[0]["id"] == created["id"] and expired[0]["why"] == "the alert resolved"
        assert httpx.get(f"{am.url}/api/v2/silence/{created['id']}", timeout=5).json()["status"]["state"] == "expired"
        assert len([s for s in events(uri, "silence") if s["state"] == "created"]) == 1  # one silence per ack
    finally:
        if rec is not None:
            rec.send_signal(signal.SIGINT)
            rec.wait(15)
        am.stop()
