"""Notifications against a real local receiver (tests/notify_receiver.py) standing in for Slack, PagerDuty
and a webhook, sent by real recorder processes (tests/notify_recorder.py) on a real log.

- a breach opens one PagerDuty incident and its clear resolves it, with the same dedup_key; Slack hears both;
  a 429 with Retry-After and a 500 are retried, and each message is accepted once;
- a rollback (the real `warroom rollback`) sends started and finished;
- SIGKILL the recorder while a delivery waits out a Retry-After and while a webhook request is in flight:
  the console that takes over sends what was not delivered, nothing is accepted twice on Slack or
  PagerDuty, and the webhook's repeat carries the same idempotency key;
- the webhook's HMAC-SHA256 header verifies; no URL or key appears in the log or the report;
- a failing channel shows as a failing source in the fold's view.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import servers
from notify_receiver import Receiver
from runcli import argv, checkout_env, warroom
from waiting import wait_for

from warroom.config import load_launch
from warroom.core.state import fold, view
from warroom.notify.messages import SIGNATURE_HEADER, slack_escape, verify
from warroom.store.log import iter_events

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow]
SLACK_TOKEN = "T0TEST/B0TEST/sEcReTsLaCkToKeN"
ROUTING_KEY = "pdroutingkey0123456789abcdef"
HOOK_SECRET = "hmac-secret-for-tests"


def config(tmp: Path, recv: Receiver, *, breach_at: float = 3.0, breach_for: float = 4.0) -> Path:
    t0 = datetime.fromtimestamp(time.time() - 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp / "hook-url").write_text(f"{recv.url}/hook/private-path-4711\n")
    (tmp / "hook-secret").write_text(HOOK_SECRET + "\n")
    text = f"""
version: 1
identity: claimed  # the tests play the commander by --as name from one account
launch: {{id: notif, name: Notify test launch, t0: {t0}}}
roles:
  - {{id: commander, title: Launch Commander, commander: true, members: [tester]}}
phases:
  - id: live
    name: Live
    at: -1h
    sections:
      - name: Watch
        items:
          - {{id: watch, text: Watch the dashboards}}
sources:
  sim:
    type: simulated
    interval: 0.5s
    signals:
      lat:
        base: 100
        steps:
          - {{at: {breach_at}s, for: {breach_for}s, value: 900}}
criteria:
  - {{id: latency, name: API latency, source: sim, query: lat, unit: ms, go: "< 500ms"}}
rollback:
  allowed_roles: [commander]
  steps:
    - {{name: Undo, run: ["true"]}}
notify:
  give_up_after: 2m
  timeout: 20s
  channels:
    ops:
      type: slack
      url_env: WARROOM_TEST_SLACK_URL
    oncall:
      type: pagerduty
      routing_key_env: WARROOM_TEST_PD_KEY
      url: {recv.url}/pd
    hook:
      type: webhook
      url_file: {tmp / "hook-url"}
      secret_file: {tmp / "hook-secret"}
  routes:
    - channels: [ops]
      events: [verdict, breach, rollback, signoff, decision]
    - channels: [oncall, hook]
      events: [breach, rollback]
"""
    path = tmp / "launch.yaml"
    path.write_text(text)
    return path


def env(recv: Receiver) -> dict[str, str]:
    return checkout_env(WARROOM_TEST_SLACK_URL=f"{recv.url}/slack/{SLACK_TOKEN}", WARROOM_TEST_PD_KEY=ROUTING_KEY)


def start_recorder(cfg: Path, log: Path, recv: Receiver) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "notify_recorder.py"), str(cfg), str(log)],
        env=env(recv),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def notify_events(log: Path) -> list[dict]:
    return [ev.data | {"seq": ev.seq} for ev in iter_events(log) if ev.kind == "notify"] if log.exists() else []


def settled(log: Path, channel: str) -> bool:
    """Every message queued for `channel` has a final outcome."""
    evs = notify_events(log)
    queued = {e["seq"] for e in evs if e["state"] == "queued" and channel in e["channels"]}
    final = {e["id"] for e in evs if e.get("channel") == channel and e["state"] in ("delivered", "failed", "gave_up")}
    return bool(queued) and queued <= final


def pd_actions(recv: Receiver) -> list[tuple[str, str]]:
    return [(r.json["event_action"], r.json["dedup_key"]) for r in recv.got("/pd", accepted=True)]


@pytest.fixture
def recv():  # type: ignore[no-untyped-def]
    r = Receiver()
    yield r
    r.close()


def assert_no_secret(tmp: Path, log: Path, recv: Receiver) -> None:
    report = subprocess.run(argv("report", log), env=env(recv), cwd=ROOT, capture_output=True, timeout=60)
    assert report.returncode == 0, report.stderr
    html = tmp / "report.html"
    subprocess.run(argv("report", log, "-o", html), env=env(recv), cwd=ROOT, timeout=60)
    for blob, where in ((log.read_bytes(), "log"), (report.stdout, "report"), (html.read_bytes(), "html report")):
        for secret in ("sEcReTsLaCkToKeN", ROUTING_KEY, "private-path-4711", HOOK_SECRET, f"{recv.url}/slack"):
            assert secret.encode() not in blob, f"{secret} in the {where}"


def test_breach_triggers_and_clear_resolves_with_one_dedup_key(tmp_path: Path, recv: Receiver) -> None:
    cfg = config(tmp_path, recv)
    log = tmp_path / "launch.jsonl"
    slack = f"/slack/{SLACK_TOKEN}"
    recv.script(slack, (429, {"Retry-After": "1"}, 0.0))  # the first Slack message is rate limited once
    recv.script("/pd", (500, {}, 0.0))  # and PagerDuty's first answer is a server error
    p = start_recorder(cfg, log, recv)
    try:
        wait_for("the breach's trigger and resolve", lambda: [a for a, _ in pd_actions(recv)] == ["trigger", "resolve"])
        wait_for("every Slack message delivered", lambda: settled(log, "ops") and settled(log, "hook"))
    finally:
        servers.interrupt(p)

    (_, t_key), (_, r_key) = pd_actions(recv)
    assert t_key == r_key == "warroom/notif/criterion/latency"
    trigger = recv.got("/pd", accepted=True)[0].json
    assert trigger["routing_key"] == ROUTING_KEY and trigger["payload"]["severity"] == "critical"
    assert "API latency" in trigger["payload"]["summary"]

    texts = [r.json["text"] for r in recv.got(slack, accepted=True)]
    queued_for_slack = [
        slack_escape(e["text"]) for e in notify_events(log) if e["state"] == "queued" and "ops" in e["channels"]
    ]
    assert Counter(texts) == Counter(queued_for_slack), "a Slack message was accepted twice, or lost"
    assert "misses &lt; 500ms" in " ".join(texts), "Slack's control characters are escaped"
    assert "verdict NO-GO" in " ".join(texts) and texts[0].startswith("Notify test launch: verdict")
    assert any("BREACH" in t and "API latency" in t for t in texts)
    assert any("cleared: API latency" in t for t in texts)
    for r in recv.got(slack, accepted=True):
        assert r.json["blocks"][0]["text"]["text"] == r.json["text"]

    # the 429 and the 500 were retried, the Retry-After honoured, and each attempt recorded
    evs = notify_events(log)
    retried = [e for e in evs if e["state"] == "retrying"]
    assert {e["channel"] for e in retried} == {"ops", "oncall"}
    assert any(e["result"] == "HTTP 429 (retry after 1s)" for e in retried)
    assert any(e["result"] == "HTTP 500" for e in retried)
    first_429 = recv.got(slack)[0]
    second = recv.got(slack)[1]
    assert second.t - first_429.t >= 0.9, "Retry-After: 1 was not waited out"
    assert any(e["state"] == "delivered" and e["attempt"] == 2 for e in evs)

    # the webhook: signed, with the queued event's seq and hash as idempotency key
    hooks = recv.got("/hook/", accepted=True)
    assert len(hooks) == 2
    for r in hooks:
        assert verify(HOOK_SECRET, r.body, r.headers[SIGNATURE_HEADER])
        assert not verify("another secret", r.body, r.headers[SIGNATURE_HEADER])
        body = r.json
        assert r.headers["Idempotency-Key"] == body["idempotency_key"] == f"{body['seq']}-{body['hash']}"
    queued = {e["seq"]: e for e in evs if e["state"] == "queued"}
    assert [queued[r.json["seq"]]["signal"] for r in hooks] == ["breach:latency", "breach:latency"]
    assert_no_secret(tmp_path, log, recv)


def test_rollback_sends_started_and_finished(tmp_path: Path, recv: Receiver) -> None:
    cfg = config(tmp_path, recv, breach_at=3600)
    log = tmp_path / "launch.jsonl"
    p = start_recorder(cfg, log, recv)
    try:
        wait_for("the recorder", lambda: notify_events(log))
        rollback = ("rollback", cfg, "--log", log, "--yes-i-mean-it", "notif", "--as", "tester")
        r = warroom(*rollback, "--reason", "checkout errors", env=env(recv), cwd=ROOT, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for("rollback resolved in PagerDuty", lambda: ("resolve", "warroom/notif/rollback") in pd_actions(recv))
        wait_for("Slack told", lambda: settled(log, "ops"))
    finally:
        servers.interrupt(p)
    texts = [r.json["text"] for r in recv.got(f"/slack/{SLACK_TOKEN}", accepted=True)]
    started = [t for t in texts if "rollback STARTED" in t]
    finished = [t for t in texts if "rollback SUCCEEDED" in t]
    assert len(started) == 1 and "checkout errors" in started[0] and "tester" in started[0]
    assert len(finished) == 1
    assert [a for a in pd_actions(recv) if a[1] == "warroom/notif/rollback"] == [
        ("trigger", "warroom/notif/rollback"),
        ("resolve", "warroom/notif/rollback"),
    ]


def test_takeover_after_kill_mid_delivery_sends_no_duplicate_and_drops_nothing(tmp_path: Path, recv: Receiver) -> None:
    cfg = config(tmp_path, recv, breach_at=2.0, breach_for=6.0)
    log = tmp_path / "launch.jsonl"
    slack = f"/slack/{SLACK_TOKEN}"
    hook = "/hook/private-path-4711"
    recv.script(slack, (429, {"Retry-After": "60"}, 0.0))  # A waits a minute before its second try
    recv.script(hook, (200, {}, 4.0))  # and A's webhook request hangs in flight
    a = start_recorder(cfg, log, recv)
    b = None
    try:
        wait_for("A waiting out Retry-After", lambda: any(e["state"] == "retrying" for e in notify_events(log)))
        wait_for("A's webhook request in flight", lambda: hook in recv.arrived)
        # and only the webhook: PagerDuty's trigger, sent alongside it, must be on the record first, or B rightly
        # sends it again (a kill between the 202 and the record is a duplicate no recorder can avoid)
        wait_for(
            "A's PagerDuty trigger recorded as delivered",
            lambda: any(e.get("channel") == "oncall" and e["state"] == "delivered" for e in notify_events(log)),
        )
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        assert not any(e.get("channel") == "hook" for e in notify_events(log)), "the webhook was not in flight"
        b = start_recorder(cfg, log, recv)
        wait_for("the clear resolved", lambda: ("resolve", "warroom/notif/criterion/latency") in pd_actions(recv))
        wait_for("everything delivered", lambda: all(settled(log, ch) for ch in ("ops", "oncall", "hook")), 60)
    finally:
        servers.interrupt(a)
        if b is not None:
            servers.interrupt(b)

    evs = notify_events(log)
    queued = [e for e in evs if e["state"] == "queued"]
    owners = {ev.data.get("pid") for ev in iter_events(log) if ev.kind == "recorder"}
    assert len(owners) == 2, "the second recorder did not take over"
    # Slack: every queued message accepted exactly once, none lost; the one waiting for A went out from B
    slack_texts = Counter(r.json["text"] for r in recv.got(slack, accepted=True))
    wanted = Counter(slack_escape(e["text"]) for e in queued if "ops" in e["channels"])
    assert slack_texts == wanted
    assert all(e["state"] == "delivered" for e in evs if e.get("channel") == "ops" and e["state"] != "retrying")
    # PagerDuty: one trigger and one resolve
    assert pd_actions(recv) == [
        ("trigger", "warroom/notif/criterion/latency"),
        ("resolve", "warroom/notif/criterion/latency"),
    ]
    # the webhook request A had in flight is repeated by B with the same idempotency key: a receiver that
    # keeps keys sees each message once, and none is lost
    keys = [r.headers["Idempotency-Key"] for r in recv.got("/hook/")]
    want = {f"{e['seq']}-" for e in queued if "hook" in e["channels"]}
    assert {k.split("-")[0] + "-" for k in keys} == want
    assert len(set(keys)) == len(want)
    assert len(keys) == len(want) + 1, "A's request in flight and B's repeat of it"
    bodies: dict[str, set[bytes]] = {}
    for r in recv.got("/hook/"):
        bodies.setdefault(r.headers["Idempotency-Key"], set()).add(r.body)
    assert all(len(b) == 1 for b in bodies.values()), "a repeated key carried a different body"
    assert_no_secret(tmp_path, log, recv)


def test_failing_channel_is_a_failing_source(tmp_path: Path, recv: Receiver) -> None:
    cfg = config(tmp_path, recv, breach_at=3600)
    log = tmp_path / "launch.jsonl"
    slack = f"/slack/{SLACK_TOKEN}"
    recv.script(slack, *[(503, {}, 0.0)] * 3)
    p = start_recorder(cfg, log, recv)
    try:
        wait_for("a delivery failure recorded", lambda: any(e["state"] == "retrying" for e in notify_events(log)))
        launch = load_launch(cfg)
        st = fold(launch, iter_events(log))
        failing = [s for s in view(st, time.time()).sources if s.failing]
        assert [s.name for s in failing] == ["notify:ops"]
        assert "HTTP 503" in failing[0].reason and SLACK_TOKEN not in failing[0].reason
        assert "notify:ops (delivery): FAILING" in " ".join(e.text for e in st.timeline)
        wait_for("delivered after the 503s", lambda: settled(log, "ops"))
        st = fold(launch, iter_events(log))
        assert [s.state for s in view(st, time.time()).sources if s.name == "notify:ops"] == ["ok"]
    finally:
        servers.interrupt(p)


def test_notify_test_reports_per_channel(tmp_path: Path, recv: Receiver) -> None:
    cfg = config(tmp_path, recv)
    slack = f"/slack/{SLACK_TOKEN}"
    recv.script(slack, (429, {"Retry-After": "1"}, 0.0))
    cmd = ("notify", "test", cfg)
    r = warroom(*cmd, env=env(recv), cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = sorted(r.stdout.splitlines())
    assert lines == [
        "ok      hook (webhook): HTTP 200",
        "ok      oncall (pagerduty): HTTP 202, HTTP 202",
        "ok      ops (slack): HTTP 200",
    ]
    assert [r.json["event_action"] for r in recv.got("/pd")] == ["trigger", "resolve"]
    assert len(recv.got(slack)) == 2 and "test message" in recv.got(slack, accepted=True)[0].json["text"]
    hook = recv.got("/hook/")[0]
    assert verify(HOOK_SECRET, hook.body, hook.headers[SIGNATURE_HEADER])

    # a channel whose secret is missing is named, with where it was looked for, and the exit says so
    e = env(recv)
    del e["WARROOM_TEST_SLACK_URL"]
    r = warroom(*cmd, env=e, cwd=ROOT, timeout=60)
    assert r.returncode == 1
    assert "FAILED  ops (slack): webhook URL: environment variable WARROOM_TEST_SLACK_URL is not set" in r.stdout
    assert "ok      hook (webhook)" in r.stdout
    assert SLACK_TOKEN not in r.stdout + r.stderr
