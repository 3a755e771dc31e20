"""Event records of the decision log and their byte-exact serialisation.

An event line is the canonical JSON of (v, seq, ts, actor, kind, data, prev)
with `"hash": sha256(that JSON)` spliced in as the last key. Verifying a line
therefore needs one parse and one hash of a slice of the line itself, never a
re-serialisation.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from warroom.core.records import RECORDS, Payload, payload_of

SCHEMA_VERSION = 1
GENESIS = "0" * 64
_HASH_SUFFIX_LEN = len(',"hash":"') + 64 + len('"}')

# Each kind and what its data holds: the registry of typed records (records.py), described by their docstrings.
KINDS = {str(kind): (rec.__doc__ or "").split("\n")[0] for kind, rec in RECORDS.items()}
# Event kinds that are human decisions: replay's stops for "previous/next decision", the report's story.
MARK_KINDS = frozenset({"check", "uncheck", "signoff", "note", "decision", "rollback", "ack", "trigger_mode"})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something.

    `user` is the account; `uid` is set when the account came from the system (`os.getuid()`), absent in
    old logs and hand-made actors. `ssh` is the SSH origin as the client's environment tells it (anyone can
    set it: context, never proof). `name` is a display name the person gave (`--as`): always claimed; it
    grants a role only in a config with `identity: claimed`. `claimed` is never written: the fold sets it
    on actors whose role came from the claimed name, so every view marks them.
    """

    user: str
    host: str
    ssh: str | None = None
    name: str | None = None
    uid: int | None = None
    claimed: bool = field(default=False, compare=False)

    @property
    def label(self) -> str:
        who = self.name or self.user
        if self.name and self.claimed:
            who += f" [claimed, account {self.user}]"
        return f"{who}@{self.host}" + (f" (ssh {self.ssh}, client-supplied)" if self.ssh else "")

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"user": self.user, "host": self.host}
        if self.ssh:
            d["ssh"] = self.ssh
        if self.name:
            d["name"] = self.name
        if self.uid is not None:
            d["uid"] = self.uid
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Actor:
        if not isinstance(d, dict):
            raise TypeError(f"actor must be an object, not {type(d).__name__}")
        uid = d.get("uid")
        return cls(
            str(d.get("user", "?")),
            str(d.get("host", "?")),
            d.get("ssh"),
            d.get("name"),
            uid if isinstance(uid, int) and not isinstance(uid, bool) else None,
        )


def system_account() -> tuple[str, int]:
    """The process's real account (name, uid) from the password database; the uid as text if it has no entry.

    Never $LOGNAME/$USER (getpass reads those first): anyone sets them."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name, uid
    except KeyError:
        return str(uid), uid


def current_actor(name: str | None = None) -> Actor:
    """The actor for this process: the real account, the host, the SSH origin the client claims, a display name."""
    user, uid = system_account()
    ssh = os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_CLIENT")
    origin = ssh.split()[0] if ssh and ssh.split() else None
    return Actor(user=user, host=socket.gethostname(), ssh=origin, name=name, uid=uid)


SYSTEM = Actor(user="warroom", host="-", name="recorder")


@dataclass(frozen=True, slots=True)
class Event:
    v: int
    seq: int
    ts: float
    actor: Actor
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    prev: str = GENESIS
    hash: str = ""
    typed: Payload | None = field(default=None, compare=False, repr=False)

    @property
    def ts_iso(self) -> str:
        return iso(self.ts)

    @property
    def payload(self) -> Payload:
        """The typed record of `data`, read from it once (on first use: `verify` never needs it)."""
        p = self.typed
        if p is None:
            p = payload_of(self.kind, self.data)
            _set_typed(self, p)
        return p


_set_typed = Event.__dict__["typed"].__set__  # the slot itself: a frozen dataclass's __setattr__ refuses


_ISO_MAX = 253402300800.0  # 10000-01-01: beyond it datetime cannot show the time
_iso_second: tuple[int, str] = (-1, "")
_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))


def iso(ts: float) -> str:
    """UTC ISO 8601 with milliseconds, as datetime shows it (microseconds rounded, then cut to ms).

    Formats the date and time of day once per second and reuses it: this sits
    on every append, where datetime+strftime was half the cost of encoding.
    """
    global _iso_second
    if not 0.0 <= ts < _ISO_MAX:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    sec = int(ts)
    us = round((ts - sec) * 1e6)
    if us >= 1_000_000:
        sec += 1
        us -= 1_000_000
    cached = _iso_second
    if cached[0] != sec:
        cached = _iso_second = (sec, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(sec)))
    return cached[1] + _MILLIS[us // 1000]


_actors: dict[tuple[Any, ...], Actor] = {}


def _actor(d: Any) -> Actor:
    """The actor of a line, one shared object per distinct actor: a log has a handful, on every line."""
    if not isinstance(d, dict):
        return Actor.from_json(d)  # raises the error it always did
    key = (d.get("user"), d.get("host"), d.get("ssh"), d.get("name"), d.get("uid"))
    try:
        a = _actors.get(key)
    except TypeError:  # an unhashable field, only in a hand-made line
        return Actor.from_json(d)
    if a is None:
        a = Actor.from_json(d)
        if len(_actors) >= 1024:
            _actors.clear()
        _actors[key] = a
    return a


_ts_second: tuple[str, int] = ("\0", 0)  # (a line's 'YYYY-MM-DDTHH:MM:SS', its epoch seconds x 10**6)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TAILS = {f".{ms:03d}Z": ms * 1000 for ms in range(1000)}  # a time's '.mmmZ', as microseconds


def parse_iso(text: str) -> float:
    """Epoch seconds of an ISO 8601 time. A log's own form ('2026-01-01T12:00:00.250Z', on every line) is read
    from the seconds of the line before: the float is the one datetime gives, (us since the epoch) / 10**6,
    which is how timedelta.total_seconds() computes it. Any other form goes to datetime itself."""
    global _ts_second
    us = _TAILS.get(text[19:]) if type(text) is str else None  # only a 24-character '....T..:..:..' + '.mmmZ'
    if us is None:
        return datetime.fromisoformat(text).timestamp()
    cached = _ts_second
    if not text.startswith(cached[0]):
        full = datetime.fromisoformat(text)  # a new second is read by datetime itself (and raises as it did)
        if full.microsecond != us or full.tzinfo is None:
            return full.timestamp()
        delta = full - _EPOCH
        cached = _ts_second = (text[:19], (delta.days * 86400 + delta.seconds) * 1_000_000)
    return (cached[1] + us) / 1_000_000


_actor_json: dict[Actor, bytes] = {}


def _actor_bytes(actor: Actor) -> bytes:
    """An actor's JSON, kept per actor: a console appends as the same few actors all day."""
    try:
        cached = _actor_json.get(actor)
    except TypeError:  # a field that is not hashable (only from a hand-edited log)
        return orjson.dumps(actor.to_json())
    if cached is None:
        cached = orjson.dumps(actor.to_json())
        if len(_actor_json) < 256:
            _actor_json[actor] = cached
    return cached


_HEAD = b'{"v":' + str(SCHEMA_VERSION).encode() + b',"seq":'
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_kind_json: dict[str, bytes] = {}


def encode(seq: int, ts: float, actor: Actor, kind: str, data: dict[str, Any], prev: str) -> tuple[bytes, str]:
    """The line (with newline) for a new event, and its hash.

    The body is byte for byte orjson.dumps({"v", "seq", "ts", "actor", "kind",
    "data", "prev"}) (tests hold it to that), assembled from parts so only
    `data` is serialised per event: the actor's and kind's JSON are kept, and
    `prev` is a hex digest that needs no escaping.
    """
    kind_json = _kind_json.get(kind) if isinstance(kind, str) else None
    if kind_json is None:
        kind_json = orjson.dumps(kind)
        if len(_kind_json) < 256:
            _kind_json[kind] = kind_json
    prev_json = b'"' + prev.encode() + b'"' if len(prev) == 64 and prev.isalnum() else orjson.dumps(prev)
    body = b"".join(
        (
            _HEAD,
            b"%d" % seq,
            b',"ts":"',
            iso(ts).encode(),
            b'","actor":',
            _actor_bytes(actor),
            b',"kind":',
            kind_json,
            b',"data":',
            orjson.dumps(data, option=_NUMPY),
            b',"prev":',
            prev_json,
        )
    )
    digest = hashlib.sha256(body + b"}").hexdigest()
    return b"".join((body, b',"hash":"', digest.encode(), b'"}\n')), digest


class BadLine(ValueError):
    """A line that is not a well-formed, self-consistent event."""


def decode(line: bytes) -> Event:
    """Parse one line (without newline) and check its own hash."""
    if len(line) <= _HASH_SUFFIX_LEN or not line.endswith(b'"}'):
        raise BadLine("not an event line")
    body = line[:-_HASH_SUFFIX_LEN] + b"}"
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise BadLine(f"not JSON: {e}") from None
    if not isinstance(d, dict):
        raise BadLine("not an object")
    h = d.get("hash")
    if not isinstance(h, str) or line[-_HASH_SUFFIX_LEN:] != b',"hash":"' + h.encode() + b'"}':
        raise BadLine("hash is not the last field")
    if hashlib.sha256(body).hexdigest() != h:
        raise BadLine("hash does not match content")
    try:
        _v, _seq = int(d["v"]), int(d["seq"])  # read first, as they always were: a line bad twice says the same
        return event_of(d, h, parse_iso(d["ts"]))
    except (KeyError, TypeError, ValueError) as e:
        raise BadLine(f"missing or bad field: {e}") from None


def event_of(d: dict[str, Any], h: str, ts: float) -> Event:
    """The Event of a line's parsed, verified object (its hash `h`, its time `ts` read already): the one place a
    line's fields become an Event's. Raises KeyError/TypeError/ValueError for a field it cannot use."""
    return Event(  # positional: a frozen dataclass takes keywords at twice the cost, on every line of the log
        int(d["v"]),
        int(d["seq"]),
        ts,
        _actor(d["actor"]),
        str(d["kind"]),
        d["data"] if isinstance(d["data"], dict) else {},
        str(d["prev"]),
        h,
    )
