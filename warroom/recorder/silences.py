"""Acks become Alertmanager silences: run by the leading recorder, so one silence per ack however many consoles.

An `ack` of an Alertmanager alert whose source sets `ack_silence` creates an exact-match silence (every label
of the alert), created by the acknowledging actor, commented with the launch and the ack's log seq, lasting
`ack_silence`. It is expired when the alert resolves, or when a console asks (`silence` event with state
`expire_requested`, from the console's key). Every outcome is a `silence` event: created (with the id),
expired, or failed (with the reason), so it is shown and survives a takeover: a new leader reads the log and
finishes what is left (an ack with no silence yet, a silence whose alert has since resolved).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from warroom.config import AlertmanagerSource, Launch
from warroom.core.events import Event
from warroom.core.state import actor_label
from warroom.core.text import clean
from warroom.sources.silences import SilenceFailed, Silences
from warroom.store.base import Follow
from warroom.store.log import LogCorrupt

EVERY = 0.5


def silencing_sources(launch: Launch) -> dict[str, AlertmanagerSource]:
    return {n: c for n, c in launch.sources.items() if isinstance(c, AlertmanagerSource) and c.ack_silence}


@dataclass
class Tracked:
    """One Alertmanager alert as the log tells it, and its silence."""

    source: str
    labels: dict[str, str]
    firing: bool = True
    ack: tuple[str, int] | None = None  # (actor label, ack seq)
    silence: str | None = None  # id of the active silence we created
    done: bool = False  # a silence was created and expired, or creating it failed: nothing more to do
    expire: str = ""  # why it should be expired now ("" = not asked)


@dataclass
class SilenceKeeper:
    launch: Launch
    follow: Callable[[], Follow]  # the store's follower (Store.follower): a file and PostgreSQL read alike
    append: Callable[[str, dict[str, Any]], Event]
    clock: Callable[[], float]
    alerts: dict[str, Tracked] = field(default_factory=dict)

    async def run(self) -> None:
        follower = self.follow()
        sources = silencing_sources(self.launch)
        clients = {n: Silences(c) for n, c in sources.items()}
        try:
            self.take(await asyncio.to_thread(follower.poll))
            while True:
                await self.act(clients)
                await asyncio.sleep(EVERY)
                with contextlib.suppress(LogCorrupt, OSError):
                    self.take(await asyncio.to_thread(follower.poll))  # a database read stays off the loop
        finally:
            for c in clients.values():
                with contextlib.suppress(Exception):
                    await c.aclose()

    def take(self, events: list[Event]) -> None:
        for ev in events:
            d = ev.data
            if ev.kind == "alert":
                key = "am:" + str(d.get("fingerprint", ""))
                if d.get("status") == "firing":
                    raw = d.get("labels")
                    labels: dict[Any, Any] = raw if isinstance(raw, dict) else {}
                    t = self.alerts.get(key)
                    if t is None or t.done:
                        self.alerts[key] = Tracked(
                            str(d.get("source", "")), {str(k): str(v) for k, v in labels.items()}
                        )
                elif key in self.alerts:
                    t = self.alerts[key]
                    t.firing = False
                    t.expire = t.expire or "the alert resolved"
            elif ev.kind == "ack":
                t = self.alerts.get(str(d.get("alert", "")))
                if t is not None and t.ack is None:
                    t.ack = (actor_label(ev.actor), ev.seq)
            elif ev.kind == "silence":
                t = self.alerts.get(str(d.get("alert", "")))
                if t is None:
                    continue
                st = d.get("state")
                if st == "created":
                    t.silence = str(d.get("id", ""))
                elif st in ("expired", "failed"):
                    t.silence, t.done = None, True
                elif st == "expire_requested":
                    t.expire = f"on request of {actor_label(ev.actor)}"

    async def act(self, clients: dict[str, Silences]) -> None:
        for key, t in list(self.alerts.items()):
            client = clients.get(t.source)
            if client is None or t.done:
                continue
            if t.silence is None and t.ack is not None and t.firing and not t.expire:
                await self._create(key, t, client)
            elif t.silence is not None and t.expire:
                await self._expire(key, t, client)

    async def _create(self, key: str, t: Tracked, client: Silences) -> None:
        assert t.ack is not None
        by, seq = t.ack
        cfg = self.launch.sources[t.source]
        assert isinstance(cfg, AlertmanagerSource) and cfg.ack_silence
        now = self.clock()
        comment = clean(f"warroom: acknowledged in launch {self.launch.name} ({self.launch.id}), log seq {seq}")
        try:
            sid = await client.create(t.labels, now, now + cfg.ack_silence, clean(by), comment)
        except SilenceFailed as e:
            t.done = True
            self._record({"state": "failed", "alert": key, "action": "create", "error": clean(str(e))})
            return
        t.silence = sid
        self._record(
            {"state": "created", "alert": key, "id": sid, "source": t.source, "by": clean(by),
             "until": now + cfg.ack_silence, "ack_seq": seq}
        )  # fmt: skip

    async def _expire(self, key: str, t: Tracked, client: Silences) -> None:
        sid = t.silence
        assert sid is not None
        try:
            await client.expire(sid)
        except SilenceFailed as e:
            t.done = True
            self._record({"state": "failed", "alert": key, "action": "expire", "id": sid, "error": clean(str(e))})
            return
        t.silence, t.done = None, True
        self._record({"state": "expired", "alert": key, "id": sid, "why": t.expire})

    def _record(self, d: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, LogCorrupt):
            self.append("silence", d)
