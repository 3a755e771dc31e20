"""`warroom serve LOG|CONFIG [--log PATH] [--host 127.0.0.1] [--port 8080]`: the console, read-only, in a browser.

textual-serve starts one process per browser connection; each is an observer console on the log (it can
act on nothing and never polls a source: only live consoles record). textual-serve has no authentication,
so every HTTP and websocket request passes a token check first (`?token=`, then a cookie set from it, or
`Authorization: Bearer`); the token is generated and printed at start, or read from $WARROOM_SERVE_TOKEN.
It binds to loopback unless told otherwise: reach it through `ssh -L` or a reverse proxy (README).
textual-serve hands its whole environment to each app process, so secrets are taken out of this process's
environment before it serves: the variables the config names for credentials and webhooks, and any whose
name says it holds a secret.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import re
import secrets
import shlex
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from warroom.commands.common import EXIT_OK, EXIT_USAGE, err, out
from warroom.config import Launch, load_launch, parse_launch

TOKEN_ENV = "WARROOM_SERVE_TOKEN"
COOKIE = "warroom_token"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ROUTING_?KEY|WEBHOOK|CREDENTIAL|PRIVATE|AUTH", re.I)
UNAUTHORIZED = """<!doctype html>
<html><head><meta charset="utf-8"><title>warroom: token required</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>401: this war room needs its token</h1>
<p>Open the address <code>warroom serve</code> printed when it started; it ends in <code>?token=...</code>.
Ask whoever runs the war room for it.</p>
</body></html>
"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="LOG|CONFIG", help="a decision log (.jsonl), or a launch config (YAML)")
    p.add_argument("--log", metavar="PATH", help="with a CONFIG: its decision log (default: the per-launch file)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--public-url", metavar="URL", help="the address browsers use, when behind a reverse proxy")


def secret_names(launch: Launch | None, environ: dict[str, str]) -> set[str]:
    """Environment variables an app process must not see."""
    names = {n for n in environ if SECRET_NAME.search(n)}
    if launch is not None:
        for src in launch.sources.values():
            a = getattr(src, "auth", None)
            if a is not None:
                names |= {n for n in (a.bearer_env, a.password_env) if n}
        for ch in launch.notify.channels.values():
            names |= {n for n in (getattr(ch, f, None) for f in ("url_env", "routing_key_env", "secret_env")) if n}
    return names | {TOKEN_ENV}


def _target(args: argparse.Namespace, keep: list[tempfile.TemporaryDirectory[str]]) -> tuple[Launch, Path, Path]:
    """(launch, config file, log) for the app processes; a LOG's config is the one it recorded."""
    from warroom.store.launchlog import first_launch_event
    from warroom.store.paths import default_log_path

    target = Path(args.target)
    if target.suffix in (".yaml", ".yml"):
        launch = load_launch(target)
        return launch, target, Path(args.log) if args.log else default_log_path(launch.id)
    first = first_launch_event(target)
    if first is None or not isinstance(first.data.get("config"), str):
        raise SystemExit(f"{target}: not a decision log with a recorded launch (give the config instead)")
    text = str(first.data["config"])
    launch = parse_launch(text, f"{target} (recorded config)")
    tmp = tempfile.TemporaryDirectory(prefix="warroom-serve-")
    keep.append(tmp)
    cfg = Path(tmp.name) / "launch.yaml"
    cfg.write_text(text, encoding="utf-8")
    return launch, cfg, target


def check_token(token: str) -> Callable[..., Awaitable[object]]:
    """aiohttp middleware: 401 unless the request carries the token; the first good `?token=` sets a cookie so
    the page's own requests (scripts, the websocket) carry it too."""
    from aiohttp import web

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):  # type: ignore[no-untyped-def]
        bearer = request.headers.get("Authorization", "")
        given = (
            request.query.get("token")
            or request.cookies.get(COOKIE)
            or (bearer[7:] if bearer.lower().startswith("bearer ") else "")
        )
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(
                status=401,
                text=UNAUTHORIZED,
                content_type="text/html",
                headers={"WWW-Authenticate": 'Bearer realm="warroom"', "Cache-Control": "no-store"},
            )
        resp = await handler(request)
        if request.query.get("token") and not resp.prepared:
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return resp

    return middleware


def run(args: argparse.Namespace) -> int:
    try:
        from aiohttp import web
        from textual_serve.server import Server
    except ImportError:
        err("warroom serve needs textual-serve\n    hint: pip install 'warroom[serve]'")
        return EXIT_USAGE
    keep: list[tempfile.TemporaryDirectory[str]] = []
    launch, cfg, log = _target(args, keep)
    if not log.exists():
        err(f"{log}: no such decision log (a live console creates it: warroom run CONFIG)")
        return EXIT_USAGE
    token = os.environ.get(TOKEN_ENV, "").strip() or secrets.token_urlsafe(24)
    for name in secret_names(launch, dict(os.environ)):  # textual-serve passes os.environ to every app process
        os.environ.pop(name, None)
    os.environ["WARROOM_SERVED"] = "1"
    app_cmd = shlex.join(
        [sys.executable, "-m", "warroom", "run", str(cfg), "--log", str(log), "--observer", "--as", "browser viewer"]
    )
    public = (args.public_url or f"http://{args.host}:{args.port}").rstrip("/")

    class TokenServer(Server):
        def initialize_logging(self) -> None:
            super().initialize_logging()
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # its lines would show ?token=

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(check_token(token))  # type: ignore[arg-type]
            return app

    server = TokenServer(app_cmd, host=args.host, port=args.port, title=f"warroom: {launch.name}", public_url=public)
    out(f"serving {launch.name} read-only at {public}/?token={token}")
    out("(each browser gets an observer console; Ctrl+C stops)")
    sys.stdout.flush()
    server.serve()
    return EXIT_OK
