"""Instant PromQL queries through prometheus-api-client, run in this source's own thread pool.

The client is blocking and, left to its defaults, has no timeout and retries
three times with back-off (a down server costs 6 s per query). We give it an
explicit timeout and no retries: the recorder owns the retry policy (back-off
while the source keeps failing). It is given our requests session, whose
response hook keeps each thread's last response: when the client raises for a
status that is not 200, the status and Prometheus's error come from that
response, never from the exception's text.

Reads of one source for the same time are gathered (as they arrive in one turn
of the event loop) and asked in as few requests as possible: every query known
to be an instant vector goes into one batch query (see `prombatch`), the rest
alone and in parallel. A batch is POSTed as a form body, encoded once per batch:
a 4 KB query in the URL cost ~3 ms of CPU per poll in requests and urllib3, which
quote and parse the URL character by character (a server that refuses POST, 405 or 501,
is asked by GET from then on). A batch answers each member exactly what the member
alone would have answered (value, NaN, Inf, empty, several series: the same
reading and reason). When a batch fails, its members are asked alone in the
same poll, so one bad query never blinds the others and each gets its own
error; a member that broke the batch is not batched again.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from warroom.config import PrometheusSource
from warroom.sources import auth as auth_mod
from warroom.sources import prombatch
from warroom.sources.base import (
    AUTH,
    BAD_QUERY,
    BAD_RESPONSE,
    CONNECTION,
    HTTP,
    NO_DATA,
    TIMEOUT,
    Query,
    Reading,
    Source,
    number_reading,
)

NO_RETRY = Retry(total=0, redirect=0, raise_on_redirect=False, raise_on_status=False)
SLOW_SHARE = 0.25  # a query that alone takes more than this share of the timeout is never batched
# Prometheus evaluates a batch's members one after another: it gives up on a batch after this many seconds
# (at most half the timeout, leaving time to ask each alone), and a batch that heavy is halved.
BATCH_EVAL = 0.05
TOO_LONG = frozenset({413, 414, 431})  # a proxy refusing the URL or the body
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True, slots=True)
class _Answer:
    """One request's outcome: the reading, the raw result if Prometheus sent one, the HTTP status
    (0: no HTTP answer at all) and the seconds it took."""

    reading: Reading
    raw: Any = None
    ok: bool = False
    status: int = 0
    took: float = 0.0


class _LastResponse(threading.local):
    """The last HTTP response this thread's session received (each pool thread has its own)."""

    response: requests.Response | None = None


@dataclass
class _Gathering:
    """Reads for one time, gathered until the event loop has a turn with no new ones."""

    at: float
    waiters: dict[str, list[asyncio.Future[Reading]]] = field(default_factory=dict)
    count: int = 0


class Prometheus(Source):
    kind = "prometheus"

    def __init__(self, name: str, cfg: PrometheusSource, workers: int = 8, batch: bool = True):
        super().__init__(name, cfg.interval, cfg.timeout)
        self.url = cfg.url.rstrip("/")
        self.creds = auth_mod.resolve(cfg.auth)
        workers = max(1, min(workers, 128))
        session = requests.Session()
        session.verify = cfg.ca_file or cfg.tls_verify
        session.trust_env = False  # no proxy/netrc from the environment: config is explicit, and it costs ~20%
        # Prometheus gzips its answers when asked: on loopback that cost ~1.5 ms of a batch's ~5 ms (compressing and
        # decompressing a few KB), for nothing a few KB of JSON needs on any network.
        session.headers["Accept-Encoding"] = "identity"
        self._last = _LastResponse()
        session.hooks["response"].append(self._keep_response)
        self.client = PrometheusConnect(
            self.url,
            headers=self.creds.headers or None,
            disable_ssl=not cfg.tls_verify,
            retry=NO_RETRY,
            auth=self.creds.basic,
            session=session,
            timeout=cfg.timeout,
        )
        # The client mounted an adapter with the default pool of 10; ours matches the thread pool.
        session.mount(self.url, HTTPAdapter(max_retries=NO_RETRY, pool_connections=1, pool_maxsize=workers))
        self._session = session
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"prom-{name}")
        self.batching = batch  # False: every read is its own request (the bench's "before")
        self.chunks = prombatch.Chunks()
        self._shape: dict[str, str] = {}  # query text -> prombatch.VECTOR / MAYBE / NEVER
        self._alone: dict[str, float] = {}  # query text -> seconds its last request alone took
        self._gathering: dict[float, _Gathering] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._flushes = 0
        self._post = True  # batches by POST until the server refuses the method (405)

    def _keep_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """requests' response hook: the answer the client is about to judge, kept for its status and body."""
        self._last.response = response

    async def read(self, query: Query, at: float) -> Reading:
        if self.creds.problem:
            return Reading.fail(at, AUTH, self.creds.problem)
        if not self.batching:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self.read_blocking, query.text, at)
        return await self._gathered([query], at)[0]  # a reader cut off by its own timeout cancels only its own

    def start_reads(self, queries: Sequence[Query], at: float) -> list[asyncio.Future[Reading]]:
        """A poll's reads join one gathering at once: a future each, no task (50 tasks cost more loop time
        than the batch's own request)."""
        if self.creds.problem or not self.batching:
            return super().start_reads(queries, at)
        return self._gathered(queries, at)

    def _gathered(self, queries: Sequence[Query], at: float) -> list[asyncio.Future[Reading]]:
        loop = asyncio.get_running_loop()
        gathering = self._gathering.get(at)
        if gathering is None:
            gathering = self._gathering[at] = _Gathering(at)
            loop.call_soon(self._close, at, 0)
        futs: list[asyncio.Future[Reading]] = []
        for q in queries:
            fut: asyncio.Future[Reading] = loop.create_future()
            gathering.waiters.setdefault(q.text, []).append(fut)
            futs.append(fut)
        gathering.count += len(futs)
        return futs

    def read_blocking(self, promql: str, at: float) -> Reading:
        """One instant query evaluated at `at`; every failure becomes a reading with a reason."""
        return self._ask(promql, at, self.timeout).reading

    def _ask(self, promql: str, at: float, server_timeout: float, form: str | None = None) -> _Answer:
        """`form`: the query already encoded, to be POSTed (a batch), unless the server refused POST."""
        # seconds as a bare number: Prometheus reads "2.5" but refuses "2.5s" (durations take whole units)
        params = {"time": f"{at:.3f}", "timeout": f"{max(server_timeout, 1e-6):.6f}".rstrip("0").rstrip(".")}
        started = time.monotonic()
        self._last.response = None
        try:
            result = self._posted(form, params) if form is not None and self._post else None
            if result is None:
                result = self.client.custom_query(promql, params=params)
        except requests.Timeout:
            return _Answer(Reading.fail(at, TIMEOUT, f"no answer from {self.url} within {self.timeout:g}s"))
        except PrometheusApiClientException:  # a status other than 200: judge the response it came with
            response = self._last.response
            status = response.status_code if response is not None else 0
            body = response.content if response is not None else b""
            return _Answer(_status_failure(at, status, body), status=status or -1, took=time.monotonic() - started)
        except requests.ConnectionError as e:
            return _Answer(_connection_failure(at, e, self.url, self.timeout, time.monotonic() - started))
        except (ValueError, KeyError, TypeError) as e:  # 200 with a body that is not Prometheus JSON
            return _Answer(
                Reading.fail(
                    at,
                    BAD_RESPONSE,
                    f"{self.url} answered with something that is not a query result ({type(e).__name__})",
                ),
                status=200,
            )
        except requests.RequestException as e:
            return _Answer(Reading.fail(at, CONNECTION, f"request to {self.url} failed: {type(e).__name__}"))
        return _Answer(parse_result(result, at), result, True, 200, time.monotonic() - started)

    def _posted(self, form: str, params: dict[str, str]) -> Any:
        """The query asked by POST, through the client's session (its adapter, auth, TLS and headers), judged as
        `custom_query` judges an answer; None if the server refuses POST (then it is asked by GET, always)."""
        c = self.client
        r = self._session.post(
            f"{self.url}/api/v1/query",
            data=f"query={form}&time={params['time']}&timeout={params['timeout']}".encode("ascii"),
            headers={**(c.headers or {}), **FORM},
            auth=c.auth,
            timeout=self.timeout,
        )
        if r.status_code in (405, 501):  # the method is not allowed here, or not implemented
            self._post = False
            return None
        if r.status_code != 200:
            raise PrometheusApiClientException(f"HTTP Status Code {r.status_code}")
        return r.json()["data"]["result"]

    # ------------------------------------------------------------------ batching

    def _close(self, at: float, seen: int) -> None:
        """Dispatch the reads gathered for `at` once a turn of the loop brought no new one."""
        gathering = self._gathering.get(at)
        if gathering is None:
            return
        loop = asyncio.get_running_loop()
        if gathering.count != seen:
            loop.call_soon(self._close, at, gathering.count)
            return
        del self._gathering[at]
        task = loop.create_task(self._dispatch(gathering))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _batchable(self, text: str) -> bool:
        alone = self._alone.get(text)
        return self._shape.get(text) in (prombatch.VECTOR, prombatch.MAYBE) and (
            alone is None or alone <= SLOW_SHARE * self.timeout
        )

    async def _dispatch(self, g: _Gathering) -> None:
        self._flushes += 1
        flush = self._flushes
        texts = list(g.waiters)
        error: BaseException | None = None
        try:
            planned = self.chunks.place(t for t in texts if self._batchable(t))
            in_chunks = {m for _, present in planned for m in present}
            jobs: list[Coroutine[Any, Any, object]] = [self._alone_and_learn(t, g) for t in texts if t not in in_chunks]
            jobs += [self._run_chunk(chunk, present, g, flush) for chunk, present in planned]
            outcomes = await asyncio.gather(*jobs, return_exceptions=True)
            error = next((o for o in outcomes if isinstance(o, BaseException)), None)
            self.chunks.merge(flush)
        except Exception as e:  # a bug here: the readers raise it (the recorder turns it into a reading)
            error = e
        finally:
            for futs in g.waiters.values():
                for fut in futs:
                    if not fut.done():
                        if error is None or isinstance(error, asyncio.CancelledError):
                            fut.cancel()
                        else:
                            fut.set_exception(error)

    def _resolve(self, g: _Gathering, text: str, reading: Reading) -> None:
        for fut in g.waiters.get(text, ()):
            if not fut.done():
                fut.set_result(reading)

    async def _alone_and_learn(self, text: str, g: _Gathering) -> _Answer:
        loop = asyncio.get_running_loop()
        ans = await loop.run_in_executor(self._pool, self._ask, text, g.at, self.timeout)
        if ans.ok:
            self._shape[text] = prombatch.learn(self._shape.get(text), prombatch.shape(ans.raw))
            self._alone[text] = ans.took
            if not self._batchable(text):
                self.chunks.drop(text)
        self._resolve(g, text, ans.reading)
        return ans

    async def _run_chunk(self, chunk: prombatch.Chunk, present: list[str], g: _Gathering, flush: int) -> None:
        whole = len(present) == len(chunk.members)
        if len(present) == 1:
            ans = await self._alone_and_learn(present[0], g)
            if ans.ok and whole:
                chunk.answered = flush
            return
        batch = prombatch.compose(present)
        loop = asyncio.get_running_loop()
        budget = min(BATCH_EVAL, self.timeout / 2)
        ans = await loop.run_in_executor(self._pool, self._ask, batch.text, g.at, budget, batch.encoded)
        parts = prombatch.split(ans.raw, len(present)) if ans.ok else None
        if parts is not None:
            for text, series in zip(present, parts, strict=True):
                self._shape[text] = prombatch.VECTOR  # label_replace type-checked it: an instant vector
                self._resolve(g, text, parse_result(series, g.at))
            if whole:
                chunk.answered = flush
            return
        if ans.status == 0 or ans.reading.error == AUTH:
            # No answer at all (refused, timed out) or credentials refused: about the server, not the
            # queries; each member alone would get the same reading, so none is asked again.
            for text in present:
                self._resolve(g, text, ans.reading)
            return
        # The batch failed: ask every member alone, now, so each gets its own answer or precise error.
        refused = ans.reading.error == BAD_QUERY
        culprit = prombatch.blame(batch, ans.reading.reason) if refused else None
        if culprit is not None:
            self._never(present[culprit])  # a parse error inside this member (a range vector with no data)
        alone = await asyncio.gather(*(self._alone_and_learn(t, g) for t in present))
        broke = [t for t, a in zip(present, alone, strict=True) if not a.ok and a.reading.error == BAD_QUERY]
        if refused and broke:
            for t in broke:  # Prometheus refuses these alone too (a runtime error): they refused the batch
                self._never(t)
        elif culprit is None and all(a.ok for a in alone):
            # each is fine alone: the batch was too much for Prometheus (time, samples) or a proxy (URL)
            self.chunks.failed(chunk, flush, present, too_long=ans.status in TOO_LONG)

    def _never(self, text: str) -> None:
        self._shape[text] = prombatch.NEVER
        self.chunks.drop(text)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._session.close()


def parse_result(result: Any, at: float) -> Reading:
    """Scalar `[ts, "v"]` or a one-sample vector gives a value; anything else a reason."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return _sample(result, at, "scalar result")
    if not isinstance(result, list):
        return Reading.fail(at, BAD_RESPONSE, f"unexpected result of type {type(result).__name__}")
    if not result:
        return Reading.fail(at, NO_DATA, "query returned an empty vector (no matching series)")
    if len(result) > 1:
        return Reading.fail(
            at,
            BAD_QUERY,
            f"query returned {len(result)} series where one was expected (aggregate it, e.g. with sum() or max())",
        )
    series = result[0]
    if not isinstance(series, dict):
        return Reading.fail(at, BAD_RESPONSE, "result series is not an object")
    if "values" in series:
        return Reading.fail(at, BAD_QUERY, "query returned a range vector; use an instant vector (drop the [..])")
    return _sample(series.get("value"), at, "result")


def _sample(pair: Any, at: float, what: str) -> Reading:
    if not isinstance(pair, list) or len(pair) != 2:
        return Reading.fail(at, BAD_RESPONSE, f"{what} has no [time, value] pair")
    try:
        t = float(pair[0])
    except (TypeError, ValueError):
        t = at
    return number_reading(t, pair[1], f"query {what}")


def _status_failure(at: float, status: int, body: bytes) -> Reading:
    """A refusal by HTTP status, with Prometheus's own error from the body when it sent one."""
    text, kind = _error_text(body)
    if status in (400, 422):
        return Reading.fail(at, BAD_QUERY, f"Prometheus rejected the query: {text or f'HTTP {status}'}")
    if status in (401, 403):
        return Reading.fail(at, AUTH, f"Prometheus refused the credentials (HTTP {status})")
    if status == 503 and (kind == "timeout" or "timeout" in text.lower()):  # a real one: "query timed out in ..."
        return Reading.fail(at, TIMEOUT, f"Prometheus gave up evaluating the query: {text}")
    return Reading.fail(at, HTTP, f"Prometheus answered HTTP {status or '?'}" + (f": {text}" if text else ""))


def _error_text(body: bytes) -> tuple[str, str]:
    """Prometheus's own error message and errorType from an error response's JSON body
    ({"status": "error", "errorType": ..., "error": ...}); empty where the body is not one."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    return str(data.get("error", ""))[:200], str(data.get("errorType", ""))


def _connection_failure(at: float, e: requests.ConnectionError, url: str, timeout: float, took: float) -> Reading:
    reason = getattr(e.args[0], "reason", None) if e.args else None
    if isinstance(reason, NewConnectionError):
        detail = str(reason).rsplit("] ", 1)[-1] if "] " in str(reason) else "cannot connect"
        return Reading.fail(at, CONNECTION, f"cannot connect to {url}: {detail}")
    if isinstance(reason, ReadTimeoutError | ConnectTimeoutError) or took >= timeout:
        return Reading.fail(at, TIMEOUT, f"no answer from {url} within {timeout:g}s")
    if isinstance(reason, requests.exceptions.SSLError) or "SSL" in str(e):
        return Reading.fail(at, CONNECTION, f"TLS handshake with {url} failed (check tls_verify / ca_file)")
    return Reading.fail(at, CONNECTION, f"connection to {url} failed: {type(reason or e).__name__}")
