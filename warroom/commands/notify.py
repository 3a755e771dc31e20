"""`warroom notify test CONFIG`: one test message to every notification channel, and what each answered.

The seed checklist's "test alert delivery". Nothing is written to any log; PagerDuty gets a test incident
that is resolved at once (same dedup_key). Exit 0 when every channel accepted, 1 when any did not.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from warroom.commands.common import EXIT_NOGO, EXIT_OK, EXIT_USAGE, err, out
from warroom.config import Channel, Launch, PagerDutyChannel, load_launch
from warroom.core.text import clean
from warroom.notify.changes import Change
from warroom.notify.delivery import Outcome
from warroom.notify.notifier import Queued, secrets_of, send
from warroom.notify.secrets import scrub

ATTEMPTS = 3
WAIT_MAX = 10.0  # a test waits out a Retry-After up to this long


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["test"], help="test: send a test message to each channel")
    p.add_argument("config", metavar="CONFIG", help="launch config (YAML)")


async def _one(launch: Launch, name: str, cfg: Channel, client: httpx.AsyncClient) -> list[Outcome]:
    text = f"{launch.name}: warroom test message (notify test): delivery to channel '{name}' works"
    changes = [Change("test", "test", "test", text, "info", "trigger", f"warroom/{launch.id}/test")]
    if isinstance(cfg, PagerDutyChannel):
        changes.append(Change("test", "", "test", text, "info", "resolve", f"warroom/{launch.id}/test"))
    outcomes = []
    for c in changes:
        q = Queued(0, "test", time.time(), c)
        for attempt in range(1, ATTEMPTS + 1):
            o = await send(launch, name, cfg, q, client)
            if o.ok or o.final or attempt == ATTEMPTS:
                break
            await asyncio.sleep(min(o.retry_after if o.retry_after is not None else attempt, WAIT_MAX))
        outcomes.append(o)
    return outcomes


async def _all(launch: Launch) -> list[tuple[str, Channel, list[Outcome]]]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(launch.notify.timeout), trust_env=False) as client:
        names = list(launch.notify.channels)
        got = await asyncio.gather(*(_one(launch, n, launch.notify.channels[n], client) for n in names))
    return [(n, launch.notify.channels[n], o) for n, o in zip(names, got, strict=True)]


def run(args: argparse.Namespace) -> int:
    launch = load_launch(args.config)
    if not launch.notify.channels:
        err(f"{args.config}: no notify.channels in this config\n    hint: see README 'Notifications'")
        return EXIT_USAGE
    bad = 0
    for name, cfg, outcomes in asyncio.run(_all(launch)):
        ok = all(o.ok for o in outcomes)
        bad += not ok
        said = ", ".join(clean(scrub(o.result, secrets_of(cfg))) for o in outcomes)
        out(f"{'ok     ' if ok else 'FAILED '} {clean(name)} ({cfg.type}): {said}")
    return EXIT_OK if not bad else EXIT_NOGO
