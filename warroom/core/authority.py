"""Who may do what: the one place these rules live. The fold applies them to every event; the console asks first.

Every console user can append to the log, so the log holds whatever anyone wrote. What makes a forged
sign-off useless is that the fold asks, for each decision event, whether its actor holds the authority
the config gives, and keeps an event that fails as evidence (shown as refused, with the reason) without
applying it. Pure: reads the launch config, the event and, for signed kinds, a verdict on the event's
signature computed beforehand (see `warroom.trust`, which does the I/O); no clock, no files.

Membership: with `identity: accounts` (the default) a role's `members` are accounts and only the actor's
account (`user`, taken from the system by `current_actor`) counts; the `--as` name is a display name. With
`identity: claimed` (a shared account) the `--as` name counts as it always did, and every view marks such
actors as claimed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from warroom.config import Launch, Role
from warroom.core.events import Actor, Event

CHECKED = frozenset({"check", "uncheck", "signoff", "decision", "rollback", "trigger_mode", "ack"})
SIGNED = frozenset({"signoff", "decision"})  # the kinds a console signs when the config asks for signatures
SIG_KEY = "sig"  # the event data key holding the signature (armored `ssh-keygen -Y sign` output)
ANCHOR_KEY = "sig_anchor"  # "SEQ:HASH" of the log's head when it was signed: its place in the chain
MARKED = CHECKED | {"note", "session", "measurement"}  # kinds whose claimed actors are marked


@dataclass(frozen=True, slots=True)
class SigVerdict:
    """What checking one event's signature found (outside the fold): good and by whom, or why not."""

    ok: bool
    signer: str = ""  # the account the signature verified for
    detail: str = ""  # the key (ssh-keygen's words) when good, the reason when not


def roles_of(launch: Launch, actor: Actor) -> list[Role]:
    """The roles an actor holds: by account, or also by claimed name when the config says `identity: claimed`."""
    if launch.identity == "claimed":
        return launch.roles_of(actor.name or actor.user)
    return [r for r in launch.roles if actor.user in r.members]


def claims(launch: Launch, actor: Actor) -> bool:
    """Whether this actor's authority rests on a name it gave rather than its account."""
    return launch.identity == "claimed" and bool(actor.name)


def who(launch: Launch, actor: Actor) -> str:
    """The actor as a refusal names it: the account, and the claimed name when there is one."""
    if actor.name:
        return f"{actor.name} ({'claimed; ' if claims(launch, actor) else ''}account {actor.user})"
    return f"account {actor.user}"


def as_seen(launch: Launch, ev: Event) -> Event:
    """The event with its actor marked claimed when its authority rests on a claimed name (every view shows it)."""
    if ev.kind in MARKED and claims(launch, ev.actor) and not ev.actor.claimed:
        return dataclasses.replace(ev, actor=dataclasses.replace(ev.actor, claimed=True))
    return ev


def _titles(launch: Launch, ids: list[str]) -> str:
    return ", ".join(launch.roles_by_id[i].title if i in launch.roles_by_id else i for i in ids) or "none"


def _needs(launch: Launch, actor: Actor, allowed: list[str], what: str) -> str | None:
    held = {r.id for r in roles_of(launch, actor)}
    if held & set(allowed):
        return None
    has = _titles(launch, sorted(held)) if held else "no role"
    return f"{who(launch, actor)} may not {what}: it needs {_titles(launch, allowed)}, and holds {has}"


def _commanders(launch: Launch) -> list[str]:
    return [r.id for r in launch.roles if r.commander]


def signature_refusal(launch: Launch, ev: Event, verdict: SigVerdict | None) -> str | None:
    """Why a sign-off's or decision's signature does not let it count, or None."""
    if launch.signatures == "off" or ev.kind not in SIGNED:
        return None
    if SIG_KEY not in ev.data:
        if launch.signatures == "required":
            return "unsigned, and this launch requires signed sign-offs and decisions (signatures: required)"
        return None
    if verdict is None:
        return "its signature was not checked (no verdict reached the fold); it does not count"
    if not verdict.ok:
        return f"its signature does not verify: {verdict.detail}"
    if verdict.signer != ev.actor.user:
        return f"signed by {verdict.signer}, not by the account {ev.actor.user} that recorded it"
    return None


def refusal(launch: Launch, ev: Event, verdict: SigVerdict | None = None) -> str | None:
    """Why the event's actor lacks the authority for it (the fold keeps it, unapplied), or None."""
    kind, d, actor = ev.kind, ev.data, ev.actor
    if kind not in CHECKED:
        return None
    if kind == "signoff":
        role = launch.roles_by_id.get(str(d.get("role", "")))
        if role is None:
            return None  # names no role of this launch: the fold ignores it anyway
        why = _needs(launch, actor, [role.id], f"sign off as {role.title}")
        return why or signature_refusal(launch, ev, verdict)
    if kind == "decision":
        why = _needs(launch, actor, _commanders(launch), "record the final decision")
        return why or signature_refusal(launch, ev, verdict)
    if kind in ("check", "uncheck"):
        found = launch.items_by_id.get(str(d.get("item")))
        if found is None:
            return None
        item = found[2]
        verb = "tick" if kind == "check" else "untick"
        if launch.authority.ticks == "any-role" or item.owner is None:
            return None if roles_of(launch, actor) else f"{who(launch, actor)} may not {verb} items: it holds no role"
        return _needs(launch, actor, [item.owner, *_commanders(launch)], f"{verb} '{item.text}'")
    if kind == "ack":
        acks = launch.authority.acks
        if acks is None:
            return None if roles_of(launch, actor) else f"{who(launch, actor)} may not acknowledge alerts: no role"
        return _needs(launch, actor, acks, "acknowledge alerts")
    if kind == "trigger_mode":
        return _needs(launch, actor, trigger_roles(launch), "switch rollback triggers")
    return _rollback_refusal(launch, actor, d)


def trigger_roles(launch: Launch) -> list[str]:
    """The roles that may switch trigger modes (and answer a rollback recommendation)."""
    if launch.authority.trigger_modes is not None:
        return list(launch.authority.trigger_modes)
    return list(dict.fromkeys([*_commanders(launch), *launch.rollback.allowed_roles]))


def _rollback_refusal(launch: Launch, actor: Actor, d: dict[str, Any]) -> str | None:
    phase = d.get("phase")
    if phase == "refused":
        return None  # a console's record that it refused someone: evidence, changes nothing
    if phase == "finished" and d.get("interrupted") is True and d.get("ok") is not True:
        return None  # any console records that a run died (its marker says so): it only ever makes things worse
    if phase == "recommendation":
        return _needs(launch, actor, trigger_roles(launch), "answer a rollback recommendation")
    if d.get("automatic") is True or actor.name == "auto-rollback":
        if launch.rollback.auto_allowed:
            return None
        return "an automatic rollback, but the config does not allow one (rollback.auto_allowed is false)"
    return _needs(launch, actor, list(launch.rollback.allowed_roles), "roll back")


def what(ev: Event) -> str:
    """A refused event in a few words: what it would have done."""
    d = ev.data
    if ev.kind == "signoff":
        return f"sign-off {d.get('role', '?')} {d.get('verdict', '?')}"
    if ev.kind == "decision":
        return f"final decision {d.get('verdict', '?')}"
    if ev.kind in ("check", "uncheck"):
        return f"{'tick' if ev.kind == 'check' else 'untick'} {d.get('item', '?')}"
    if ev.kind == "rollback":
        return f"rollback {d.get('phase', '?')}"
    if ev.kind == "trigger_mode":
        return f"trigger mode {d.get('criterion', '?')} -> {d.get('mode', '?')}"
    if ev.kind == "ack":
        return f"ack {d.get('alert', '?')}"
    return ev.kind


__all__ = ["CHECKED", "SIGNED", "SigVerdict", "as_seen", "claims", "refusal", "roles_of", "trigger_roles", "what"]
