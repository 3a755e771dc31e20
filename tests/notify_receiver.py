"""A local HTTP receiver that stands in for Slack, PagerDuty Events v2 and a generic webhook.

Threaded, on 127.0.0.1 and a free port, stopped by the test (`close`). Every request is kept (path, headers,
body, status answered). Per path, a script of answers can be queued: `(status, headers, delay)`, consumed in
order; after the script, a path answers as the real service does (Slack 200 "ok", PagerDuty 202 with a
dedup_key, webhook 200). PagerDuty's answer is what matters for the tests: it keeps incidents by dedup_key,
as PagerDuty does, so a test can read what is open.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    t: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.arrived: list[str] = []  # paths, as requests come in (before a scripted delay)
        self.scripts: dict[str, deque[tuple[int, dict[str, str], float]]] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with owner.lock:
                    owner.arrived.append(self.path)
                    script = owner.scripts.get(self.path)
                    answer = script.popleft() if script else None
                if answer is not None:
                    status, headers, delay = answer
                    if delay:
                        time.sleep(delay)
                else:
                    status, headers = (202 if self.path.startswith("/pd") else 200), {}
                with owner.lock:
                    owner.requests.append(Request(self.path, dict(self.headers.items()), body, status))
                reply = b"ok"
                if self.path.startswith("/pd") and status == 202:
                    reply = json.dumps({"status": "success", "dedup_key": json.loads(body).get("dedup_key")}).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def script(self, path: str, *answers: tuple[int, dict[str, str], float]) -> None:
        with self.lock:
            self.scripts.setdefault(path, deque()).extend(answers)

    def got(self, prefix: str, accepted: bool = False) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix) and (not accepted or r.status < 300)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
