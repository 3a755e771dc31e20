"""`warroom serve` in a real headless Chromium (Debian's chromium, driven by Playwright; no browser download).

- the page shows the launch, its verdict and the go/no-go table;
- a check ticked by another process (through the package's log API, as a console does) is on the page
  within 2 s;
- without the token, HTTP (page and static files) and the websocket are refused with 401;
- the app process textual-serve starts has none of the server's secrets in its environment;
- one screenshot per run under the test's temp dir, and it is not blank.

What the browser shows is read from the websocket frames the page receives (the terminal is drawn on a
canvas): the app's output, escape sequences removed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import subprocess
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import pytest
from playwright.sync_api import sync_playwright
from runcli import argv, checkout_env

from warroom.config import load_launch
from warroom.core.events import Actor
from warroom.store.launchlog import bind
from warroom.store.log import DecisionLog, iter_events

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.slow]
if shutil.which("chromium") is None:  # a real browser is what this tests: fail loudly, never skip
    raise RuntimeError("chromium is required by the browser-view tests (run tests/install-deps.sh)")
TOKEN = "test-token-0123456789"
SECRETS = {"WARROOM_TEST_SLACK_URL": "https://hooks.example/services/T0/B0/sekrit", "DEPLOY_API_TOKEN": "tok-sekrit"}
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_log(tmp: Path) -> tuple[Path, Path]:
    t0 = datetime.fromtimestamp(time.time() - 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cfg = tmp / "launch.yaml"
    cfg.write_text(
        f"""
version: 1
launch: {{id: webview, name: Browser view launch, t0: {t0}}}
roles:
  - {{id: commander, title: Launch Commander, commander: true, members: [dana]}}
phases:
  - id: live
    name: Live
    at: -1h
    sections:
      - name: Watch
        items:
          - {{id: watch, text: Watch the dashboards}}
sources:
  sim: {{type: simulated, interval: 1s, signals: {{lat: {{base: 100}}}}}}
criteria:
  - {{id: latency, name: API latency, source: sim, query: lat, unit: ms, go: "< 500ms"}}
notify:
  channels:
    ops: {{type: slack, url_env: WARROOM_TEST_SLACK_URL}}
  routes:
    - {{channels: [ops], events: [verdict]}}
"""
    )
    log = tmp / "launch.jsonl"
    with DecisionLog(log, Actor("dana", "laptop")) as dl:
        bind(dl, load_launch(cfg), cfg.read_text(), str(cfg))
    return cfg, log


def screen_text(frames: list[bytes]) -> str:
    return ANSI.sub("", b"".join(frames).decode("utf-8", errors="replace"))


def not_blank(png: bytes) -> bool:
    """The PNG's pixels are not all one colour (stdlib only: inflate the IDAT chunks, look at the bytes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    return len(set(raw)) > 32 and sum(1 for b in raw[::97] if b) > len(raw[::97]) // 50


def app_processes(log: Path) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--observer" in cmd and str(log).encode() in cmd and b"run" in cmd:
                out.append(int(d.name))
    return out


async def ws_status(url: str, cookies: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession(cookies=cookies) as s:
        try:
            async with s.ws_connect(url):
                return 101
        except aiohttp.WSServerHandshakeError as e:
            return e.status


def test_browser_view(tmp_path: Path) -> None:
    cfg, log = make_log(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = checkout_env(**SECRETS, WARROOM_SERVE_TOKEN=TOKEN)
    server = subprocess.Popen(
        argv("serve", cfg, "--log", log, "--port", str(port)),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(base + "/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "warroom serve did not start"
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.2)
        # --- no token, no entry: page, static files, websocket; a wrong token neither
        assert r.status_code == 401 and "needs its token" in r.text
        assert httpx.get(base + "/static/js/textual.js", timeout=5).status_code == 401
        assert httpx.get(base + "/?token=wrong", timeout=5).status_code == 401
        assert asyncio.run(ws_status(f"ws://127.0.0.1:{port}/ws")) == 401
        assert asyncio.run(ws_status(f"ws://127.0.0.1:{port}/ws", {"warroom_token": "wrong"})) == 401
        assert httpx.get(f"{base}/?token={TOKEN}", timeout=5).status_code == 200
        assert (
            httpx.get(base + "/static/js/textual.js", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        )

        frames: list[bytes] = []
        with sync_playwright() as pw:
            # chromium puts its singleton socket in TMPDIR: a long one overflows a unix socket's 107 bytes
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"], env={**os.environ, "TMPDIR": "/tmp"}
            )
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.on(
                    "websocket",
                    lambda ws: ws.on(
                        "framereceived", lambda p: frames.append(p if isinstance(p, bytes) else p.encode())
                    ),
                )
                page.goto(f"{base}/?token={TOKEN}")
                end = time.monotonic() + 60
                while not all(w in screen_text(frames) for w in ("Browser view launch", "API latency", "PENDING")):
                    assert time.monotonic() < end, f"the console did not show; got: {screen_text(frames)[-2000:]}"
                    page.wait_for_timeout(200)
                text = screen_text(frames)
                (tmp_path / "screen.txt").write_text(text)
                assert "Go / No-go" in text and "Threshold" in text, "no go/no-go table"
                assert "OBSERVER" in text

                # --- the app process: an observer console with none of the server's secrets
                pids = app_processes(log)
                assert pids, "no app process found"
                for pid in pids:
                    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                    names = {e.split(b"=", 1)[0].decode() for e in environ if e}
                    assert "WARROOM_SERVED" in names
                    for name, value in SECRETS.items():
                        assert name not in names and value.encode() not in b"\0".join(environ)
                    assert "WARROOM_SERVE_TOKEN" not in names and TOKEN.encode() not in b"\0".join(environ)

                # --- a check made by another process is on the page within 2 s
                page.wait_for_timeout(1000)
                seen = len(frames)
                with DecisionLog(log, Actor("dana", "laptop")) as dl:
                    dl.append("check", {"item": "watch"})
                t = time.monotonic()
                while "checked: Watch the dashboards" not in screen_text(frames[seen:]):
                    assert time.monotonic() - t < 2.0, "the tick did not reach the browser within 2 s"
                    page.wait_for_timeout(50)
                # --- it cannot act: a key that would untick in a live console changes nothing in the log
                page.mouse.click(300, 300)
                page.keyboard.press("Space")
                page.keyboard.press("a")
                page.wait_for_timeout(1500)
                kinds = [ev.kind for ev in iter_events(log)]
                assert kinds.count("check") == 1 and "uncheck" not in kinds and "ack" not in kinds
                assert "sample" not in kinds and "recorder" not in kinds, "a browser console polled or recorded"
                shot = tmp_path / "browser-view.png"
                page.wait_for_timeout(300)
                page.screenshot(path=str(shot))
                assert not_blank(shot.read_bytes()), f"{shot} is blank"
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
