"""One reused httpx.AsyncClient per remote source, and the mapping of httpx failures to error kinds.

A new client per request costs ~50 ms (TLS and connection setup), so each
source keeps one for its lifetime.
"""

from __future__ import annotations

import ssl

import httpx

from warroom.config import AlertmanagerSource, HttpSource
from warroom.sources.auth import Credentials
from warroom.sources.base import AUTH, CONNECTION, HTTP, TIMEOUT, Reading


def make_client(
    cfg: AlertmanagerSource | HttpSource,
    creds: Credentials,
    headers: dict[str, str] | None = None,
    connections: int = 16,
) -> httpx.AsyncClient:
    verify: bool | ssl.SSLContext = cfg.tls_verify
    if cfg.tls_verify and cfg.ca_file:
        verify = ssl.create_default_context(cafile=cfg.ca_file)
    return httpx.AsyncClient(
        headers={**(headers or {}), **creds.headers},
        auth=httpx.BasicAuth(*creds.basic) if creds.basic else None,
        verify=verify,
        timeout=httpx.Timeout(cfg.timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        follow_redirects=True,
        trust_env=False,
    )


def failure(at: float, e: Exception, url: str, timeout: float) -> Reading:
    """A reading for an httpx exception, with the reason in words."""
    if isinstance(e, httpx.TimeoutException):
        return Reading.fail(at, TIMEOUT, f"no answer from {url} within {timeout:g}s")
    if isinstance(e, httpx.ConnectError):
        detail = str(e).rsplit("] ", 1)[-1] or "cannot connect"
        if "CERTIFICATE" in detail.upper() or "SSL" in detail.upper():
            return Reading.fail(at, CONNECTION, f"TLS handshake with {url} failed: {detail[:120]}")
        return Reading.fail(at, CONNECTION, f"cannot connect to {url}: {detail[:120]}")
    if isinstance(e, httpx.HTTPError):
        return Reading.fail(at, CONNECTION, f"request to {url} failed: {type(e).__name__}: {str(e)[:120]}")
    raise e


def status_failure(at: float, status: int, url: str) -> Reading:
    if status in (401, 403):
        return Reading.fail(at, AUTH, f"{url} refused the credentials (HTTP {status})")
    return Reading.fail(at, HTTP, f"{url} answered HTTP {status}")
