"""Instant PromQL queries through prometheus-api-client, run in this source's own thread pool.

The client is blocking and, left to its defaults, has no timeout and retries
three times with back-off (a down server costs 6 s per query). We give it an
explicit timeout and no retries: the recorder owns the retry policy (back-off
while the source keeps failing), and a pool sized to the number of queries lets
50 criteria finish in about the time of the slowest one.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from warroom.config import PrometheusSource
from warroom.sources import auth as auth_mod
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
_STATUS_RE = re.compile(r"HTTP Status Code (\d+)")
_BODY_RE = re.compile(r"\((b'.*'|b\".*\")\)\s*$", re.DOTALL)


class Prometheus(Source):
    kind = "prometheus"

    def __init__(self, name: str, cfg: PrometheusSource, workers: int = 8):
        super().__init__(name, cfg.interval, cfg.timeout)
        self.url = cfg.url.rstrip("/")
        self.creds = auth_mod.resolve(cfg.auth)
        workers = max(1, min(workers, 128))
        session = requests.Session()
        session.verify = cfg.ca_file or cfg.tls_verify
        session.trust_env = False  # no proxy/netrc from the environment: config is explicit, and it costs ~20%
        self.client = PrometheusConnect(self.url, headers=self.creds.headers or None, disable_ssl=not cfg.tls_verify,
                                        retry=NO_RETRY, auth=self.creds.basic, session=session, timeout=cfg.timeout)
        # The client mounted an adapter with the default pool of 10; ours matches the thread pool.
        session.mount(self.url, HTTPAdapter(max_retries=NO_RETRY, pool_connections=1, pool_maxsize=workers))
        self._session = session
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"prom-{name}")

    async def read(self, query: Query, at: float) -> Reading:
        if self.creds.problem:
            return Reading.fail(at, AUTH, self.creds.problem)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.read_blocking, query.text, at)

    def read_blocking(self, promql: str, at: float) -> Reading:
        """One instant query evaluated at `at`; every failure becomes a reading with a reason."""
        params = {"time": f"{at:.3f}", "timeout": f"{self.timeout:g}s"}
        started = time.monotonic()
        try:
            result = self.client.custom_query(promql, params=params)
        except requests.Timeout:
            return Reading.fail(at, TIMEOUT, f"no answer from {self.url} within {self.timeout:g}s")
        except PrometheusApiClientException as e:
            return _status_failure(at, str(e))
        except requests.ConnectionError as e:
            return _connection_failure(at, e, self.url, self.timeout, time.monotonic() - started)
        except (ValueError, KeyError, TypeError) as e:  # 200 with a body that is not Prometheus JSON
            return Reading.fail(at, BAD_RESPONSE, f"{self.url} answered with something that is not a query "
                                                  f"result ({type(e).__name__})")
        except requests.RequestException as e:
            return Reading.fail(at, CONNECTION, f"request to {self.url} failed: {type(e).__name__}")
        return parse_result(result, at)

    async def aclose(self) -> None:
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
        return Reading.fail(at, BAD_QUERY, f"query returned {len(result)} series where one was expected "
                                           "(aggregate it, e.g. with sum() or max())")
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


def _status_failure(at: float, message: str) -> Reading:
    m = _STATUS_RE.search(message)
    status = int(m.group(1)) if m else 0
    text = _error_text(message)
    if status in (400, 422):
        return Reading.fail(at, BAD_QUERY, f"Prometheus rejected the query: {text or f'HTTP {status}'}")
    if status in (401, 403):
        return Reading.fail(at, AUTH, f"Prometheus refused the credentials (HTTP {status})")
    if status == 503 and "timeout" in text.lower():
        return Reading.fail(at, TIMEOUT, f"Prometheus gave up evaluating the query: {text}")
    return Reading.fail(at, HTTP, f"Prometheus answered HTTP {status or '?'}" + (f": {text}" if text else ""))


def _error_text(message: str) -> str:
    """Prometheus's own error message from the client's exception text ("HTTP Status Code 400 (b'...')")."""
    m = _BODY_RE.search(message)
    if not m:
        return ""
    try:
        body = json.loads(ast.literal_eval(m.group(1)))
    except (ValueError, SyntaxError, TypeError):
        return ""
    return str(body.get("error", ""))[:200] if isinstance(body, dict) else ""


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
