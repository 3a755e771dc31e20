"""The launch definition: schema, loader, and file:line error messages.

Pydantic does the type checking (strict, unknown keys forbidden); we keep a
map from each YAML path to its line so every problem names file, line and
field, and we add the cross-references pydantic cannot see (owners that are
roles, criteria that name a source, thresholds in the criterion's unit).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from warroom.core.units import UNIT_FORMS, UNITS, Threshold, parse_duration, parse_moment, parse_threshold

Duration = Annotated[float, BeforeValidator(parse_duration)]
Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


# --------------------------------------------------------------------------- roles


class Role(Model):
    """A launch role; `members` are the accounts that hold it (and, with `identity: claimed`, `--as` names)."""

    id: Ident
    title: str
    members: list[str] = []
    signoff: Literal["required", "optional", "none"] = "none"
    commander: bool = False
    duties: list[str] = []


# --------------------------------------------------------------------------- checklist


class Item(Model):
    id: Ident
    text: str
    owner: Ident | None = None
    critical: bool = False
    criterion: Ident | None = None
    details: list[str] = []


class Section(Model):
    """Items under one heading; `group` is the heading above it where a seed nests two levels."""

    name: str
    group: str | None = None
    items: list[Item]


class Phase(Model):
    """A stretch of the launch starting `at` seconds from T-0 (negative before)."""

    id: Ident
    name: str
    at: Duration
    sections: list[Section] = []


# --------------------------------------------------------------------------- sources


class Auth(Model):
    """Credentials come from the environment or a file, never from the config itself."""

    bearer_env: str | None = None
    bearer_file: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None


class _Remote(Model):
    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    auth: Auth | None = None
    timeout: Duration = 5.0
    interval: Duration = 15.0
    tls_verify: bool = True
    ca_file: str | None = None


class PrometheusSource(_Remote):
    type: Literal["prometheus"]


class AlertmanagerSource(_Remote):
    type: Literal["alertmanager"]
    matchers: list[str] = []
    prometheus: Ident | None = None  # the Prometheus whose ALERTS series holds these alerts' history (backfill)


class HttpSource(_Remote):
    type: Literal["http"]
    method: Literal["GET", "HEAD", "POST"] = "GET"
    headers: dict[str, str] = {}


class HostSource(Model):
    type: Literal["host"]
    interval: Duration = 5.0
    timeout: Duration = 2.0
    disk_path: str = "/"


class SimStep(Model):
    """From `at` (after the scenario starts) for `for`, the signal reads `value`, no data, or fails."""

    at: Duration
    for_: Annotated[Duration | None, Field(alias="for")] = None
    value: float | None = None
    ramp_to: float | None = None
    no_data: bool = False
    error: str | None = None


class SimSignal(Model):
    base: float
    noise: float = 0.0
    drift: float = 0.0
    steps: list[SimStep] = []


class SimAlert(Model):
    at: Duration
    for_: Annotated[Duration | None, Field(alias="for")] = None
    labels: dict[str, str]
    annotations: dict[str, str] = {}


class SimulatedSource(Model):
    type: Literal["simulated"]
    seed: int = 0
    interval: Duration = 5.0
    timeout: Duration = 1.0
    signals: dict[str, SimSignal] = {}
    alerts: list[SimAlert] = []


Source = Annotated[
    PrometheusSource | AlertmanagerSource | HttpSource | HostSource | SimulatedSource,
    Field(discriminator="type"),
]

HOST_QUERIES = ("cpu", "memory", "disk", "load1", "load5", "load15")
HTTP_QUERY_RE = re.compile(r"^(status|latency|up|json:[A-Za-z0-9_.\[\]-]+)$")


# --------------------------------------------------------------------------- criteria


class Trigger(Model):
    """An auto-rollback trigger: `when` is the breaching condition (e.g. '< 99.5%')."""

    when: str
    hold: Duration | None = None
    samples: int = Field(default=1, ge=1)
    mode: Literal["off", "recommend", "auto"] = "recommend"


class Criterion(Model):
    """A go/no-go criterion: one query on one source, judged against `go`."""

    id: Ident
    name: str
    source: Ident
    query: str
    unit: str = ""
    go: str
    shown_as: str | None = None
    warn: str | None = None
    clear: str | None = None
    trigger: Trigger | None = None
    breach_samples: int = Field(default=1, ge=1)
    breach_hold: Duration | None = None
    clear_samples: int = Field(default=1, ge=1)
    stale_after: Duration | None = None
    no_data: Literal["unknown", "go", "nogo"] = "unknown"
    required: bool = True
    interval: Duration | None = None
    path: str | None = None
    description: str | None = None

    @cached_property
    def go_threshold(self) -> Threshold:
        return parse_threshold(self.go, self.unit)

    @cached_property
    def warn_threshold(self) -> Threshold | None:
        return parse_threshold(self.warn, self.unit) if self.warn else None

    @cached_property
    def clear_threshold(self) -> Threshold | None:
        return parse_threshold(self.clear, self.unit) if self.clear else None

    @cached_property
    def trigger_threshold(self) -> Threshold | None:
        return parse_threshold(self.trigger.when, self.unit) if self.trigger else None

    @cached_property
    def thresholds(self) -> tuple[Threshold, ...]:
        """go, warn, trigger and clear thresholds that are set; parsed once, read for every sample."""
        return tuple(
            t
            for t in (self.go_threshold, self.warn_threshold, self.trigger_threshold, self.clear_threshold)
            if t is not None
        )

    @cached_property
    def fixed_bounds(self) -> tuple[float, ...] | None:
        """The numbers the thresholds compare against, when none is relative to a baseline."""
        return None if self.baseline_offset is not None else tuple(t.value for t in self.thresholds)

    @cached_property
    def baseline_offset(self) -> float | None:
        """Seconds from T-0 at which the baseline is taken, if any threshold is relative to one."""
        return next((t.relative_to for t in self.thresholds if t.relative_to is not None), None)

    @property
    def threshold_text(self) -> str:
        return self.shown_as or self.go


# --------------------------------------------------------------------------- rollback


class RollbackStep(Model):
    """One command: `run` is an argv list run without a shell; `shell` only where a step says so."""

    name: str
    run: list[str] | None = None
    shell: str | None = None
    timeout: Duration = 300.0
    cwd: str | None = None
    env: dict[str, str] = {}


class RollbackVerify(Model):
    criterion: Ident | None = None
    run: list[str] | None = None
    within: Duration = 300.0


class RunbookStage(Model):
    """Human steps of the procedure (assess, decide, communicate), shown beside the commands."""

    name: str
    within: str | None = None
    actions: list[str]


PRIMARY = "primary"  # the id of the procedure in `rollback.steps`
ParamName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=64)]
# Environment names a value must never set: they change what runs, not what it is given.
UNSAFE_ENV = frozenset({"PATH", "IFS", "ENV", "BASH_ENV", "SHELLOPTS", "HOME", "PWD", "CDPATH", "PS4"})
UNSAFE_ENV_PREFIXES = ("LD_", "DYLD_", "PYTHON", "PERL5", "RUBY", "NODE_", "GIT_")


class ProcedureParam(Model):
    """A value a procedure asks for before it runs; allowed by a full-match `pattern` and/or `choices_command`.

    It reaches the steps only as the environment variable `name` and as an
    argv entry written exactly `${NAME}`: never spliced into a shell string.
    """

    name: ParamName
    description: str | None = None
    pattern: str | None = None
    choices_command: list[str] | None = None  # argv (no shell); each non-empty output line is an allowed value
    cwd: str | None = None
    timeout: Duration = 10.0


class RollbackProcedure(Model):
    """A named way back: `id` is what `--procedure` and the console choose; `description` says when to use it."""

    id: Ident
    description: str | None = None
    params: list[ProcedureParam] = []
    steps: list[RollbackStep]


class Rollback(Model):
    allowed_roles: list[Ident] = []
    auto_allowed: bool = False
    dry_run: bool = False
    cooldown: Duration = 1800.0
    steps: list[RollbackStep] = []
    alternatives: list[RollbackProcedure] = []
    verify: RollbackVerify | None = None
    runbook: list[RunbookStage] = []

    @cached_property
    def primary(self) -> RollbackProcedure:
        """`rollback.steps` as a procedure like the others (no values: auto-rollback can ask nobody)."""
        return RollbackProcedure(id=PRIMARY, description="the primary procedure (rollback.steps)", steps=self.steps)

    @cached_property
    def procedures(self) -> dict[str, RollbackProcedure]:
        """Every procedure by id, the primary first."""
        return {PRIMARY: self.primary} | {p.id: p for p in self.alternatives}


# --------------------------------------------------------------------------- success metrics


class SuccessMetric(Model):
    id: Ident
    name: str
    target: str
    unit: str = ""
    check: Literal["hourly", "daily", "weekly", "once"] = "daily"
    criterion: Ident | None = None
    source: Ident | None = None
    query: str | None = None
    window: Duration = 604800.0

    @cached_property
    def target_threshold(self) -> Threshold:
        return parse_threshold(self.target, self.unit)


# --------------------------------------------------------------------------- launch


def _t0_form(value: Any) -> Any:
    """Refuse epoch numbers and bare dates: pydantic would read 1.5 as 1970 and a date as midnight."""
    if isinstance(value, bool | int | float):
        raise ValueError(f"T-0 must be a date and time with its zone, not the number {value!r}")
    if isinstance(value, date) and not isinstance(value, datetime):
        raise ValueError(f"T-0 {value.isoformat()} has no time of day and no zone")
    return value


class LaunchInfo(Model):
    id: Ident
    name: str
    t0: Annotated[AwareDatetime, BeforeValidator(_t0_form)]
    description: str | None = None
    links: dict[str, str] = {}


class Authority(Model):
    """Who may do what beyond the roles' own duties (warroom.core.authority applies it, in the fold).

    `ticks`: `owner` lets the item's owner role (or anyone with a role, for an item without owner) and the
    commander tick; `any-role` lets anyone with a role. `acks` and `trigger_modes` list the roles that may;
    unset, acks take any role and trigger modes the commander or a role in `rollback.allowed_roles`."""

    ticks: Literal["owner", "any-role"] = "owner"
    acks: list[Ident] | None = None
    trigger_modes: list[Ident] | None = None


class Launch(Model):
    """The whole launch definition; immutable once loaded."""

    version: Literal[1] = 1
    launch: LaunchInfo
    roles: list[Role]
    phases: list[Phase]
    sources: dict[Ident, Source] = {}
    criteria: list[Criterion] = []
    rollback: Rollback = Rollback()
    success_metrics: list[SuccessMetric] = []
    # Trust (docs/trust.md): roles match accounts unless `claimed`; signatures with ssh-keygen -Y.
    identity: Literal["accounts", "claimed"] = "accounts"
    authority: Authority = Authority()
    signatures: Literal["off", "optional", "required"] = "off"
    allowed_signers: str | None = None

    @field_validator("authority")
    @classmethod
    def _authority_roles(cls, v: Authority, info: ValidationInfo) -> Authority:
        """Authority names roles that exist (the roles are validated first: they come before it)."""
        ids = {r.id for r in info.data.get("roles") or []}
        for key in ("acks", "trigger_modes"):
            for r in getattr(v, key) or []:
                if r not in ids:
                    raise ValueError(f"authority.{key}: no role {r!r} in roles (roles: {', '.join(sorted(ids))})")
        return v

    @model_validator(mode="after")
    def _signers_given(self) -> Launch:
        """Signatures need the allowed_signers file that says whose key is whose."""
        if self.signatures != "off" and not self.allowed_signers:
            raise ValueError(
                f"signatures: {self.signatures} needs allowed_signers: the file (ssh-keygen ALLOWED SIGNERS format) "
                "that maps each account to its public key"
            )
        return self

    @property
    def id(self) -> str:
        return self.launch.id

    @property
    def name(self) -> str:
        return self.launch.name

    @cached_property
    def t0(self) -> float:
        return self.launch.t0.timestamp()

    @cached_property
    def criteria_by_id(self) -> dict[str, Criterion]:
        return {c.id: c for c in self.criteria}

    @cached_property
    def roles_by_id(self) -> dict[str, Role]:
        return {r.id: r for r in self.roles}

    @cached_property
    def items(self) -> list[tuple[Phase, Section, Item]]:
        return [(p, s, i) for p in self.phases for s in p.sections for i in s.items]

    @cached_property
    def items_by_id(self) -> dict[str, tuple[Phase, Section, Item]]:
        return {i.id: (p, s, i) for p, s, i in self.items}

    @cached_property
    def required_signoffs(self) -> list[Role]:
        return [r for r in self.roles if r.signoff == "required"]

    def phase_at(self, offset: float) -> Phase | None:
        """The phase in force `offset` seconds from T-0 (None before the first)."""
        current = None
        for p in self.phases:
            if p.at <= offset:
                current = p
        return current

    def roles_of(self, name: str) -> list[Role]:
        """Roles whose members list `name` (case-insensitive; matches user or display name)."""
        n = name.strip().lower()
        return [r for r in self.roles if any(m.strip().lower() == n for m in r.members)]


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class ConfigError(Exception):
    """Every problem found in one config file; str() is what the user sees."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# A file whose anchors and aliases expand past this many values is refused
# before validation: a few lines of aliases can otherwise stand for billions.
MAX_NODES = 200_000
MAX_CONFIG_BYTES = 4 << 20  # a launch config is a few KB; 4 MB is far beyond any real one (a 50 MB file took 38 s)

_MODELS: tuple[type[BaseModel], ...] = (
    Role,
    Item,
    Section,
    Phase,
    Auth,
    PrometheusSource,
    AlertmanagerSource,
    HttpSource,
    HostSource,
    SimStep,
    SimSignal,
    SimAlert,
    SimulatedSource,
    Trigger,
    Criterion,
    RollbackStep,
    ProcedureParam,
    RollbackProcedure,
    RollbackVerify,
    RunbookStage,
    Rollback,
    SuccessMetric,
    LaunchInfo,
    Launch,
)
_ALL_FIELDS: set[str] = {f.alias or n for m in _MODELS for n, f in m.model_fields.items()}


class _Lines:
    """YAML path -> line number, built from the composed node tree.

    Walks iteratively (no recursion limit), stops at MAX_NODES visits (aliases
    are followed, so an alias bomb stops here too) and notes an alias that
    contains itself.
    """

    def __init__(self, root: yaml.Node | None):
        self.map: dict[tuple[Any, ...], int] = {}
        self.duplicates: list[tuple[tuple[Any, ...], int]] = []
        self.too_big = False
        self.cycle_line: int | None = None
        if root is not None:
            self._walk(root)

    def _walk(self, root: yaml.Node) -> None:
        stack: list[tuple[yaml.Node, tuple[Any, ...], frozenset[int]]] = [(root, (), frozenset())]
        visits = 0
        while stack:
            node, path, above = stack.pop()
            visits += 1
            if visits > MAX_NODES:
                self.too_big = True
                return
            line = node.start_mark.line + 1
            self.map.setdefault(path, line)
            if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
                continue
            if id(node) in above:
                self.cycle_line = self.cycle_line or line
                continue
            inner = above | {id(node)}
            children: list[tuple[yaml.Node, tuple[Any, ...]]] = []
            if isinstance(node, yaml.MappingNode):
                seen: set[Any] = set()
                for k, v in node.value:
                    key = k.value if isinstance(k, yaml.ScalarNode) else f"<{k.tag}>"
                    if key in seen:
                        self.duplicates.append((path + (key,), k.start_mark.line + 1))
                    seen.add(key)
                    self.map[path + (key,)] = k.start_mark.line + 1
                    children.append((v, path + (key,)))
            else:
                children = [(v, path + (i,)) for i, v in enumerate(node.value)]
            stack.extend((child, cpath, inner) for child, cpath in reversed(children))

    def line(self, loc: Iterable[Any]) -> tuple[int | None, tuple[Any, ...]]:
        """Line of the deepest known prefix of `loc`, skipping union tags pydantic inserts."""
        path: tuple[Any, ...] = ()
        for part in loc:
            for key in (part, _as_index(part), str(part)):
                if key is not None and path + (key,) in self.map:
                    path = path + (key,)
                    break
        return self.map.get(path), path


def _as_index(part: Any) -> int | None:
    return int(part) if isinstance(part, str) and part.isascii() and part.isdigit() else None


def _field_name(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


# --------------------------------------------------------------------------- hints


def _unwrap(tp: Any, node: Any) -> Any:
    """The model behind Annotated/Optional/union wrappers; a tagged union picks by the node's `type`."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, UnionType):
            models = [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
            if not models:
                return None
            if len(models) == 1:
                return models[0]
            want = node.get("type") if isinstance(node, dict) else None
            for m in models:
                if get_args(m.model_fields["type"].annotation) == (want,):
                    return m
            return None
        else:
            return tp


def _keys_at(path: tuple[Any, ...], data: Any) -> list[str] | None:
    """The keys the schema accepts in the mapping at `path`, or None when that cannot be told."""
    tp = _model_at(path, data)
    return [f.alias or n for n, f in tp.model_fields.items()] if tp is not None else None


def _model_at(path: tuple[Any, ...], data: Any) -> type[BaseModel] | None:
    """The schema model of the mapping at `path`, or None when that cannot be told."""
    tp: Any = Launch
    node = data
    for part in path:
        tp = _unwrap(tp, node)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return None
        try:
            node = node[part] if isinstance(node, dict | list) else None
        except (KeyError, IndexError, TypeError):
            node = None
    tp = _unwrap(tp, node)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    return None


_THRESHOLD_WORDS = ("threshold", "thresholds", "limit", "target", "condition", "bound", "max", "min", "goal")
_GO_WARN_CLEAR = (
    "a criterion's thresholds are 'go:' (what must hold for GO, e.g. go: '< 1%'), 'warn:' (the warning band"
    " inside GO) and 'clear:' (what ends a breach); did you mean go, warn or clear?"
)
# What a key that is not in the schema most likely meant, by model: (words it resembles, the hint).
_MEANINGS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "Criterion": (
        (_THRESHOLD_WORDS + ("go_when", "pass", "ok"), _GO_WARN_CLEAR),
        (("warning", "warn_at", "alert"), "the warning band is 'warn:', e.g. warn: '< 0.5%'"),
        (("rollback", "auto_rollback", "rollback_when", "abort"), "a rollback condition is 'trigger: {when: ...}'"),
        (("every", "period", "frequency", "poll", "poll_interval"), "how often to poll is 'interval:', e.g. 30s"),
        (("max_age", "stale", "staleness", "ttl"), "how old a value may get is 'stale_after:', e.g. 2m"),
        (("mandatory", "blocking", "critical", "optional"), "'required: false' makes a criterion advisory"),
    ),
    "Trigger": (
        (_THRESHOLD_WORDS + ("condition", "if", "breach"), "a trigger's condition is 'when:', e.g. when: '> 5%'"),
        (("for", "duration", "hold_for", "sustained"), "how long the breach must last is 'hold:', e.g. 2m"),
    ),
    "SuccessMetric": ((_THRESHOLD_WORDS, "a success metric's goal is 'target:'"),),
    "SimSignal": ((("value", "level", "mean", "start", "initial"), "a simulated signal's value is 'base:'"),),
}


def _meaning_hint(model: type[BaseModel] | None, key: str) -> str:
    """A hint from what the key means, when it resembles a word for something the schema calls otherwise."""
    if model is None:
        return ""
    k = key.lower().replace("-", "_")
    parts = [k, *(p for p in k.split("_") if len(p) > 2)]  # 'poll_every' means what 'every' means
    for words, hint in _MEANINGS.get(model.__name__, ()):
        if any(p in words or difflib.get_close_matches(p, words, n=1, cutoff=0.75) for p in parts):
            return hint
    return ""


_TYPE_HINTS = {
    "string_type": "write it as text; quote it if YAML reads it as a number, date, list or true/false",
    "int_type": "give a whole number",
    "int_parsing": "give a whole number",
    "int_from_float": "give a whole number",
    "float_type": "give a number",
    "float_parsing": "give a number",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "list_type": "give a list: [a, b] or one '- item' per line",
    "dict_type": "give a mapping: one 'key: value' per line",
    "model_type": "give a mapping: one 'key: value' per line",
    "model_attributes_type": "give a mapping: one 'key: value' per line",
    "literal_error": "use one of the values listed",
    "union_tag_invalid": "type is one of: prometheus, alertmanager, http, host, simulated",
    "union_tag_not_found": "add 'type:' (prometheus, alertmanager, http, host or simulated)",
    "too_long": "shorten it",
    "too_short": "it must not be empty",
    "invalid_key": "keys are text; quote the key",
}
_T0_HINT = "give T-0 with its zone, e.g. 2025-03-01T14:00:00Z or 2025-03-01T15:00:00+01:00"
_DURATION_FIELDS = {
    "at",
    "for",
    "timeout",
    "interval",
    "hold",
    "breach_hold",
    "stale_after",
    "cooldown",
    "within",
    "window",
}
FALLBACK_HINT = "see configs/demo.yaml for a complete, valid example"


def _hint_for(err: ErrorDetails, path: tuple[Any, ...], data: Any) -> str:
    kind = err["type"]
    last = path[-1] if path else ""
    if kind == "extra_forbidden":
        keys = _keys_at(path[:-1], data)
        choices = sorted(keys) if keys is not None else sorted(_ALL_FIELDS - {str(last)})
        near = difflib.get_close_matches(str(last), choices, n=1, cutoff=0.85)  # a plain typo of a real key
        if near:
            return f"did you mean '{near[0]}'?"
        meant = _meaning_hint(_model_at(path[:-1], data), str(last))  # a word for something named otherwise
        if meant:
            return meant
        close = difflib.get_close_matches(str(last), choices, n=1, cutoff=0.6)
        if close:
            return f"did you mean '{close[0]}'?"
        if keys is not None:
            return "keys allowed here: " + ", ".join(keys)
        return "remove it; unknown keys are not ignored"
    if kind == "missing":
        return f"add '{last}:' here"
    if kind == "string_pattern_mismatch":
        if last == "url":
            return "use a full http:// or https:// address"
        return "ids are lower-case letters, digits, '-', '_' or '.' (at most 64)"
    if last == "t0":
        return _T0_HINT
    if kind in ("greater_than_equal", "greater_than") and err.get("ctx"):
        limit = next(iter(err["ctx"].values()))
        return f"use a number {'>=' if kind == 'greater_than_equal' else '>'} {limit}"
    if kind == "value_error" and last in _DURATION_FIELDS:
        return "e.g. 30s, 5m, 2h, 7d; offsets before T-0 are negative: -24h"
    return _TYPE_HINTS.get(kind, FALLBACK_HINT)


def _message(err: ErrorDetails) -> str:
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}'"
    if err["type"] == "union_tag_invalid":
        return f"unknown source type '{err.get('ctx', {}).get('tag', '?')}'"
    return msg


# --------------------------------------------------------------------------- loading


def load_launch(path: str | Path) -> Launch:
    """Load and validate one launch file; raise ConfigError listing every problem found."""
    p = Path(path)
    name = str(path)
    try:
        with open(p, "rb") as f:  # read no more than the cap allows: the file may be huge, or endless (a FIFO)
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError([_too_big(name)])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, None, "", "file not found", "check the path")]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            [ConfigProblem(name, None, "", f"not UTF-8 text ({e.reason} at byte {e.start})", "save the file as UTF-8")]
        ) from None
    except OSError as e:
        raise ConfigError(
            [
                ConfigProblem(
                    name, None, "", f"cannot read file: {e.strerror or e}", "check the path and its permissions"
                )
            ]
        ) from None
    return parse_launch(text, name)


def _too_big(name: str) -> ConfigProblem:
    return ConfigProblem(
        name,
        None,
        "",
        f"the file is larger than {MAX_CONFIG_BYTES >> 20} MB, the most a launch config may be",
        "a launch config is a few KB of YAML; is this the right file?",
    )


def _long_number_line(node: yaml.Node | None) -> int | None:
    """The line of an integer literal too long for Python to convert (its limit is 4,300 digits)."""
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.ScalarNode):
            if n.tag == "tag:yaml.org,2002:int" and len(n.value) > 4000:
                return n.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.extend((k, v))
    return None


def parse_launch(text: str, name: str = "<config>") -> Launch:
    """Validate a launch from YAML text; `name` is the file name used in messages."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError([_too_big(name)])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        raise ConfigError([_syntax_problem(e, text, name)]) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, max(e.position, 0)) + 1
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    line,
                    _path_near(text, line),
                    f"character {_char_name(e.character)} is not allowed in YAML",
                    "remove it; control characters cannot appear in YAML (write them as \\x.. inside double quotes)",
                )
            ]
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError([ConfigProblem(name, None, "", f"YAML error: {e}", "check the file is YAML")]) from None
    except RecursionError:
        raise ConfigError(
            [
                ConfigProblem(
                    name, None, "", "YAML nested too deeply", "a launch needs a few levels of nesting, not hundreds"
                )
            ]
        ) from None
    lines = _Lines(node)
    if lines.too_big:
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    None,
                    "",
                    f"the file expands to more than {MAX_NODES:,} values",
                    "anchors and aliases (&x, *x) multiply; use fewer of them",
                )
            ]
        )
    if lines.cycle_line:
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    lines.cycle_line,
                    "",
                    "an alias refers to a value that contains it",
                    "a launch is a tree; copy the value instead of aliasing it inside itself",
                )
            ]
        )
    try:
        # build the values from the node tree already composed (what safe_load would do, without parsing twice)
        data = yaml.SafeLoader("").construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    mark.line + 1 if mark else None,
                    "",
                    f"YAML: {e.problem or e}",
                    "keys must be plain text, values plain YAML (no !!python tags)",
                )
            ]
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as e:
        long_at = _long_number_line(node)
        if long_at is not None:
            raise ConfigError(
                [
                    ConfigProblem(
                        name,
                        long_at,
                        _path_near(text, long_at),
                        "an integer with thousands of digits",
                        "no setting needs a number that long; check this value",
                    )
                ]
            ) from None
        raise ConfigError([ConfigProblem(name, None, "", f"YAML error: {e}", "check the file is YAML")]) from None
    problems: list[ConfigProblem] = []
    for path, line in lines.duplicates:
        problems.append(ConfigProblem(name, line, _field_name(path), "key given twice", "keep one of them"))
    if not isinstance(data, dict):
        problems.append(
            ConfigProblem(
                name,
                1,
                "",
                "a launch file is a mapping with keys launch, roles, phases, ...",
                "see configs/demo.yaml for a complete example",
            )
        )
        raise ConfigError(problems)
    launch: Launch | None = None
    try:
        launch = Launch.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = err["loc"]
            if err["type"] == "union_tag_invalid":
                loc = loc + ("type",)  # point at the `type:` line, not the source's name
            err_line, _ = lines.line(loc)
            path = _strip_tags(loc, lines)
            problems.append(ConfigProblem(name, err_line, _field_name(path), _message(err), _hint_for(err, path, data)))
    # Cross-references are checked on the raw data so they are reported
    # alongside type errors, not one round of fixes later.
    problems.extend(_cross_check(data, lines, name))
    if problems or launch is None:
        problems = _dedupe(problems) or [ConfigProblem(name, None, "", "invalid launch", FALLBACK_HINT)]
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0))
    return launch


def _char_name(c: Any) -> str:
    code = c if isinstance(c, int) else ord(c) if isinstance(c, str) and len(c) == 1 else None
    return f"U+{code:04X}" if code is not None else repr(c)


def _syntax_problem(e: yaml.MarkedYAMLError, text: str, name: str) -> ConfigProblem:
    """A YAML syntax error with its line, the field around it, and where an unclosed bracket opened."""
    mark = e.problem_mark or e.context_mark
    line = mark.line + 1 if mark else None
    message = f"YAML syntax: {e.problem or e}"
    ctx = e.context_mark
    if e.context and ctx is not None and ctx.line + 1 != line:
        message += f" ({e.context} that starts on line {ctx.line + 1})"
    anchor = ctx.line + 1 if ctx is not None and e.context and "flow" in e.context else line
    return ConfigProblem(
        name,
        line,
        _path_near(text, anchor) if anchor else "",
        message,
        "check indentation (spaces, not tabs), colons, brackets and quoting near this line",
    )


_KEY_LINE = re.compile(r"^(?P<dash>-\s+)?(?P<key>[A-Za-z_][\w.-]*)\s*:(\s|$)")


def _path_near(text: str, line: int) -> str:
    """The field a broken line sits in, guessed from indentation (the YAML cannot be parsed)."""
    stack: list[tuple[int, Any]] = []
    lines = text.splitlines()[:line]
    for n, raw in enumerate(lines, 1):
        body = raw.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        if body.startswith("\t"):
            if stack and isinstance(stack[-1][1], str):
                stack.pop()  # a tab-indented line: name what holds it, not its neighbour
            break
        indent = len(raw) - len(body)
        if body.startswith("-"):
            previous = -1
            while stack and (stack[-1][0] > indent or (stack[-1][0] == indent and isinstance(stack[-1][1], int))):
                top = stack.pop()
                if top[0] == indent and isinstance(top[1], int):
                    previous = top[1]
            stack.append((indent, previous + 1))
            body = body[1:].lstrip(" ")
            indent = len(raw) - len(body)
        else:
            while stack and stack[-1][0] >= indent:
                stack.pop()
        m = _KEY_LINE.match(body)
        if m and (n < len(lines) or not body.startswith("{")):
            stack.append((indent, m.group("key")))
    return _field_name(part for _i, part in stack)


_TAG_RE = re.compile(r"^(function-|json-or-python|lax-or-strict|nullable|constrained-|tagged-union|union)|\[")
_SOURCE_TAGS = {"prometheus", "alertmanager", "http", "host", "simulated", "str", "int", "float", "bool"}


def _strip_tags(loc: tuple[Any, ...], lines: _Lines) -> tuple[Any, ...]:
    """Drop the tags pydantic puts in `loc` ('sources.prom.prometheus.url', 'for.function-before[...]')."""
    out: list[Any] = []
    for i, part in enumerate(loc):
        if (
            i > 0
            and isinstance(part, str)
            and (tuple(out) + (part,)) not in lines.map
            and (part in _SOURCE_TAGS or _TAG_RE.search(part))
        ):
            continue
        out.append(part)
    return tuple(out)


def _dedupe(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in problems:
        key = (p.line, p.field, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# --------------------------------------------------------------------------- cross-checks on raw data


def _seq(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _map(x: Any) -> dict[Any, Any]:
    return x if isinstance(x, dict) else {}


def _ids(entries: Any) -> tuple[list[tuple[int, str]], bool]:
    """(index, id) of each entry that has a text id, and whether every entry had one."""
    out = [(i, e["id"]) for i, e in enumerate(_seq(entries)) if isinstance(e, dict) and isinstance(e.get("id"), str)]
    return out, isinstance(entries, list) and len(out) == len(entries)


def _cross_check(data: dict[Any, Any], lines: _Lines, name: str) -> list[ConfigProblem]:
    """What pydantic cannot see: unique ids, references, thresholds in their unit, phase order.

    Works on the raw YAML data and skips whatever has the wrong shape (pydantic
    reports that), so it never fails and never double-reports a type error.
    A reference is only checked against a collection whose every entry has an id.
    """
    problems: list[ConfigProblem] = []

    def bad(path: tuple[Any, ...], message: str, hint: str) -> None:
        problems.append(ConfigProblem(name, lines.line(path)[0], _field_name(path), message, hint))

    def unique(kind: str, ids: list[tuple[int, str]], base: tuple[Any, ...]) -> set[str]:
        seen: set[str] = set()
        for i, x in ids:
            if x in seen:
                bad(base + (i, "id"), f"{kind} id '{x}' is used twice", "ids must be unique; rename one of them")
            seen.add(x)
        return seen

    def ref(path: tuple[Any, ...], value: Any, kind: str, known: set[str] | None) -> None:
        if known is not None and isinstance(value, str) and value not in known:
            bad(path, f"{kind} '{value}' is not defined", _suggest(value, known))

    role_list, roles_ok = _ids(data.get("roles"))
    roles = unique("role", role_list, ("roles",)) if roles_ok else None
    crit_list, crits_ok = _ids(data.get("criteria"))
    crits = unique("criterion", crit_list, ("criteria",)) if crits_ok else None
    unique("phase", _ids(data.get("phases"))[0], ("phases",))
    unique("success metric", _ids(data.get("success_metrics"))[0], ("success_metrics",))
    raw_sources = data.get("sources", {})
    sources = {str(k) for k in raw_sources} if isinstance(raw_sources, dict) else None

    if isinstance(data.get("phases"), list) and not data["phases"]:
        bad(("phases",), "a launch needs at least one phase", "add e.g. pre-launch, T-1h, T-0")
    seen_items: set[str] = set()
    prev_at: float | None = None
    for pi, ph in enumerate(_seq(data.get("phases"))):
        ph = _map(ph)
        at = _duration_or_none(ph.get("at"))
        if at is not None:
            if prev_at is not None and at < prev_at:
                bad(
                    ("phases", pi, "at"),
                    f"phase '{ph.get('id')}' starts before the phase above it",
                    "list phases in time order",
                )
            prev_at = at
        for si, sec in enumerate(_seq(ph.get("sections"))):
            for ii, item in enumerate(_seq(_map(sec).get("items"))):
                if not isinstance(item, dict):
                    continue
                base: tuple[Any, ...] = ("phases", pi, "sections", si, "items", ii)
                iid = item.get("id")
                if isinstance(iid, str):
                    if iid in seen_items:
                        bad(
                            base + ("id",),
                            f"checklist item id '{iid}' is used twice",
                            "ids must be unique across the whole checklist",
                        )
                    seen_items.add(iid)
                if item.get("owner") is not None:
                    ref(base + ("owner",), item.get("owner"), "owner role", roles)
                if item.get("criterion") is not None:
                    ref(base + ("criterion",), item.get("criterion"), "criterion", crits)

    for ci, c in enumerate(_seq(data.get("criteria"))):
        if isinstance(c, dict):
            _check_criterion(c, ("criteria", ci), _map(raw_sources), sources, bad)

    rb = _map(data.get("rollback"))
    for i, r in enumerate(_seq(rb.get("allowed_roles"))):
        ref(("rollback", "allowed_roles", i), r, "role", roles)
    step_lists: list[tuple[tuple[Any, ...], Any, set[str]]] = [(("rollback", "steps"), rb.get("steps"), set())]
    for ai, alt in enumerate(_seq(rb.get("alternatives"))):
        step_lists += _check_procedure(
            _map(alt) if isinstance(alt, dict) else alt, ("rollback", "alternatives", ai), bad
        )
    unique("rollback procedure", _ids(rb.get("alternatives"))[0], ("rollback", "alternatives"))
    for path, steps, params in step_lists:
        for si, step in enumerate(_seq(steps)):
            if not isinstance(step, dict):
                continue
            for ri, arg in enumerate(_seq(step.get("run"))):
                _check_placeholder(arg, path + (si, "run", ri), params, bad)
            run, shell = step.get("run"), step.get("shell")
            if (run is None) == (shell is None):
                bad(
                    path + (si,),
                    f"step '{step.get('name', si + 1)}' needs exactly one of 'run' (argv list) or 'shell'",
                    "prefer run: [kubectl, rollout, undo, deployment/app]",
                )
            elif isinstance(run, list) and not run:
                bad(path + (si, "run"), "empty argv", "give the program and its arguments as a list")
    verify = rb.get("verify")
    if isinstance(verify, dict):
        if (verify.get("criterion") is None) == (verify.get("run") is None):
            bad(
                ("rollback", "verify"),
                "verify needs exactly one of 'criterion' or 'run'",
                "e.g. criterion: error-rate, or run: [./smoke-test.sh]",
            )
        else:
            ref(("rollback", "verify", "criterion"), verify.get("criterion"), "criterion", crits)
    if rb.get("auto_allowed") is True and not _seq(rb.get("steps")):
        bad(
            ("rollback", "auto_allowed"),
            "auto-rollback is allowed but there are no steps to run",
            "add rollback.steps, or set auto_allowed: false",
        )

    for mi, m in enumerate(_seq(data.get("success_metrics"))):
        if not isinstance(m, dict):
            continue
        base = ("success_metrics", mi)
        unit = m.get("unit", "")
        if not isinstance(unit, str):
            continue
        if unit not in UNITS:
            bad(base + ("unit",), f"unknown unit '{unit}'", "use one of " + UNIT_FORMS)
        elif isinstance(m.get("target"), str):
            _check_threshold(bad, base + ("target",), m["target"], unit)
        if m.get("criterion") is not None:
            ref(base + ("criterion",), m.get("criterion"), "criterion", crits)
        if m.get("source") is not None:
            ref(base + ("source",), m.get("source"), "source", sources)
    return problems


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_procedure(alt: Any, base: tuple[Any, ...], bad: Any) -> list[tuple[tuple[Any, ...], Any, set[str]]]:
    """An alternative's id, params and steps; returns its step list with the param names its argv may use."""
    if isinstance(alt, list):
        bad(
            base,
            "an alternative is a named procedure now, not a bare list of steps",
            "write {id: docker, description: when to use it, steps: [...]}",
        )
        return []
    if not isinstance(alt, dict):
        return []
    if alt.get("id") == PRIMARY:
        bad(base + ("id",), f"'{PRIMARY}' is the procedure in rollback.steps", "give the alternative another id")
    names: set[str] = set()
    for pi, prm in enumerate(_seq(alt.get("params"))):
        if not isinstance(prm, dict):
            continue
        at = base + ("params", pi)
        name = prm.get("name")
        if isinstance(name, str):
            if name in names:
                bad(at + ("name",), f"param '{name}' is asked for twice", "each param once per procedure")
            names.add(name)
            if name in UNSAFE_ENV or name.startswith(UNSAFE_ENV_PREFIXES):
                bad(
                    at + ("name",),
                    f"param '{name}' would set an environment variable that changes what runs",
                    "name it for what it is, e.g. PREVIOUS_STABLE_VERSION",
                )
        if prm.get("pattern") is None and prm.get("choices_command") is None:
            bad(
                at,
                f"param '{name}' accepts anything: it needs a 'pattern' and/or a 'choices_command'",
                "e.g. pattern: 'v[0-9]+[.][0-9]+[.][0-9]+', or choices_command: [git, tag, --list, 'v*']",
            )
        pat = prm.get("pattern")
        if isinstance(pat, str):
            try:
                re.compile(pat)
            except re.error as e:
                bad(at + ("pattern",), f"not a regular expression: {e}", "the value must match it in full")
        cmd = prm.get("choices_command")
        if isinstance(cmd, list) and not cmd:
            bad(at + ("choices_command",), "empty argv", "give the program and its arguments as a list")
    if isinstance(alt.get("steps"), list) and not alt["steps"]:
        bad(base + ("steps",), f"procedure '{alt.get('id')}' has no steps", "give at least one step, or remove it")
    return [(base + ("steps",), alt.get("steps"), names)]


def _check_placeholder(arg: Any, path: tuple[Any, ...], params: set[str], bad: Any) -> None:
    """`${NAME}` is a whole argv entry naming a param of its procedure; anything else would splice a value."""
    if not isinstance(arg, str):
        return
    found = _PLACEHOLDER.findall(arg)
    if not found:
        return
    if _PLACEHOLDER.fullmatch(arg) is None:
        bad(path, f"'{arg}' puts a value inside a longer argument", "give ${NAME} as an argv entry of its own")
    elif found[0] not in params:
        known = ", ".join(sorted(params)) or "none"
        bad(path, f"'{arg}' names no param of this procedure (params: {known})", "add it under params:")


def _check_criterion(
    c: dict[Any, Any], base: tuple[Any, ...], raw_sources: dict[Any, Any], sources: set[str] | None, bad: Any
) -> None:
    unit = c.get("unit", "")
    if isinstance(unit, str):
        if unit not in UNITS:
            bad(base + ("unit",), f"unknown unit '{unit}'", "use one of " + UNIT_FORMS)
        else:
            parsed = {}
            for key in ("go", "warn", "clear"):
                if isinstance(c.get(key), str):
                    parsed[key] = _check_threshold(bad, base + (key,), c[key], unit)
            trig = c.get("trigger")
            if isinstance(trig, dict) and isinstance(trig.get("when"), str):
                parsed["trigger"] = _check_threshold(bad, base + ("trigger", "when"), trig["when"], unit)
            go, when = parsed.get("go"), parsed.get("trigger")
            if go is not None and when is not None:
                both = _both_hold(go, when)
                if both is not None:
                    bad(
                        base + ("trigger", "when"),
                        f"trigger '{when.text}' fires at {both:g} {unit}".rstrip() + f", where '{go.text}' is still GO",
                        "a rollback trigger must lie beyond the GO threshold, e.g. go '< 500ms', trigger '> 1s'",
                    )
    src_id = c.get("source")
    if not isinstance(src_id, str) or sources is None:
        return
    if src_id not in sources:
        bad(base + ("source",), f"source '{src_id}' is not defined", _suggest(src_id, sources))
        return
    src = _map(raw_sources.get(src_id))
    query = c.get("query")
    if not isinstance(query, str):
        return
    kind = src.get("type")
    if kind == "host" and query not in HOST_QUERIES:
        bad(base + ("query",), f"host query '{query}' is not known", "use one of " + ", ".join(HOST_QUERIES))
    elif kind == "http" and not HTTP_QUERY_RE.match(query):
        bad(
            base + ("query",),
            f"http query '{query}' is not known",
            "use 'status', 'latency', 'up' or 'json:<dotted.path>'",
        )
    elif kind == "simulated":
        signals = src.get("signals", {})
        if isinstance(signals, dict) and query not in signals:
            bad(
                base + ("query",),
                f"simulated source '{src_id}' has no signal '{query}'",
                _suggest(query, {str(s) for s in signals}),
            )


def _both_hold(a: Threshold, b: Threshold) -> float | None:
    """A value meeting both absolute thresholds, if there is one (relative ones are not compared)."""
    if a.relative_to is not None or b.relative_to is not None:
        return None
    eps = max(abs(a.value), abs(b.value), 1.0) * 1e-9
    for v in (a.value, b.value, (a.value + b.value) / 2, a.value - eps, a.value + eps, b.value - eps, b.value + eps):
        if a.holds(v) and b.holds(v):
            return v
    return None


def _duration_or_none(x: Any) -> float | None:
    try:
        return parse_duration(x)
    except ValueError:
        return None


def _check_threshold(bad: Any, path: tuple[Any, ...], text: str, unit: str) -> Threshold | None:
    try:
        t = parse_threshold(text, unit)
        if t.relative_to is not None:
            parse_moment(text.split(" of ", 1)[1])
    except ValueError as e:
        bad(path, str(e), "write the operator, the number and its unit, e.g. '>= 99.8%' or '< 500ms'")
        return None
    return t


def _suggest(value: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.5)
    if close:
        return f"did you mean '{close[0]}'?"
    if choices:
        return "defined: " + ", ".join(sorted(choices)[:12])
    return "none are defined"


def launch_warnings(launch: Launch) -> list[str]:
    """What a valid config lacks that a launch almost certainly needs (often a file cut short)."""
    out = []
    if not launch.criteria:
        out.append("no criteria: nothing is judged, so the console and 'check' never say GO; add 'criteria:' entries")
    elif not any(c.required for c in launch.criteria):
        out.append(
            f"no required criteria: all {len(launch.criteria)} are 'required: false' (advisory), so nothing is"
            " judged and nothing says GO; drop 'required: false' from the ones that gate the launch"
        )
    if not launch.rollback.steps:
        out.append("no rollback steps: there is no procedure to run if the launch goes wrong; add 'rollback: steps:'")
    if not launch.required_signoffs:
        out.append("no required sign-off: nobody has to sign off GO; give the accountable roles 'signoff: required'")
    return out


def launch_offset(launch: Launch, when: datetime | float) -> float:
    """Seconds from T-0 (negative before)."""
    ts = when.timestamp() if isinstance(when, datetime) else when
    return ts - launch.t0
