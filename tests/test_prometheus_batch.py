"""Batched Prometheus polls: the same readings as one request per query, in far fewer requests.

Against the real Prometheus of tests/promstack.py, reached through a counting
reverse proxy (which can also refuse long URLs, as nginx does), every reading
of a batched poll is compared with the reading of the same query asked alone
at the same time, for values, NaN, +-Inf, empty, several series, scalars,
strings, range vectors, syntax errors and a query that starts failing at run
time. The pure parts (composing, splitting, blaming, chunking) are tested
without a server at the end.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import Gauge
from promstack import Stack, prom_stack

from warroom.config import PrometheusSource, parse_launch
from warroom.core.events import Actor
from warroom.recorder.loop import Recorder
from warroom.sources import Query, Reading
from warroom.sources import prombatch as pb
from warroom.sources import prometheus as prom_mod
from warroom.sources.prometheus import Prometheus
from warroom.store.log import DecisionLog, read_log

QUERIES = {
    "vec": "wr_cfur",
    "ratio": "wr_latency_ms / 1000",
    "sum": "sum(wr_multi)",
    "empty": "wr_does_not_exist",
    "nan": "wr_nan",
    "inf": "wr_inf",
    "neginf": "-wr_inf",
    "multi": "wr_multi",
    "names": '{__name__=~"wr_cfur|wr_latency_ms"}',
    "comment": "wr_errors # the share of requests that failed",
    "same": "wr_cfur",  # a second criterion with the same query
    "scalar": "scalar(wr_cfur)",
    "number": "42",
    "string": '"up"',
    "syntax": "sum(rate(wr_errors[1m]",
    "range": "wr_cfur[5s]",
    "range_empty": "wr_does_not_exist[1m]",
    "own_label": 'label_replace(wr_cfur, "__warroom_id", "x", "", "")',
}
# asked alone after learning: scalar, number, string, syntax, range, range_empty (once blamed), own_label
ALONE = {"scalar", "number", "string", "syntax", "range", "range_empty", "own_label"}


class CountingProxy:
    """A reverse proxy in front of Prometheus that counts query requests and refuses a query longer than
    `max_line`: in the request line with HTTP 414, as nginx does (large_client_header_buffers), or in a POST
    body with 413 (client_max_body_size). With `post=False` it refuses POST with 405, as a read-only gateway
    may."""

    def __init__(self, upstream: str, max_line: int = 1 << 20, post: bool = True) -> None:
        outer = self
        self.upstream, self.max_line, self.post = upstream, max_line, post
        self.queries = 0
        self.refused = 0
        self.methods: list[str] = []  # of the query requests, in order
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=10)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # a connection per request: once closed, every request is refused

            def do_GET(self) -> None:
                body = b""
                if self.command == "POST":
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer._lock:
                    if self.path.startswith("/api/v1/query"):
                        outer.queries += 1
                        outer.methods.append(self.command)
                    too_long = len(self.requestline) > outer.max_line or len(body) > outer.max_line
                    outer.refused += too_long
                if self.command == "POST" and not outer.post:
                    self._send(405, b"method not allowed", "text/plain")
                    return
                if too_long:
                    status = 413 if body else 414
                    self._send(status, f"<html>{status} Request Too Large</html>".encode(), "text/html")
                    return
                if self.command == "POST":
                    ctype = self.headers.get("Content-Type", "")
                    r = outer._client.post(outer.upstream + self.path, content=body, headers={"Content-Type": ctype})
                else:
                    r = outer._client.get(outer.upstream + self.path)
                self._send(r.status_code, r.content, r.headers.get("content-type", "application/json"))

            do_POST = do_GET

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()


def server(test):
    return pytest.mark.prometheus(pytest.mark.slow(test))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with prom_stack(tmp_path_factory.mktemp("batch"), alertmanager=False) as st:
        st.wait_value("count_over_time(wr_cfur[10s])", lambda v: v >= 3)  # a few scrapes behind us
        yield st


@pytest.fixture
def proxy(stack: Stack) -> Iterator[CountingProxy]:
    p = CountingProxy(stack.prom_url)
    yield p
    p.close()


def source(url: str, batch: bool = True, timeout: float = 5.0) -> Prometheus:
    cfg = PrometheusSource.model_validate({"type": "prometheus", "url": url, "timeout": timeout})
    return Prometheus("prom", cfg, workers=8, batch=batch)


async def poll(src: Prometheus, queries: dict[str, str], at: float) -> dict[str, Reading]:
    """Every query read at once, as the recorder does."""
    readings = await asyncio.gather(*(src.read(Query(cid, q), at) for cid, q in queries.items()))
    return dict(zip(queries, readings, strict=True))


async def alone(url: str, queries: dict[str, str], at: float) -> dict[str, Reading]:
    """The reference: each query in a request of its own (batching off), one after another."""
    src = source(url, batch=False)
    try:
        return {cid: await src.read(Query(cid, q), at) for cid, q in queries.items()}
    finally:
        await src.aclose()


def settled() -> float:
    """A time whose samples Prometheus already has (scrapes every second)."""
    return time.time() - 2.0


@server
async def test_batched_readings_equal_readings_alone_in_far_fewer_requests(stack: Stack, proxy: CountingProxy):
    src = source(proxy.url)
    try:
        counts = []
        for _ in range(3):  # learn what each query is; a batch (one member is then blamed); a clean batch
            at = settled()
            before = proxy.queries
            got = await poll(src, QUERIES, at)
            counts.append(proxy.queries - before)
            assert got == await alone(stack.prom_url, QUERIES, at)
    finally:
        await src.aclose()
    expected = await alone(stack.prom_url, QUERIES, settled())
    assert expected["vec"].value == 99.95 and expected["ratio"].value == 0.3 and expected["sum"].value == 3
    assert expected["empty"].error == "no-data" and "empty vector" in expected["empty"].reason
    assert expected["nan"].error == "no-data" and "NaN" in expected["nan"].reason
    assert expected["inf"].error == "bad-response" and "+Inf" in expected["inf"].reason
    assert expected["neginf"].error == "bad-response" and "-Inf" in expected["neginf"].reason
    assert expected["multi"].error == "bad-query" and "2 series where one was expected" in expected["multi"].reason
    assert expected["names"].error == "bad-query" and "2 series" in expected["names"].reason
    assert expected["comment"].value == 0.02 and expected["scalar"].value == 99.95 and expected["number"].value == 42
    assert expected["syntax"].error == "bad-query" and "parse error" in expected["syntax"].reason
    assert expected["range"].error == "bad-query" and "range vector" in expected["range"].reason
    distinct = len(set(QUERIES.values()))
    # poll 1: each distinct query once; poll 2: the batch, refused for the empty range vector in it, and
    # its members alone, plus the rest; poll 3: one batch plus those that are never batched
    assert counts[0] == distinct
    assert counts[1] == 1 + distinct
    assert counts[2] == 1 + len(ALONE)
    assert src.chunks.sizes() == [distinct - len(ALONE)]


@server
async def test_a_query_failing_at_run_time_is_asked_alone_and_the_others_keep_their_values(
    stack: Stack, proxy: CountingProxy
):
    dyn = Gauge("wr_dyn", "series the test adds to make a join ambiguous", ["k"], registry=stack.exporter.registry)
    try:
        dyn.labels("a").set(5)
        stack.wait_value("wr_dyn", lambda v: v == 5)
        queries = {"join": "wr_cfur + on(job) wr_dyn", "vec": "wr_cfur", "lat": "wr_latency_ms", "sum": "sum(wr_multi)"}
        src = source(proxy.url)
        try:
            for _ in range(2):  # learn, then batched
                at = settled()
                assert await poll(src, queries, at) == await alone(stack.prom_url, queries, at)
            assert src.chunks.sizes() == [4]
            dyn.labels("b").set(6)  # now wr_dyn has two series per job: the join fails at run time
            stack.wait_value("count(wr_dyn)", lambda v: v == 2)
            await asyncio.sleep(2.0)
            at = settled()
            before = proxy.queries
            got = await poll(src, queries, at)
            assert proxy.queries - before == 1 + 4  # the batch, refused; then each member alone
            assert got == await alone(stack.prom_url, queries, at)
            join = got["join"]
            assert join.error == "bad-query" and "found duplicate series for the match group" in join.reason
            assert got["vec"].value == 99.95 and got["lat"].value == 300 and got["sum"].value == 3
            before = proxy.queries
            at = settled()
            assert await poll(src, queries, at) == await alone(stack.prom_url, queries, at)
            assert proxy.queries - before == 2  # the three others batched, the join alone
        finally:
            await src.aclose()
    finally:
        stack.exporter.registry.unregister(dyn)


@server
async def test_behind_a_proxy_that_refuses_long_queries_the_batch_is_halved_and_answers_stay_right(stack: Stack):
    queries = {f"q{i}": f"avg_over_time(wr_cfur[{3 + i}s])" for i in range(8)}
    one = pb.encoded_size(list(queries.values()))
    proxy = CountingProxy(stack.prom_url, max_line=one * 3 // 4)  # too short for all 8, enough for 4
    src = source(proxy.url)
    try:
        for _ in range(3):  # learn; the batch of 8 is refused (413) and the 8 asked alone; two batches of 4
            at = settled()
            assert await poll(src, queries, at) == await alone(stack.prom_url, queries, at)
        before = proxy.queries
        at = settled()
        got = await poll(src, queries, at)
        assert got == await alone(stack.prom_url, queries, at)
        assert all(r.value == 99.95 for r in got.values())
        assert proxy.refused == 1 and proxy.queries - before == 2
        assert src.chunks.sizes() == [4, 4]
    finally:
        await src.aclose()
        proxy.close()


@server
async def test_batches_are_posted_and_a_gateway_refusing_post_gets_them_by_get_with_the_same_answers(stack: Stack):
    queries = {f"q{i}": f"avg_over_time(wr_cfur[{3 + i}s])" for i in range(6)}
    for post in (True, False):
        proxy = CountingProxy(stack.prom_url, post=post)
        src = source(proxy.url)
        try:
            for _ in range(3):  # learn (each alone, by GET), then batched
                at = settled()
                assert await poll(src, queries, at) == await alone(stack.prom_url, queries, at)
        finally:
            await src.aclose()
            proxy.close()
        alone_first = ["GET"] * len(queries)
        if post:  # the batch travels in the body (no long URL to encode and parse on every poll)
            assert proxy.methods == [*alone_first, "POST", "POST"]
        else:  # refused once (405), asked by GET at once and from then on: no member is asked alone for it
            assert proxy.methods == [*alone_first, "POST", "GET", "GET"]


@server
async def test_a_batch_prometheus_cannot_evaluate_in_its_budget_is_halved_until_each_is_alone(
    stack: Stack, proxy: CountingProxy, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(prom_mod, "BATCH_EVAL", 1e-6)  # every batch is too heavy: Prometheus times it out
    queries = {"a": "wr_cfur", "b": "wr_latency_ms", "c": "sum(wr_multi)", "d": "wr_errors"}
    src = source(proxy.url)
    try:
        requests = []
        for _ in range(4):  # learn; a batch of 4 fails; two of 2 fail; each alone
            at = settled()
            before = proxy.queries
            assert await poll(src, queries, at) == await alone(stack.prom_url, queries, at)
            requests.append(proxy.queries - before)
        assert requests == [4, 1 + 4, 2 + 4, 4]
        assert src.chunks.sizes() == [1, 1, 1, 1]
    finally:
        await src.aclose()


@server
async def test_when_prometheus_goes_away_every_member_gets_the_reading_it_would_get_alone(stack: Stack):
    proxy = CountingProxy(stack.prom_url)
    queries = {"a": "wr_cfur", "b": "wr_latency_ms", "c": "sum(wr_multi)", "s": "scalar(wr_cfur)"}
    src = source(proxy.url)
    try:
        for _ in range(2):
            await poll(src, queries, settled())
        assert src.chunks.sizes() == [3]
        proxy.close()  # the port now refuses connections
        at = settled()
        got = await poll(src, queries, at)
        assert got == await alone(proxy.url, queries, at)
        assert all(r.error == "connection" and "cannot connect to" in r.reason for r in got.values())
    finally:
        await src.aclose()


@server
async def test_a_fractional_timeout_reaches_prometheus_in_a_form_it_accepts(stack: Stack):
    src = source(stack.prom_url, timeout=1.5)  # "1.5s" would be refused: durations take whole units
    try:
        got = await poll(src, {"a": "wr_cfur", "b": "wr_latency_ms"}, settled())
        got |= await poll(src, {"a": "wr_cfur", "b": "wr_latency_ms"}, settled())  # batched, half of 1.5 s
        assert [r.value for r in got.values()] == [99.95, 300]
    finally:
        await src.aclose()


@server
async def test_a_reader_cut_off_by_its_own_timeout_does_not_cut_off_the_others(stack: Stack):
    src = source(stack.prom_url)
    queries = {"a": "wr_cfur", "b": "wr_latency_ms", "c": "sum(wr_multi)"}
    try:
        await poll(src, queries, settled())
        at = settled()
        tasks = [asyncio.create_task(src.read(Query(c, q), at)) for c, q in queries.items()]
        await asyncio.sleep(0)  # all three have joined the gathering for `at`
        tasks[0].cancel()  # as the recorder's wait_for does when a read outlives its timeout
        out = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(out[0], asyncio.CancelledError)
        assert [r.value for r in out[1:]] == [300, 3]
    finally:
        await src.aclose()


@server
async def test_recorder_poll_of_thirty_criteria_is_one_request_with_the_same_samples(stack: Stack, proxy, tmp_path):
    forms = ["avg_over_time(wr_cfur[{w}s])", "max_over_time(wr_latency_ms[{w}s])", "sum(wr_errors) * {w}"]
    texts = [forms[i % 3].format(w=3 + i) for i in range(30)]
    crits = "".join(
        f"  - {{id: q{i}, name: Q{i}, source: prom, query: '{q}', go: '>= 0'}}\n" for i, q in enumerate(texts)
    )
    launch = parse_launch(
        "version: 1\nlaunch: {id: b, name: Batch, t0: 2027-01-15T08:00:00Z}\n"
        "roles: [{id: c, title: Commander, commander: true}]\nphases: [{id: go, name: Go, at: -1d}]\n"
        f"sources:\n  prom: {{type: prometheus, url: '{proxy.url}', interval: 15s, timeout: 5s}}\n"
        f"criteria:\n{crits}",
        "batch.yaml",
    )
    log = DecisionLog(tmp_path / "batch.jsonl", Actor("t", "h"))
    rec = Recorder(launch, log, epoch=time.time())
    assert await rec.acquire()
    try:
        group = rec.groups()[0]
        assert isinstance(group.source, Prometheus)
        requests = []
        for tick in range(3):
            at = settled()
            before = proxy.queries
            await rec.poll_group(group, tick, at)
            requests.append(proxy.queries - before)
    finally:
        await rec.release()
        log.close()
    assert requests == [30, 1, 1]
    samples = [e.data for e in read_log(log.path).events if e.kind == "sample" and e.data["tick"] == 2]
    at = samples[0]["t"]
    ref = await alone(stack.prom_url, {f"q{i}": q for i, q in enumerate(texts)}, at)
    assert len(samples) == 30
    for d in samples:
        r = ref[d["criterion"]]
        assert (d["value"], d["error"], d["reason"], d["t"]) == (r.value, r.error, r.reason, r.t)


# ----------------------------------------------------------------------------- without a server


@pytest.mark.parametrize(
    "members", [["a"], ["wr_cfur", "sum(x) # comment", "b\n+ c", 'x{l="é"}'], [f"q{i}" for i in range(11)]]
)
def test_compose_tags_each_member_and_blames_the_one_a_parse_error_points_into(members: list[str]):
    batch = pb.compose(members)
    raw = batch.text.encode()
    for i, q in enumerate(members):
        part = f'label_replace({q}\n,"__warroom_id","{i}","","")'
        assert raw[batch.starts[i] : batch.starts[i] + len(part.encode())].decode() == part
    assert batch.text.count("label_replace(") == len(members)
    for i in range(len(members)):  # a position anywhere in member i (line:column, as Prometheus gives it)
        for offset in (batch.starts[i], batch.starts[i] + 14):
            line = raw[:offset].count(b"\n") + 1
            col = offset - (raw[:offset].rfind(b"\n") + 1) + 1
            assert pb.blame(batch, f'invalid parameter "query": {line}:{col}: parse error: x') == i
    assert pb.blame(batch, "vector cannot contain metrics with the same labelset") is None


def test_split_gives_each_member_its_series_and_refuses_what_is_not_ours():
    s = [
        {"metric": {"__warroom_id": "1", "job": "x"}, "value": [1, "2"]},
        {"metric": {"__warroom_id": "1", "job": "y"}, "value": [1, "3"]},
        {"metric": {"__warroom_id": "0"}, "value": [1, "NaN"]},
    ]
    assert pb.split(s, 3) == [
        [{"metric": {}, "value": [1, "NaN"]}],
        [{"metric": {"job": "x"}, "value": [1, "2"]}, {"metric": {"job": "y"}, "value": [1, "3"]}],
        [],
    ]
    for bad in (
        [1, "2"],
        [{"metric": {}, "value": [1, "1"]}],
        [{"metric": {"__warroom_id": "3"}, "value": [1, "1"]}],
        [{"metric": {"__warroom_id": "01"}, "value": [1, "1"]}],
        [{"metric": {"__warroom_id": "0"}}],
    ):
        assert pb.split(bad, 3) is None


def test_shape_and_learning():
    assert pb.shape([{"metric": {}, "value": [1, "1"]}]) == pb.VECTOR
    assert pb.shape([]) == pb.MAYBE
    assert pb.shape([1, "1"]) == pb.NEVER
    assert pb.shape([{"metric": {}, "values": [[1, "1"]]}]) == pb.NEVER
    assert pb.shape([{"metric": {"__warroom_id": "a"}, "value": [1, "1"]}]) == pb.NEVER
    assert pb.learn(None, pb.MAYBE) == pb.MAYBE
    assert pb.learn(pb.VECTOR, pb.MAYBE) == pb.VECTOR  # an empty answer does not undo a vector
    assert pb.learn(pb.MAYBE, pb.VECTOR) == pb.VECTOR
    assert pb.learn(pb.NEVER, pb.VECTOR) == pb.NEVER


def test_chunks_isolate_a_member_that_makes_every_batch_fail_and_forget_a_hiccup():
    ch = pb.Chunks(backoff=2)
    members = [f"q{i}" for i in range(8)]

    def poll(flush: int, heavy: str | None) -> int:
        """A batch holding `heavy` and others fails, the rest are answered; returns the failures."""
        failures = 0
        for chunk, present in ch.place(members):
            if len(present) > 1 and heavy in present:
                ch.failed(chunk, flush, present)
                failures += 1
            elif len(present) == len(chunk.members):
                chunk.answered = flush
        ch.merge(flush)
        return failures

    for flush in range(1, 40):
        poll(flush, "q5")
    assert ch.sizes() == [5, 1, 2] and ch.chunks[1].members == ["q5"]  # q5 alone, the rest batched
    # merging q5 back is tried ever more rarely: the walls beside it double their hold at each failure
    assert sum(poll(flush, "q5") for flush in range(40, 300)) <= 6

    ch = pb.Chunks(backoff=2)
    poll(1, "q0")  # one failure (a hiccup), then none: all in one batch again once the wall is down
    assert ch.sizes() == [4, 4]
    for flush in range(2, 6):
        poll(flush, None)
    assert ch.sizes() == [8]


def test_chunks_respect_the_url_budget_and_forget_a_dropped_member():
    ch = pb.Chunks(max_bytes=600)
    members = [f'avg_over_time(some_metric_name{{job="j{i}"}}[5m])' for i in range(12)]
    ch.place(members)
    assert sum(ch.sizes()) == 12 and len(ch.sizes()) > 1
    assert all(pb.encoded_size(c.members) <= 600 for c in ch.chunks)
    ch.drop(members[0])
    assert sum(ch.sizes()) == 11 and all(members[0] not in c.members for c in ch.chunks)
    assert [m for _, present in ch.place(members[1:3]) for m in present] == members[1:3]
