"""The notifier: run by the recorder while it holds the lock, so exactly one process per log sends.

It follows the log through the store (a file or PostgreSQL alike) and folds it (the same fold as every
view), and about twice a second compares the notifiable signals (changes.py) with what was last announced.
A change is first *queued*: a `notify` event in the log, durable before anything is sent. Each channel then
delivers its queued messages in log order, and every attempt's outcome is a `notify` event (channel, what,
result, attempt). A recorder that takes over reads the log, so it sends what was queued and not yet
delivered, and queues only what changed since: nothing twice, nothing dropped. The one window left is a kill
between a receiver accepting a message and its `delivered` event reaching the log: PagerDuty (dedup_key)
and the webhook (Idempotency-Key, the queued event's seq and hash) make the repeat harmless; Slack has no
such key.

A failing channel is a failing source (`source` event, source name `notify:CHANNEL`, feed `delivery`), shown
by the console like any other, and never blocks the recorder: each channel is its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from warroom.config import Channel, Launch, PagerDutyChannel, SlackChannel
from warroom.core.events import Event
from warroom.core.state import LaunchState, view
from warroom.core.text import clean
from warroom.notify.changes import Change, pending, signals
from warroom.notify.delivery import Outcome, backoff, post
from warroom.notify.messages import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    idempotency_key,
    pagerduty_body,
    sign,
    slack_body,
    webhook_body,
)
from warroom.notify.secrets import SecretMissing, endpoint, scrub
from warroom.store.base import Follow
from warroom.store.log import LogCorrupt

EVALUATE_EVERY = 0.5  # seconds between looks at the state
FINAL = frozenset({"delivered", "failed", "gave_up"})
FEED = "delivery"


def source_name(channel: str) -> str:
    """How a channel shows among the sources (the fold and the console know it by this name)."""
    return f"notify:{channel}"


@dataclass(frozen=True)
class Queued:
    """A queued message: its log event's seq, hash and time, and the change it announces."""

    seq: int
    digest: str
    ts: float
    change: Change


@dataclass
class Recovered:
    """What the log says about deliveries: attempts made and which are done, per (queued seq, channel)."""

    attempts: dict[tuple[int, str], int] = field(default_factory=dict)
    done: set[tuple[int, str]] = field(default_factory=set)
    health: dict[str, bool] = field(default_factory=dict)


async def send(launch: Launch, name: str, cfg: Channel, q: Queued, client: httpx.AsyncClient) -> Outcome:
    """One attempt to deliver `q` on channel `name`; secrets are read afresh (a fixed file is picked up)."""
    try:
        ep = endpoint(cfg)
    except SecretMissing as e:
        return Outcome(False, False, str(e))
    c = q.change
    if isinstance(cfg, SlackChannel):
        body = orjson.dumps(slack_body(launch, c, q.seq, q.ts))
        return await post(client, ep.url, body, {}, ep.secrets)
    if isinstance(cfg, PagerDutyChannel):
        body = orjson.dumps(pagerduty_body(launch, c, ep.routing_key, q.seq))
        return await post(client, ep.url, body, {}, ep.secrets)
    body = webhook_body(launch, c, q.seq, q.digest, q.ts)
    headers = {SIGNATURE_HEADER: sign(ep.signing_secret, body), IDEMPOTENCY_HEADER: idempotency_key(q.seq, q.digest)}
    return await post(client, ep.url, body, headers, ep.secrets)


def secrets_of(cfg: Channel) -> tuple[str, ...]:
    try:
        return endpoint(cfg).secrets
    except SecretMissing:
        return ()


class Notifier:
    """Queues what changed and delivers it, while the recorder that runs it leads (see module docstring)."""

    def __init__(
        self,
        launch: Launch,
        follow: Callable[[], Follow],
        append: Callable[[str, dict[str, Any]], Event],
        clock: Callable[[], float],
    ) -> None:
        """`follow` makes a follower from the log's first event: the store's own (`Store.follower`), so the
        notifier reads a file and a PostgreSQL log alike."""
        self.launch = launch
        self.cfg = launch.notify
        self.append = append
        self.clock = clock
        self.state = LaunchState(launch)
        self.follower = follow()
        self.memory: dict[str, str] = {}
        self.rec = Recovered()
        self.queues: dict[str, asyncio.Queue[Queued]] = {name: asyncio.Queue() for name in self.cfg.channels}
        self.seen: set[int] = set()  # queued seqs already handed to the channel queues
        self.sent = 0  # deliveries that succeeded in this process (tests, benches)

    @property
    def active(self) -> bool:
        return bool(self.cfg.channels) and bool(self.cfg.routes)

    async def run(self) -> None:
        """Until cancelled. An error in one evaluation is kept out of the recorder (it logs nothing then)."""
        events = await asyncio.to_thread(self.follower.poll)
        self._take(events)
        workers = [asyncio.create_task(self._worker(n), name=f"notify {n}") for n in self.cfg.channels]
        try:
            while True:
                with contextlib.suppress(LogCorrupt, OSError):
                    # off the loop: a database follower may wait on the network (a console draws on this loop)
                    self._take(await asyncio.to_thread(self.follower.poll))
                    self.evaluate()
                await asyncio.sleep(EVALUATE_EVERY)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def _take(self, events: list[Event]) -> None:
        """Fold new events, and learn from `notify` and notify-source events what is queued and done."""
        for ev in events:
            self.state.apply(ev)
            d = ev.data
            if ev.kind == "source" and str(d.get("source", "")).startswith("notify:"):
                self.rec.health[str(d["source"])[7:]] = d.get("ok") is True
            if ev.kind != "notify":
                continue
            st = d.get("state")
            if st == "queued":
                self.memory[str(d.get("signal", ""))] = str(d.get("value", ""))
                self._enqueue(ev)
            else:
                key = (_int(d.get("id")), str(d.get("channel", "")))
                self.rec.attempts[key] = max(self.rec.attempts.get(key, 0), _int(d.get("attempt")))
                if st in FINAL:
                    self.rec.done.add(key)

    def _enqueue(self, ev: Event) -> None:
        if ev.seq in self.seen:
            return
        self.seen.add(ev.seq)
        q = Queued(ev.seq, ev.hash, ev.ts, Change.from_event(ev.data))
        chans = ev.data.get("channels")
        for name in chans if isinstance(chans, list) else []:
            if name in self.queues:
                self.queues[name].put_nowait(q)

    def evaluate(self) -> None:
        """Queue every signal whose value differs from the last announced one."""
        now = self.clock()
        v = view(self.state, now)
        current = signals(self.state, v, now, self.cfg.status_every)
        for c in pending(current, self.memory):
            chans = self.cfg.channels_for(c.what)
            if not chans:
                continue
            ev = self.append("notify", c.to_event(chans))  # durable before any channel sees it
            self.memory[c.signal] = c.value
            self._enqueue(ev)

    async def _worker(self, name: str) -> None:
        cfg = self.cfg.channels[name]
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.cfg.timeout), trust_env=False) as client:
            while True:
                q = await self.queues[name].get()
                if (q.seq, name) in self.rec.done:
                    continue
                await self._deliver(name, cfg, q, client)

    async def _deliver(self, name: str, cfg: Channel, q: Queued, client: httpx.AsyncClient) -> None:
        key = (q.seq, name)
        deadline = q.ts + self.cfg.give_up_after
        while True:
            attempt = self.rec.attempts.get(key, 0) + 1
            self.rec.attempts[key] = attempt
            out = await send(self.launch, name, cfg, q, client)
            result = clean(scrub(out.result, secrets_of(cfg)))
            now = self.clock()
            wait = out.retry_after if out.retry_after is not None else backoff(attempt)
            if out.ok:
                state = "delivered"
            elif out.final:
                state = "failed"
            elif now + wait > deadline:
                state = "gave_up"
                result += f"; gave up after {attempt} attempts (give_up_after {self.cfg.give_up_after:g}s)"
            else:
                state = "retrying"
            self._record(
                {
                    "state": state,
                    "id": q.seq,
                    "channel": name,
                    "what": q.change.what,
                    "attempt": attempt,
                    "result": result,
                }
            )
            self._health(name, out.ok, result)
            if state != "retrying":
                self.rec.done.add(key)
                if out.ok:
                    self.sent += 1
                return
            await asyncio.sleep(wait)

    def _record(self, data: dict[str, Any]) -> None:
        try:
            self.append("notify", data)
        except (OSError, LogCorrupt):
            pass  # the recorder's own appends say the log is failing; a delivery must not stop on it

    def _health(self, name: str, ok: bool, reason: str) -> None:
        if self.rec.health.get(name, True) == ok:
            return
        self.rec.health[name] = ok
        d: dict[str, Any] = {"source": source_name(name), "feed": FEED, "ok": ok, "t": self.clock()}
        if not ok:
            d["error"], d["reason"] = "http", f"notification channel: {reason}"
        self._record_source(d)

    def _record_source(self, d: dict[str, Any]) -> None:
        try:
            self.append("source", d)
        except (OSError, LogCorrupt):
            self.rec.health.pop(d["source"][7:], None)


def _int(x: Any) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) else 0
