"""What each event kind holds: one typed record per kind, the closed vocabularies as enums, one registry.

A line's `data` is whatever its writer (or a hand-edited shared log) put there, so each record's
`from_data` reads it once, at the log boundary, and turns every field it cannot use into a safe default,
the same default the fold has always used: no reader of a record re-checks types. A payload that cannot be
read at all becomes `Unreadable`, which the fold ignores and views can show. Writers build records and
write `to_data()`, whose keys and their order are what the writers have always written, so the bytes on
disk (and every hash) are unchanged; `data` stays on the event as the bytes' own text.

The enums are StrEnums: each member equals the string in the log, so old logs and the JSON stay as they are.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, NamedTuple


class Kind(StrEnum):
    LAUNCH = "launch"
    SESSION = "session"
    SAMPLE = "sample"
    ALERT = "alert"
    CHECK = "check"
    UNCHECK = "uncheck"
    SIGNOFF = "signoff"
    NOTE = "note"
    ACK = "ack"
    TRIGGER_MODE = "trigger_mode"
    ROLLBACK = "rollback"
    DECISION = "decision"
    RECORDER = "recorder"
    BACKFILL = "backfill"
    MEASUREMENT = "measurement"
    SOURCE = "source"
    TORN_RECOVERED = "torn_recovered"
    NOTIFY = "notify"
    SILENCE = "silence"


class Verdict(StrEnum):
    """A sign-off's or the final decision's verdict: anything but GO reads as NO-GO."""

    GO = "GO"
    NOGO = "NO-GO"


class TriggerMode(StrEnum):
    OFF = "off"
    RECOMMEND = "recommend"
    AUTO = "auto"


class RollbackPhase(StrEnum):
    """The stages a rollback run writes, in the order they happen (recommendation: a person's answer)."""

    REQUESTED = "requested"
    REFUSED = "refused"
    STARTED = "started"
    STEP_STARTED = "step_started"
    STEP_OUTPUT = "step_output"
    STEP_FINISHED = "step_finished"
    VERIFY = "verify"
    VERIFY_OUTPUT = "verify_output"
    FINISHED = "finished"
    RECOMMENDATION = "recommendation"


STEP_PHASES = (RollbackPhase.STEP_STARTED, RollbackPhase.STEP_OUTPUT, RollbackPhase.STEP_FINISHED)


class RollbackStatus(StrEnum):
    """Where the last rollback run is (the fold's view of it)."""

    IDLE = "idle"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class VerifyStatus(StrEnum):
    NONE = ""
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class ErrorKind(StrEnum):
    """Why a source gave no value (sources.base names the same strings)."""

    NO_DATA = "no-data"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP = "http"
    BAD_QUERY = "bad-query"
    BAD_RESPONSE = "bad-response"
    AUTH = "auth"


class RecorderState(StrEnum):
    ACQUIRED = "acquired"
    RELEASED = "released"
    WRITE_RECOVERED = "write_recovered"


class SessionState(StrEnum):
    OPENED = "opened"
    CLOSED = "closed"


# ---------------------------------------------------------------- coercion, once, at the boundary


def _text(x: Any, default: str = "") -> str:
    """A field shown as text: missing is `default`, anything else its str() (as an f-string showed it)."""
    return default if x is None else x if type(x) is str else str(x)


def _opt_text(x: Any) -> str | None:
    return None if x is None else x if type(x) is str else str(x)


def num(x: Any) -> float | None:
    """A finite number, or None: a time or a duration that cannot be used."""
    if type(x) is float:
        return x if math.isfinite(x) else None
    try:
        v = float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def value(x: Any) -> float | None:
    """A reading: any float (NaN and Inf included: they arrive as "NaN", "+Inf" from Prometheus), or None."""
    if type(x) is float:
        return x
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return None


def _int(x: Any) -> int | None:
    return x if type(x) is int else None


def _index(x: Any) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) else -1


def _strmap(x: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in x.items()} if isinstance(x, dict) else {}


def _lines(x: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in x) if isinstance(x, list) else ()


# ---------------------------------------------------------------- records


_new = tuple.__new__


class Launch(NamedTuple):
    """The launch this log is for: its id, name, config path, T-0 and the config text with its sha256."""

    id: str | None
    name: str
    path: str
    t0: Any  # as written; cli.py explains a T-0 that is not a number
    sha256: str
    config: str

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Launch:
        return cls(
            _opt_text(d.get("id")),
            _text(d.get("name")),
            _text(d.get("path")),
            d.get("t0"),
            _text(d.get("sha256")),
            _text(d.get("config")),
        )

    def to_data(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "path": self.path, "t0": self.t0, "sha256": self.sha256,
                "config": self.config}  # fmt: skip


class Session(NamedTuple):
    """A console opened or closed: its mode (live, observer, replay) and pid."""

    state: str = SessionState.OPENED
    mode: str | None = None
    pid: int | None = None

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Session:
        return cls(_text(d.get("state"), SessionState.OPENED), _opt_text(d.get("mode")), _int(d.get("pid")))

    def to_data(self) -> dict[str, Any]:
        return {"state": self.state, "mode": self.mode, "pid": self.pid}


class Sample(NamedTuple):
    """One reading of a criterion: a value, or an error kind and reason; t is the source's time, tick the slot.

    `baseline`: fetched for the baseline moment only; `backfilled`: written later from Prometheus history."""

    criterion: str
    value: float | None
    error: str | None
    reason: str
    t: float | None
    tick: int | None = None
    baseline: bool = False
    backfilled: bool = False
    query: str | None = None

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Sample:
        return read_sample(d)

    def to_data(self) -> dict[str, Any]:
        d: dict[str, Any] = {"criterion": self.criterion, "value": self.value, "error": self.error,
                             "reason": self.reason, "t": self.t}  # fmt: skip
        if self.tick is not None:
            d["tick"] = self.tick
        if self.baseline:
            d["baseline"] = True
        if self.backfilled:
            d["backfilled"] = True
            d["query"] = self.query
        return d


def read_sample(d: dict[str, Any]) -> Sample:
    """A sample's record: one pass of plain tests, the cheap case first (nearly every line of a long log)."""
    g = d.get
    c, v, e, r, t, tick = g("criterion"), g("value"), g("error"), g("reason"), g("t"), g("tick")
    b, bf, q = g("baseline"), g("backfilled"), g("query")
    return _new(  # tuple.__new__: a NamedTuple's own __new__ is one more Python call
        Sample,
        (
            c if type(c) is str else str(c),
            v if type(v) is float else value(v),
            e if e is None or type(e) is str else str(e),
            r if type(r) is str else str(r or ""),
            t if type(t) is float and _isfinite(t) else num(t),
            tick if type(tick) is int else None,
            b is True or (b is not None and bool(b)),
            bf is True,
            q if q is None or type(q) is str else str(q),
        ),
    )


_isfinite = math.isfinite

# A verified line as the log's readers yield it (store.log.iter_parsed): (offset past the line, seq, the line's
# object, hash, time); and a plain sample's fields as plain_sample reads them: (criterion, value, t, tick).
Parsed = tuple[int, int, dict[str, Any], str, float]
PlainSample = tuple[str, float, float, int]


def plain_sample(d: Any) -> PlainSample | None:
    """(criterion, value, t, tick) of a plain sample's data, read without a record: a float value, a finite float
    t, an int tick, and nothing else (or an `error` of null and a `reason` of "", as the recorder writes them).
    read_sample reads such data as Sample(criterion, value, None, "", t, tick) exactly; None for any other data,
    which read_sample reads. Nearly every line of a long log is one of these."""
    if type(d) is not dict:
        return None
    n = len(d)
    if n != 4 and (n != 6 or d.get("error", 0) is not None or d.get("reason") != ""):
        return None
    try:
        c, v, t, tick = d["criterion"], d["value"], d["t"], d["tick"]  # subscripts: cheaper than get() calls
    except KeyError:
        return None
    if type(c) is str and type(v) is float and type(t) is float and type(tick) is int and _isfinite(t):
        return c, v, t, tick
    return None


class Alert(NamedTuple):
    """An Alertmanager alert firing or resolved (status anything but "firing" resolves it)."""

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    source: str
    t: float | None
    starts_at: float | None
    backfilled: bool = False

    @property
    def firing(self) -> bool:
        return self.status == "firing"

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Alert:
        return cls(
            _text(d.get("fingerprint")),
            _text(d.get("status"), "firing"),
            _strmap(d.get("labels")),
            _strmap(d.get("annotations")),
            _text(d.get("source"), "alertmanager"),
            num(d.get("t")),
            num(d.get("starts_at")),
            d.get("backfilled") is True,
        )


class ItemMark(NamedTuple):
    """A checklist item checked or unchecked (the event's kind says which)."""

    item: str

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> ItemMark:
        return cls(str(d.get("item")))

    def to_data(self) -> dict[str, Any]:
        return {"item": self.item}


class Signoff(NamedTuple):
    """A role's GO or NO-GO, its reason, and the criteria's levels it saw (criterion id -> level)."""

    role: str
    verdict: Verdict
    reason: str
    snapshot: dict[str, str]

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Signoff:
        snap = d.get("snapshot")
        levels = (
            {str(k): str(v.get("level") if isinstance(v, dict) else v) for k, v in snap.items()}
            if isinstance(snap, dict)
            else {}
        )
        return cls(_text(d.get("role")), _verdict(d.get("verdict")), _text(d.get("reason")), levels)


class Decision(NamedTuple):
    """The commander's final GO or NO-GO and why."""

    verdict: Verdict
    reason: str

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Decision:
        return cls(_verdict(d.get("verdict")), _text(d.get("reason")))

    def to_data(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reason": self.reason}


def _verdict(x: Any) -> Verdict:
    return Verdict.GO if x == "GO" else Verdict.NOGO


class Note(NamedTuple):
    """Free text for the timeline."""

    text: str

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Note:
        return cls(_text(d.get("text")))

    def to_data(self) -> dict[str, Any]:
        return {"text": self.text}


class Ack(NamedTuple):
    """An alert acknowledged, by its key ("am:<fingerprint>", "criterion:<id>" or "rollback")."""

    alert: str

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Ack:
        return cls(_text(d.get("alert")))

    def to_data(self) -> dict[str, Any]:
        return {"alert": self.alert}


class TriggerModeSet(NamedTuple):
    """A criterion's rollback trigger switched off, to recommend, or to auto; mode None: not one of those."""

    criterion: str
    mode: TriggerMode | None

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> TriggerModeSet:
        m = d.get("mode")
        return cls(str(d.get("criterion")), TriggerMode(m) if m in _MODES else None)

    def to_data(self) -> dict[str, Any]:
        return {"criterion": self.criterion, "mode": self.mode}


_MODES = frozenset(TriggerMode)


class Rollback(NamedTuple):
    """One stage of a rollback run; which fields mean something depends on the phase (None: not a known one).

    The writer's evidence that no reader needs (triggering, plan, roles, argv of a step, ...) stays in `data`."""

    phase: RollbackPhase | None
    phase_text: str  # as written, for a phase this code does not know
    reason: str = ""
    has_reason: bool = False
    procedure: str = "primary"
    values: dict[str, str] = {}
    automatic: bool = False
    dry_run: bool = False
    criteria: dict[str, float | None] = {}  # an automatic request: criterion -> breach start it fired for
    steps: tuple[str, ...] = ()
    step_index: int = -1  # `index` in the log (a tuple already has an index())
    name: str = ""
    argv: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    exit_code: int | None = None
    status: str | None = None
    duration: float | None = None
    detail: str | None = None
    what: str | None = None
    ok: bool = False
    criterion: str | None = None
    choice: str | None = None
    since: float | None = None

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Rollback:
        p = d.get("phase")
        phase = RollbackPhase(p) if p in _PHASES else None
        crits = d.get("criteria")
        since = d.get("since")
        return cls(
            phase,
            _text(p),
            _text(d.get("reason")),
            bool(d.get("reason")),
            _text(d.get("procedure") or "primary"),
            _strmap(d.get("values")),
            bool(d.get("automatic")),
            bool(d.get("dry_run")),
            {str(k): value(v) for k, v in crits.items()} if isinstance(crits, dict) else {},
            _lines(d.get("steps")),
            _index(d.get("index")),
            _text(d.get("name")),
            _lines(d.get("argv")),
            _lines(d.get("lines")),
            _int(d.get("exit_code")),
            _opt_text(d.get("status")),
            value(d.get("duration")),
            _opt_text(d.get("detail")),
            _opt_text(d.get("what")),
            bool(d.get("ok")),
            _opt_text(d.get("criterion")),
            _opt_text(d.get("choice")),
            float(since) if isinstance(since, int | float) else None,
        )


_PHASES = frozenset(RollbackPhase)


class Recorder(NamedTuple):
    """A console took or gave up recording; write_recovered: writing works again after `lost` events failed."""

    state: str | None
    pid: int | None = None
    reason: str = ""
    lost: int = -1
    since: float | None = None

    def to_data(self) -> dict[str, Any]:
        if self.state == RecorderState.WRITE_RECOVERED:
            return {"state": self.state, "since": self.since, "reason": self.reason, "lost": self.lost}
        return {"state": self.state, "pid": self.pid}

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Recorder:
        return cls(
            _opt_text(d.get("state")), _int(d.get("pid")), _text(d.get("reason"), "?"), _index(d.get("lost")),
            num(d.get("since")),
        )  # fmt: skip


class Backfill(NamedTuple):
    """Points of one criterion read from Prometheus history: [tick, t, value | None, error, reason] each."""

    criterion: str | None
    source: str | None
    query: str | None
    interval: float | None
    step: float | None
    points: tuple[Any, ...]  # as written; core.backfilled reads each point

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Backfill:
        pts = d.get("points")
        return cls(
            _opt_text(d.get("criterion")), _opt_text(d.get("source")), _opt_text(d.get("query")),
            num(d.get("interval")), num(d.get("step")), tuple(pts) if isinstance(pts, list) else (),
        )  # fmt: skip


class Measurement(NamedTuple):
    """A success metric's value for a period: entered by hand (manual) or read from Prometheus."""

    metric: str | None
    value: Any  # as written; the report says when it is not a number
    period: str
    source: str
    link: str
    query: str

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Measurement:
        return cls(
            _opt_text(d.get("metric")), d.get("value"), _text(d.get("period") or ""),
            _text(d.get("source") or "manual"), _text(d.get("link") or ""), _text(d.get("query") or ""),
        )  # fmt: skip


class SourceHealth(NamedTuple):
    """A source's feed (readings or alerts) changed outcome: ok, or failing with an error kind and reason."""

    source: str
    feed: str
    ok: bool
    t: float | None
    error: str = ""
    reason: str = ""

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> SourceHealth:
        ok = d.get("ok") is True
        return cls(
            _text(d.get("source")),
            _text(d.get("feed"), "readings"),
            ok,
            num(d.get("t")),
            "" if ok else _text(d.get("error") or "error"),
            "" if ok else _text(d.get("reason")),
        )

    def to_data(self) -> dict[str, Any]:
        d: dict[str, Any] = {"source": self.source, "feed": self.feed, "ok": self.ok, "t": self.t}
        if not self.ok:
            d["error"], d["reason"] = self.error, self.reason
        return d


class TornRecovered(NamedTuple):
    """A torn last line (an interrupted write) cut off the log: its size and sha256, and where it was kept."""

    bytes: str
    sha256: str
    kept_in: str

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> TornRecovered:
        return cls(_text(d.get("bytes"), "?"), _text(d.get("sha256"), "?"), _text(d.get("kept_in"), "the .torn file"))


class Notify(NamedTuple):
    """A change queued (signal, value, what, text, channels) or a delivery (id, channel, attempt, result)."""

    signal: str | None
    what: str | None
    text: str | None
    channels: tuple[str, ...]
    id: str | None
    channel: str | None
    attempt: int | None
    result: str | None

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Notify:
        g = d.get
        return cls(
            _opt_text(g("signal")), _opt_text(g("what")), _opt_text(g("text")), _lines(g("channels")),
            _opt_text(g("id")), _opt_text(g("channel")), _int(g("attempt")), _opt_text(g("result")),
        )  # fmt: skip


class Silence(NamedTuple):
    """An Alertmanager silence created or expired for an ack: alert, silence id, state, by, error."""

    alert: str
    id: str | None
    state: str | None
    by: str | None
    why: str | None
    action: str | None
    error: str | None

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Silence:
        g = d.get
        return cls(
            _text(g("alert")), _opt_text(g("id")), _opt_text(g("state")), _opt_text(g("by")), _opt_text(g("why")),
            _opt_text(g("action")), _opt_text(g("error")),
        )  # fmt: skip


class Other(NamedTuple):
    """A kind this code does not know (a newer writer's): kept in the log and the timeline, not folded."""

    kind: str


class Unreadable(NamedTuple):
    """A payload its record could not be read from: kept as evidence, ignored by the fold."""

    kind: str
    reason: str


Payload = (
    Launch | Session | Sample | Alert | ItemMark | Signoff | Decision | Note | Ack | TriggerModeSet | Rollback
    | Recorder | Backfill | Measurement | SourceHealth | TornRecovered | Notify | Silence | Other | Unreadable
)  # fmt: skip

RECORDS: dict[str, Any] = {
    Kind.LAUNCH: Launch,
    Kind.SESSION: Session,
    Kind.SAMPLE: Sample,
    Kind.ALERT: Alert,
    Kind.CHECK: ItemMark,
    Kind.UNCHECK: ItemMark,
    Kind.SIGNOFF: Signoff,
    Kind.NOTE: Note,
    Kind.ACK: Ack,
    Kind.TRIGGER_MODE: TriggerModeSet,
    Kind.ROLLBACK: Rollback,
    Kind.DECISION: Decision,
    Kind.RECORDER: Recorder,
    Kind.BACKFILL: Backfill,
    Kind.MEASUREMENT: Measurement,
    Kind.SOURCE: SourceHealth,
    Kind.TORN_RECOVERED: TornRecovered,
    Kind.NOTIFY: Notify,
    Kind.SILENCE: Silence,
}
_FROM = {str(k): cls.from_data for k, cls in RECORDS.items()}


def payload_of(kind: str, data: dict[str, Any]) -> Payload:
    """The typed record of one event's data (a sample first: nearly every line of a long log is one)."""
    if kind == "sample":
        try:
            return read_sample(data)
        except Exception as e:  # a hostile field whose str() fails must not stop a read
            return Unreadable(kind, f"{type(e).__name__}: {e}")
    read = _FROM.get(kind)
    if read is None:
        return Other(kind)
    try:
        rec: Payload = read(data)
    except Exception as e:  # the same, for any other kind
        return Unreadable(kind, f"{type(e).__name__}: {e}")
    return rec
