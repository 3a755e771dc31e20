"""Sources against real local servers (no Prometheus needed): simulated, http, host, and the
Prometheus and Alertmanager sources against servers that misbehave."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from promstack import Canned, Silent, free_port

from warroom.config import (
    AlertmanagerSource,
    Auth,
    HostSource,
    HttpSource,
    PrometheusSource,
    SimulatedSource,
)
from warroom.sources import Query, make_source
from warroom.sources.alertmanager import parse_matchers
from warroom.sources.prometheus import parse_result
from warroom.sources.simulated import Simulated

EPOCH = 1_800_000_000.0


@pytest.fixture
def canned() -> Iterator[Callable[..., Canned]]:
    """Canned HTTP servers, closed after the test."""
    made: list[Canned] = []

    def make(*a: Any, **kw: Any) -> Canned:
        c = Canned(*a, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    s = Silent()
    yield s
    s.close()


def read(src, text: str, unit: str = "", at: float | None = None):
    return asyncio.run(_read(src, text, unit, at))


async def _read(src, text, unit, at):
    try:
        return await src.read(Query("c", text, unit), time.time() if at is None else at)
    finally:
        await src.aclose()


# ----------------------------------------------------------------------------- simulated


SIM = SimulatedSource.model_validate(
    {
        "type": "simulated",
        "seed": 7,
        "interval": 5,
        "signals": {
            "p95": {"base": 320, "noise": 25, "steps": [{"at": "6m", "for": "3m", "value": 720}]},
            "cpu": {"base": 50, "drift": 1.0},
            "ramp": {"base": 10, "steps": [{"at": "1m", "for": "1m", "ramp_to": 20}]},
            "gap": {
                "base": 1,
                "steps": [{"at": "1m", "for": "30s", "no_data": True}, {"at": "2m", "for": "30s", "error": "timeout"}],
            },
        },
        "alerts": [{"at": "4m", "for": "3m", "labels": {"alertname": "HighLatency", "severity": "critical"}}],
    }
)


def test_simulated_is_a_function_of_seed_signal_and_tick():
    a, b = Simulated("sim", SIM, EPOCH), Simulated("sim", SIM, EPOCH)
    at = EPOCH + 5 * 17
    first = asyncio.run(a.read(Query("x", "p95"), at))
    again = asyncio.run(b.read(Query("x", "p95"), at))  # another process, another leader: the same value
    assert first == again and first.t == at
    assert 295 <= first.value <= 345
    other_seed = Simulated("sim", SIM.model_copy(update={"seed": 8}), EPOCH)
    assert asyncio.run(other_seed.read(Query("x", "p95"), at)).value != first.value


def test_simulated_scenario_steps_drift_ramps_gaps_and_alerts():
    sim = Simulated("sim", SIM, EPOCH)

    def at(sig: str, minutes: float):
        return asyncio.run(sim.read(Query("x", sig), EPOCH + minutes * 60))

    assert 695 <= at("p95", 7).value <= 745  # the breach at minute 6 for 3 minutes
    assert at("p95", 9.5).value < 400
    assert at("cpu", 10).value == pytest.approx(60)  # drift is per minute
    assert at("ramp", 1.5).value == pytest.approx(15)
    assert at("gap", 1.2).error == "no-data"
    r = at("gap", 2.2)
    assert r.error == "timeout" and "simulated timeout" in r.reason
    assert asyncio.run(sim.alerts(EPOCH + 3 * 60)) == []
    firing = asyncio.run(sim.alerts(EPOCH + 5 * 60))
    assert [a.labels["alertname"] for a in firing] == ["HighLatency"]
    assert firing[0].starts_at == EPOCH + 240
    assert asyncio.run(sim.alerts(EPOCH + 7 * 60)) == []


# ----------------------------------------------------------------------------- http


def http_source(url: str, **kw: object):
    cfg = HttpSource.model_validate({"type": "http", "url": url, "timeout": kw.pop("timeout", 1.0), **kw})
    return make_source("web", cfg, epoch=EPOCH)


def test_http_status_up_latency_and_json(canned):
    srv = canned(200, b'{"db": {"checks": [{"lag_ms": 12.5}, {"lag_ms": "7"}]}, "ok": true}')
    assert read(http_source(srv.url), "status").value == 200
    assert read(http_source(srv.url), "up").value == 1
    lat = read(http_source(srv.url), "latency", unit="ms")
    assert 0 < lat.value < 500
    assert read(http_source(srv.url), "json:db.checks[0].lag_ms").value == 12.5
    assert read(http_source(srv.url), "json:db.checks[1].lag_ms").value == 7
    assert read(http_source(srv.url), "json:ok").value == 1
    missing = read(http_source(srv.url), "json:db.replicas")
    assert missing.error == "no-data" and "no field 'replicas'" in missing.reason


def test_http_criteria_on_one_source_share_one_request_per_poll(canned):
    srv = canned(200, b'{"a": 1, "b": 2}')
    src = http_source(srv.url)

    async def poll():
        at = time.time()
        out = await asyncio.gather(*(src.read(Query(q, q), at) for q in ("status", "json:a", "json:b", "latency")))
        await src.aclose()
        return out

    results = asyncio.run(poll())
    assert [r.value for r in results[:3]] == [200, 1, 2]
    assert srv.hits == 1


def test_http_500_is_a_value_for_status_and_an_error_for_the_rest(canned):
    srv = canned(500, b'{"a": 1}')
    assert read(http_source(srv.url), "status").value == 500
    assert read(http_source(srv.url), "up").value == 0
    r = read(http_source(srv.url), "json:a")
    assert r.error == "http" and r.value is None and "HTTP 500" in r.reason


def test_http_garbage_json_is_a_bad_response(canned):
    srv = canned(200, b"<html>not json")
    r = read(http_source(srv.url), "json:a")
    assert r.error == "bad-response" and "did not answer JSON" in r.reason


def test_http_hanging_server_is_cut_off_at_the_timeout(silent):
    started = time.monotonic()
    r = read(http_source(silent.url, timeout=0.5), "status")
    assert r.error == "timeout" and "within 0.5s" in r.reason
    assert time.monotonic() - started < 3


def test_http_refused_connection():
    r = read(http_source(f"http://127.0.0.1:{free_port()}"), "up")
    assert r.error == "connection" and "cannot connect" in r.reason


def test_bearer_token_from_env_is_sent_and_a_missing_one_is_an_auth_error(canned, monkeypatch):
    srv = canned(200, b"{}")
    auth = {"auth": {"bearer_env": "WR_TEST_TOKEN"}}
    monkeypatch.setenv("WR_TEST_TOKEN", "s3cret")
    assert read(http_source(srv.url, **auth), "status").value == 200
    assert srv.headers.get("Authorization") == "Bearer s3cret"
    monkeypatch.delenv("WR_TEST_TOKEN")
    r = read(http_source(srv.url, **auth), "status")
    assert r.error == "auth" and "WR_TEST_TOKEN is not set" in r.reason


def test_basic_auth_password_from_file(canned, tmp_path):
    srv = canned(200, b"{}")
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    read(http_source(srv.url, auth={"username": "ops", "password_file": str(pw)}), "status")
    assert srv.headers.get("Authorization") == "Basic b3BzOmh1bnRlcjI="  # ops:hunter2


# ----------------------------------------------------------------------------- host


def test_host_readings_are_sane():
    cfg = HostSource.model_validate({"type": "host"})
    for q in ("cpu", "memory", "disk"):
        r = read(make_source("host", cfg, epoch=EPOCH), q)
        assert r.error is None and 0 <= r.value <= 100, (q, r)
    assert read(make_source("host", cfg, epoch=EPOCH), "load1").value >= 0
    gone = HostSource.model_validate({"type": "host", "disk_path": "/no/such/disk"})
    r = read(make_source("host", gone, epoch=EPOCH), "disk")
    assert r.error == "bad-query" and "/no/such/disk does not exist" in r.reason


# ----------------------------------------------------------------------------- prometheus (parsing)


@pytest.mark.parametrize(
    ("result", "value", "error", "words"),
    [
        ([1700000000.5, "0.25"], 0.25, None, ""),
        ([1700000000.5, "NaN"], None, "no-data", "NaN"),
        ([{"metric": {}, "value": [1700000000.5, "99.9"]}], 99.9, None, ""),
        ([{"metric": {}, "value": [1700000000.5, "NaN"]}], None, "no-data", "NaN"),
        ([{"metric": {}, "value": [1700000000.5, "+Inf"]}], None, "bad-response", "+Inf"),
        ([{"metric": {}, "value": [1700000000.5, "-Inf"]}], None, "bad-response", "-Inf"),
        ([], None, "no-data", "empty vector"),
        (
            [{"metric": {"a": "1"}, "value": [1, "1"]}, {"metric": {"a": "2"}, "value": [1, "2"]}],
            None,
            "bad-query",
            "2 series where one was expected",
        ),
        ([{"metric": {}, "values": [[1, "1"]]}], None, "bad-query", "range vector"),
        ([1700000000.5, "up"], None, "bad-response", "not a number"),
    ],
)
def test_prometheus_results(result, value, error, words):
    r = parse_result(result, 1.0)
    assert r.value == value and r.error == error and words in r.reason
    if value is not None:
        assert r.t == 1700000000.5  # the sample carries Prometheus's own evaluation time


def prom_source(url: str, timeout: float = 1.0, **kw: object):
    cfg = PrometheusSource.model_validate({"type": "prometheus", "url": url, "timeout": timeout, **kw})
    return make_source("prom", cfg, epoch=EPOCH, queries=4)


def test_prometheus_answering_500(canned):
    srv = canned(500, b'{"status":"error","errorType":"internal","error":"storage is on fire"}')
    r = read(prom_source(srv.url), "up")
    assert r.error == "http" and "HTTP 500" in r.reason and "storage is on fire" in r.reason
    assert srv.hits == 1  # no hidden retries


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (401, b'{"status":"error","error":"unauthorized"}', "auth", "refused the credentials (HTTP 401)"),
        (403, b"forbidden", "auth", "refused the credentials (HTTP 403)"),
        (
            422,
            b'{"status":"error","errorType":"execution","error":"it\'s \\"odd\\"\\n\xc3\xa9"}',
            "bad-query",
            'rejected the query: it\'s "odd"\n\u00e9',
        ),
        (
            503,
            b'{"status":"error","errorType":"timeout","error":"query timeout: context deadline exceeded"}',
            "timeout",
            "gave up evaluating the query: query timeout",
        ),
        (  # what a real Prometheus answers when the query's own timeout runs out
            503,
            b'{"status":"error","errorType":"timeout","error":"query timed out in query execution"}',
            "timeout",
            "gave up evaluating the query: query timed out in query execution",
        ),
        (502, b"<html>bad gateway</html>", "http", "Prometheus answered HTTP 502"),
    ],
)
def test_prometheus_refusals_are_read_from_the_response(canned, status, body, error, words):
    """Status and Prometheus's own error come from the response (odd quotes, newlines, UTF-8 and all)."""
    srv = canned(status, body)
    r = read(prom_source(srv.url), "up")
    assert r.error == error and words in r.reason, r.reason
    assert srv.hits == 1


def test_prometheus_answering_garbage(canned):
    srv = canned(200, b"<html>this is not prometheus</html>", content_type="text/html")
    r = read(prom_source(srv.url), "up")
    assert r.error == "bad-response" and "not a query result" in r.reason


def test_prometheus_hanging_is_a_timeout_without_retries(silent):
    started = time.monotonic()
    r = read(prom_source(silent.url, timeout=0.5), "up")
    took = time.monotonic() - started
    assert r.error == "timeout" and "within 0.5s" in r.reason
    assert took < 2.0  # the client's default would retry 3x with back-off
    assert len(silent.conns) == 1


def test_prometheus_down_is_a_connection_error_at_once():
    started = time.monotonic()
    r = read(prom_source(f"http://127.0.0.1:{free_port()}"), "up")
    assert r.error == "connection" and "Connection refused" in r.reason
    assert time.monotonic() - started < 1.0


def test_prometheus_missing_token_file_is_an_auth_error(canned, tmp_path):
    srv = canned(200, b"{}")
    r = read(prom_source(srv.url, auth=Auth(bearer_file=str(tmp_path / "nope")).model_dump()), "up")
    assert r.error == "auth" and "cannot read" in r.reason and srv.hits == 0


def test_prometheus_queries_run_concurrently(canned):
    body = b'{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}'
    srv = canned(200, body, delay=0.4)
    src = prom_source(srv.url, timeout=5)

    async def poll():
        at = time.time()
        # distinct scalar queries: the same text twice is asked once, and scalars are never batched
        out = await asyncio.gather(*(src.read(Query(str(i), str(i)), at) for i in range(12)))
        await src.aclose()
        return out

    started = time.monotonic()
    results = asyncio.run(poll())
    took = time.monotonic() - started
    assert all(r.value == 1 for r in results)
    assert took < 12 * 0.4 / 3, f"12 queries of 0.4 s took {took:.2f}s: not concurrent"


# ----------------------------------------------------------------------------- alertmanager


def test_matchers_parse_in_alertmanager_syntax():
    assert parse_matchers('severity="critical"') == ['severity="critical"']
    assert parse_matchers('{severity="critical", service=~"api.*"}') == ['severity="critical"', 'service=~"api.*"']
    assert parse_matchers("team!=db") == ['team!="db"']
    with pytest.raises(ValueError, match="label matcher"):
        parse_matchers("severity critical")


def test_alertmanager_garbage_and_down(canned):
    srv = canned(200, b"{nope")
    cfg = AlertmanagerSource.model_validate({"type": "alertmanager", "url": srv.url, "timeout": 1})
    r = read(make_source("am", cfg, epoch=EPOCH), 'severity="critical"')
    assert r.error == "bad-response"
    cfg = AlertmanagerSource.model_validate({"type": "alertmanager", "url": f"http://127.0.0.1:{free_port()}"})
    r = read(make_source("am", cfg, epoch=EPOCH), "")
    assert r.error == "connection"
