"""Real Prometheus + Alertmanager + a test exporter, on free loopback ports with temporary storage.

The exporter is a prometheus-client HTTP server in the test process; tests set
its gauges and Prometheus scrapes them every second. An alerting rule fires
into the real Alertmanager. Binaries come from the Debian packages
`prometheus` and `prometheus-alertmanager` (tests/install-deps.sh); if they are
missing the tests fail, loudly, rather than skip.

Also here: small misbehaving servers for fault tests (one that accepts and
never answers, one that answers HTTP 500 or garbage).
"""

from __future__ import annotations

import contextlib
import http.server
import math
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import servers
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from waiting import TIMEOUT, wait_for

PROMETHEUS = os.environ.get("WARROOM_PROMETHEUS", "/usr/bin/prometheus")
ALERTMANAGER = os.environ.get("WARROOM_ALERTMANAGER", "/usr/bin/prometheus-alertmanager")

# The alerting rule the stack loads: latency above 1 s fires a critical alert at once.
ALERT_RULES = """
groups:
  - name: warroom-test
    interval: 1s
    rules:
      - alert: WarroomHighLatency
        expr: wr_latency_ms > 1000
        labels: {severity: critical, service: api}
        annotations: {summary: "P95 latency above 1s on api"}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require(binary: str) -> str:
    """The binary's path; a missing one fails the test with the way to get it (never a skip)."""
    path = binary if os.path.isabs(binary) else shutil.which(binary)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(
            f"{binary} is required by this test and is not installed; run tests/install-deps.sh "
            "(Debian packages prometheus and prometheus-alertmanager)",
            pytrace=False,
        )
    return path


class Exporter:
    """Gauges the test drives, served on a free port by prometheus-client."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.port = free_port()
        self._gauges: dict[str, Gauge] = {}
        self.multi = Gauge("wr_multi", "two series where one is expected", ["replica"], registry=self.registry)
        self.multi.labels("a").set(1)
        self.multi.labels("b").set(2)
        for name, value in (
            ("wr_cfur", 99.95),
            ("wr_latency_ms", 300.0),
            ("wr_errors", 0.02),
            ("wr_nan", math.nan),
            ("wr_inf", math.inf),
            ("wr_slow", 1.0),
        ):
            self.gauge(name).set(value)
        self.server, self.thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def gauge(self, name: str) -> Gauge:
        if name not in self._gauges:
            self._gauges[name] = Gauge(name, f"test gauge {name}", registry=self.registry)
        return self._gauges[name]

    def set(self, name: str, value: float) -> None:
        self.gauge(name).set(value)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Proc:
    """A server process we started (tests/servers.py: it ends with us, however we end), with its
    own directory (config, data, log; removed when it stops) and log file for when a test fails."""

    name: str
    argv: list[str]
    port: int
    dir: Path
    server: servers.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.dir / f"{self.name}.log"

    def start(self) -> None:
        with open(self.log, "ab") as f:
            self.server = servers.start(self.argv, name=self.name, dir=self.dir, stdout=f, stderr=subprocess.STDOUT)
        try:
            wait_for(f"{self.name} to be ready on {self.url}", self._ready, ignoring=(Exception,))
        except AssertionError:
            log = self.tail()
            self.stop()
            raise AssertionError(f"{self.name} did not become ready; its log:\n{log}") from None

    def _ready(self) -> bool:
        if self.server is not None and not self.server.alive():
            raise AssertionError(f"{self.name} exited with {self.server.popen.returncode}:\n{self.tail()}")
        return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 10 s), wait for it, remove its directory."""
        s, self.server = self.server, None
        if s is not None:
            s.stop()

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@dataclass
class Stack:
    exporter: Exporter
    prometheus: Proc
    alertmanager: Proc | None
    tmp: Path
    extra: list[Proc] = field(default_factory=list)

    @property
    def prom_url(self) -> str:
        return self.prometheus.url

    @property
    def am_url(self) -> str:
        assert self.alertmanager is not None
        return self.alertmanager.url

    def query(self, promql: str) -> list[dict[str, object]]:
        r = httpx.get(f"{self.prom_url}/api/v1/query", params={"query": promql}, timeout=5)
        r.raise_for_status()
        return r.json()["data"]["result"]

    def wait_value(self, promql: str, pred: Callable[[float], bool], timeout: float = TIMEOUT) -> None:
        """Until Prometheus has scraped a value that satisfies `pred` (the exporter was just set)."""

        def ok() -> bool:
            res = self.query(promql)
            return bool(res) and pred(float(res[0]["value"][1]))  # type: ignore[index]

        wait_for(f"{promql} to satisfy the test's condition", ok, timeout, ignoring=(Exception,))

    def am_alerts(self) -> list[dict[str, object]]:
        return httpx.get(f"{self.am_url}/api/v2/alerts", params={"active": "true"}, timeout=5).json()

    def close(self) -> None:
        for p in [*self.extra, self.prometheus, *([self.alertmanager] if self.alertmanager else [])]:
            p.stop()
        self.exporter.close()


def start_alertmanager(tmp: Path) -> Proc:
    """Alertmanager in `tmp` (its own directory: removed when it stops)."""
    binary = require(ALERTMANAGER)
    (tmp / "am-data").mkdir(parents=True, exist_ok=True)
    cfg = tmp / "alertmanager.yml"
    cfg.write_text("route:\n  receiver: 'null'\n  group_wait: 0s\nreceivers:\n  - name: 'null'\n")
    port = free_port()
    p = Proc(
        "alertmanager",
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        port,
        tmp,
    )
    p.start()
    return p


def start_prometheus(tmp: Path, exporter_port: int, am_port: int | None) -> Proc:
    """Prometheus in `tmp` (its own directory: removed when it stops), scraping the exporter."""
    binary = require(PROMETHEUS)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "rules.yml").write_text(ALERT_RULES)
    alerting = (
        f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n"
        if am_port
        else ""
    )
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  scrape_timeout: 1s\n"
        f"rule_files: ['{tmp / 'rules.yml'}']\n{alerting}"
        "scrape_configs:\n  - job_name: exporter\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    port = free_port()
    p = Proc(
        "prometheus",
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            "--rules.alert.resend-delay=1s",
        ],
        port,
        tmp,
    )
    p.start()
    try:
        # A fresh Prometheus is ready ~5 s before its first scrape lands: wait for the data, not just /-/ready.
        wait_for(
            "the first scrape of the test exporter",
            lambda: bool(
                httpx.get(f"{p.url}/api/v1/query", params={"query": 'up{job="exporter"} == 1'}, timeout=2).json()[
                    "data"
                ]["result"]
            ),
            every=0.25,
            ignoring=(Exception,),
        )
    except BaseException:  # a timeout, Ctrl-C, SIGTERM: the caller never gets `p` to stop
        p.stop()
        raise
    return p


@contextlib.contextmanager
def prom_stack(tmp: Path, *, alertmanager: bool = True) -> Iterator[Stack]:
    """Exporter, Alertmanager (optional) and Prometheus, torn down on exit."""
    exporter = Exporter()
    am = None
    prom = None
    try:
        am = start_alertmanager(tmp / "am") if alertmanager else None
        prom = start_prometheus(tmp / "prom", exporter.port, am.port if am else None)
        stack = Stack(exporter, prom, am, tmp)
        yield stack
    finally:
        if prom is not None:
            prom.stop()
        if am is not None:
            am.stop()
        exporter.close()


# ----------------------------------------------------------------------------- misbehaving servers


class Silent:
    """A TCP server that accepts connections and never answers (a hung backend)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.conns.append(conn)

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=2)
        for c in self.conns:
            c.close()
        self.sock.close()


class _Served:
    """A threaded HTTP server on a free loopback port, for the stand-in servers below."""

    server: http.server.ThreadingHTTPServer
    port: int
    url: str

    def _serve(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Canned(_Served):
    """An HTTP server that answers every request with a fixed status and body."""

    def __init__(
        self, status: int = 200, body: bytes = b"", content_type: str = "application/json", delay: float = 0.0
    ) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                outer.headers = dict(self.headers)
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.status, self.body, self.content_type, self.delay = status, body, content_type, delay
        self.hits = 0
        self.headers: dict[str, str] = {}
        self._serve(Handler)


class AuthProxy(_Served):
    """A reverse proxy that wants `Authorization: Bearer <token>` and forwards GETs to a real server
    (Alertmanager has no auth of its own); anything else gets 401, as an auth-requiring gateway answers."""

    def __init__(self, target: str, token: str) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    body = b"Unauthorized\n"
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Bearer realm="alertmanager"')
                else:
                    try:
                        r = httpx.get(outer.target + self.path, timeout=5)
                        body, status = r.content, r.status_code
                    except httpx.HTTPError:
                        body, status = b"upstream unreachable\n", 502
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.target, self.token, self.hits = target.rstrip("/"), token, 0
        self._serve(Handler)
