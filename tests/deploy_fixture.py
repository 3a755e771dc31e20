"""A real (tiny) deploy to roll back: two releases, a `current` symlink, an HTTP server and a rollback script.

`releases/v1` and `releases/v2` each hold a VERSION file; `current` points at
v2 (the launch being watched). A threaded HTTP server on 127.0.0.1 (free port)
answers every GET with the VERSION found under `current` *at request time*, so
flipping the symlink is what a user of the service would see. `rollback.sh`
flips `current` to the release it is given, atomically (rename over the link).

Use the `deploy` fixture (`from deploy_fixture import fixture_deploy` in a test module), then
`deploy.config(...)` to write a launch config whose rollback runs that script
and verifies with a python one-liner that fetches the served version.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import runcli
import yaml

LAUNCH_ID = "deploy-test"

ROLLBACK_SH = """#!/bin/sh
# Flip `current` to releases/$1: make the new link beside it, then rename over the old one (atomic).
set -eu
cd "$(dirname "$0")"
echo "current is $(readlink current)"
test -d "releases/$1" || { echo "no release $1" >&2; exit 4; }
ln -sfn "releases/$1" current.next
mv -T current.next current
echo "current is now $(readlink current)"
"""


class Deploy:
    """The deploy directory and its server; `served()` is what a client would get right now."""

    def __init__(self, root: Path):
        self.root = root
        for v in ("v1", "v2"):
            (root / "releases" / v).mkdir(parents=True)
            (root / "releases" / v / "VERSION").write_text(v + "\n")
        os.symlink("releases/v2", root / "current")
        self.script = root / "rollback.sh"
        self.script.write_text(ROLLBACK_SH)
        self.script.chmod(0o755)
        self.log = root / "launch.jsonl"
        current = root / "current"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (current / "VERSION").read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def served(self) -> str:
        with urllib.request.urlopen(self.url, timeout=5) as r:
            return r.read().decode().strip()

    def verify_argv(self, want: str = "v1") -> list[str]:
        """A verify command: exits 0 only if the server now serves `want`."""
        code = (
            "import sys, urllib.request; "
            f"v = urllib.request.urlopen({self.url!r}, timeout=5).read().decode().strip(); "
            f"print('served', v); sys.exit(0 if v == {want!r} else 1)"
        )
        return [sys.executable, "-c", code]

    def rollback_step(self, release: str = "v1", **extra: Any) -> dict[str, Any]:
        return {"name": f"flip current to {release}", "run": [str(self.script), release], "timeout": "20s", **extra}

    def config(
        self,
        steps: list[dict[str, Any]] | None = None,
        *,
        verify: dict[str, Any] | str | None = "default",
        name: str = "launch.yaml",
        errors: dict[str, Any] | None = None,
        **rollback: Any,
    ) -> Path:
        """Write a launch config for this deploy; `rollback` keys override the defaults.

        `errors` replaces the simulated error-rate signal (e.g. a step up to a breach) and polls it every second.
        """
        rb: dict[str, Any] = {
            "allowed_roles": ["commander", "sre"],
            "cooldown": "10m",
            "steps": steps if steps is not None else [self.rollback_step()],
        }
        if verify == "default":
            rb["verify"] = {"run": self.verify_argv(), "within": "20s"}
        elif verify is not None:
            rb["verify"] = verify
        rb.update(rollback)
        doc = {
            "version": 1,
            "launch": {"id": LAUNCH_ID, "name": "Deploy fixture launch", "t0": "2026-01-01T12:00:00Z"},
            "identity": "claimed",  # one account (the test's) plays dana, sam and eve by --as name
            "roles": [
                {"id": "commander", "title": "Launch Commander", "members": ["dana"], "commander": True},
                {"id": "sre", "title": "SRE", "members": ["sam"]},
                {"id": "viewer", "title": "Viewer", "members": ["eve"]},
            ],
            "phases": [{"id": "t-0", "name": "Launch", "at": "0s", "sections": []}],
            "sources": {
                "sim": {
                    "type": "simulated",
                    "interval": "1s" if errors else "5s",
                    "signals": {"errors": errors or {"base": 0.05}},
                }
            },
            "criteria": [
                {
                    "id": "error-rate",
                    "name": "Error rate",
                    "source": "sim",
                    "query": "errors",
                    "unit": "%",
                    "go": "< 1%",
                    "trigger": {"when": "> 5%", "samples": 2, "mode": "auto"},
                    "breach_samples": 2,
                    "clear_samples": 1,
                    "stale_after": "1m",
                }
            ],
            "rollback": rb,
        }
        path = self.root / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def warroom(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real `warroom` command in a child process (cwd = the deploy root) and wait for it."""
        return runcli.warroom(*args, cwd=self.root)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start the real `warroom` command in a child process without waiting."""
        return runcli.spawn(*args, cwd=self.root)


@pytest.fixture(name="deploy")
def fixture_deploy(tmp_path: Path) -> Iterator[Deploy]:
    d = Deploy(tmp_path)
    try:
        yield d
    finally:
        d.close()


def alive(pid: int) -> bool:
    """True if `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] not in (b"Z", b"X")
