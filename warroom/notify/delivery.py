"""One POST to a channel and its outcome in words: delivered, retry (after how long) or failed for good.

429 honours Retry-After (seconds or an HTTP date); 5xx, timeouts and refused connections back off
exponentially; any other 4xx is final (retrying a malformed or unauthorised request changes nothing).
No reason ever holds the URL or a key: httpx's messages are not used, only the status and the error's type.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

import httpx

from warroom.notify.secrets import scrub

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
RETRY_AFTER_MAX = 3600.0  # a Retry-After beyond this is taken as this (the give-up bound cuts it anyway)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    final: bool  # no point trying again
    result: str  # "HTTP 200", "HTTP 429 (retry after 2s)", "connection refused", ...
    retry_after: float | None = None  # what the server asked for (429/503 Retry-After)


def retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        return min(float(v), RETRY_AFTER_MAX)
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError):
        return None
    seconds: float = when.timestamp() - now
    return min(max(0.0, seconds), RETRY_AFTER_MAX)


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based) after a 5xx or an unreachable server."""
    return min(BACKOFF_FIRST * 2.0 ** max(0, attempt - 1), BACKOFF_MAX)


async def post(
    client: httpx.AsyncClient,
    url: str,
    content: bytes,
    headers: dict[str, str],
    secrets: tuple[str, ...],
    ok_statuses: tuple[int, ...] = (200, 201, 202, 204),
) -> Outcome:
    try:
        r = await client.post(url, content=content, headers={"Content-Type": "application/json", **headers})
    except httpx.TimeoutException:
        return Outcome(False, False, "timeout")
    except httpx.ConnectError:
        return Outcome(False, False, "connection refused or unreachable")
    except httpx.HTTPError as e:
        return Outcome(False, False, f"HTTP error ({type(e).__name__})")
    if r.status_code in ok_statuses or 200 <= r.status_code < 300:
        return Outcome(True, True, f"HTTP {r.status_code}")
    after = retry_after(r.headers.get("Retry-After"), time.time())
    if r.status_code == 429 or r.status_code >= 500:
        said = f" (retry after {after:g}s)" if after is not None else ""
        return Outcome(False, False, f"HTTP {r.status_code}{said}", after)
    body = scrub(r.text[:200], secrets).strip()
    return Outcome(False, True, f"HTTP {r.status_code}" + (f": {body}" if body else ""))
