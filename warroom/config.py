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
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from warroom.units import UNITS, Threshold, parse_duration, parse_moment, parse_threshold

Duration = Annotated[float, BeforeValidator(parse_duration)]
Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


# --------------------------------------------------------------------------- roles


class Role(Model):
    """A launch role; `members` are user names or `--as` names that act as it."""

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
    name: str
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


class Rollback(Model):
    allowed_roles: list[Ident] = []
    auto_allowed: bool = False
    dry_run: bool = False
    cooldown: Duration = 1800.0
    steps: list[RollbackStep] = []
    alternatives: list[list[RollbackStep]] = []
    verify: RollbackVerify | None = None
    runbook: list[RunbookStage] = []


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


class LaunchInfo(Model):
    id: Ident
    name: str
    t0: AwareDatetime
    description: str | None = None
    links: dict[str, str] = {}


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


_ALL_FIELDS: set[str] = set()


def _collect_fields(model: type[BaseModel]) -> None:
    for name, f in model.model_fields.items():
        _ALL_FIELDS.add(f.alias or name)


for _m in (Role, Item, Section, Phase, Auth, PrometheusSource, AlertmanagerSource, HttpSource, HostSource,
           SimStep, SimSignal, SimAlert, SimulatedSource, Trigger, Criterion, RollbackStep, RollbackVerify,
           RunbookStage, Rollback, SuccessMetric, LaunchInfo, Launch):
    _collect_fields(_m)


class _Lines:
    """YAML path -> line number, built from the composed node tree."""

    def __init__(self, root: yaml.Node | None):
        self.map: dict[tuple[Any, ...], int] = {}
        self.duplicates: list[tuple[tuple[Any, ...], int]] = []
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.map.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for k, v in node.value:
                key = k.value
                if key in seen:
                    self.duplicates.append((path + (key,), k.start_mark.line + 1))
                seen.add(key)
                self.map[path + (key,)] = k.start_mark.line + 1
                self._walk(v, path + (key,))
                self.map[path + (key,)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._walk(v, path + (i,))

    def line(self, loc: Iterable[Any]) -> tuple[int | None, tuple[Any, ...]]:
        """Line of the deepest known prefix of `loc`, skipping union tags pydantic inserts."""
        path: tuple[Any, ...] = ()
        for part in loc:
            key = part
            if isinstance(part, str) and part.isdigit() and (path + (int(part),)) in self.map:
                key = int(part)
            if path + (key,) in self.map:
                path = path + (key,)
        return self.map.get(path), path


def _field_name(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _hint_for(err: dict[str, Any]) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), sorted(_ALL_FIELDS), n=1, cutoff=0.6)
        return f"did you mean '{close[0]}'?" if close else "remove it; unknown keys are not ignored"
    if kind == "missing":
        return "add this key"
    if kind == "string_pattern_mismatch":
        if loc and loc[-1] == "url":
            return "use a full http:// or https:// address"
        return "ids are lower-case letters, digits, '-', '_' or '.'"
    if kind == "timezone_aware":
        return "give T-0 with its zone, e.g. 2025-03-01T14:00:00Z or 2025-03-01T15:00:00+01:00"
    if kind == "union_tag_invalid":
        return "type is one of: prometheus, alertmanager, http, host, simulated"
    if kind == "literal_error":
        return "use one of the values listed"
    return ""


def _message(err: dict[str, Any]) -> str:
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err["type"] == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}'"
    return msg


def load_launch(path: str | Path) -> Launch:
    """Load and validate one launch file; raise ConfigError listing every problem found."""
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, None, "", "file not found", "check the path")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([ConfigProblem(name, None, "", f"cannot read file: {e}")]) from None
    return parse_launch(text, name)


def parse_launch(text: str, name: str = "<config>") -> Launch:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError([ConfigProblem(name, line, "", f"YAML syntax: {e.problem or e}",
                                         "check indentation, colons and quoting near this line")]) from None
    except yaml.YAMLError as e:
        raise ConfigError([ConfigProblem(name, None, "", f"YAML error: {e}")]) from None
    except RecursionError:
        raise ConfigError([ConfigProblem(name, None, "", "YAML nested too deeply")]) from None
    lines = _Lines(node)
    problems: list[ConfigProblem] = []
    for path, line in lines.duplicates:
        problems.append(ConfigProblem(name, line, _field_name(path), "key given twice", "keep one of them"))
    if not isinstance(data, dict):
        problems.append(ConfigProblem(name, 1, "", "a launch file is a mapping with keys launch, roles, phases, ...",
                                      "see configs/demo.yaml for a complete example"))
        raise ConfigError(problems)
    try:
        launch = Launch.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            line, _ = lines.line(err["loc"])
            field = _field_name(_strip_tags(err["loc"], lines))
            problems.append(ConfigProblem(name, line, field, _message(err), _hint_for(err)))
        raise ConfigError(_dedupe(problems)) from None
    except (RecursionError, TypeError, ValueError) as e:
        problems.append(ConfigProblem(name, None, "", f"invalid structure: {e}"))
        raise ConfigError(problems) from None
    problems.extend(_cross_check(launch, lines, name))
    if problems:
        raise ConfigError(_dedupe(problems))
    return launch


def _strip_tags(loc: tuple[Any, ...], lines: _Lines) -> tuple[Any, ...]:
    """Drop the discriminator tags pydantic puts in `loc` ('sources.prom.prometheus.url')."""
    out: list[Any] = []
    tags = {"prometheus", "alertmanager", "http", "host", "simulated", "function-after", "str", "list[str]"}
    for i, part in enumerate(loc):
        if i > 0 and part in tags and (tuple(out) + (part,)) not in lines.map:
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


def _cross_check(launch: Launch, lines: _Lines, name: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def bad(path: tuple[Any, ...], message: str, hint: str = "") -> None:
        problems.append(ConfigProblem(name, lines.line(path)[0], _field_name(path), message, hint))

    def unique(kind: str, ids: list[str], base: tuple[Any, ...]) -> None:
        seen: set[str] = set()
        for i, x in enumerate(ids):
            if x in seen:
                bad(base + (i, "id"), f"{kind} id '{x}' is used twice", "ids must be unique")
            seen.add(x)

    role_ids = [r.id for r in launch.roles]
    unique("role", role_ids, ("roles",))
    unique("phase", [p.id for p in launch.phases], ("phases",))
    unique("criterion", [c.id for c in launch.criteria], ("criteria",))
    unique("success metric", [m.id for m in launch.success_metrics], ("success_metrics",))
    roles = set(role_ids)
    crits = {c.id: c for c in launch.criteria}
    seen_items: set[str] = set()
    prev_at = None
    for pi, ph in enumerate(launch.phases):
        if prev_at is not None and ph.at < prev_at:
            bad(("phases", pi, "at"), f"phase '{ph.id}' starts before the phase above it",
                "list phases in time order")
        prev_at = ph.at
        for si, sec in enumerate(ph.sections):
            for ii, item in enumerate(sec.items):
                base = ("phases", pi, "sections", si, "items", ii)
                if item.id in seen_items:
                    bad(base + ("id",), f"checklist item id '{item.id}' is used twice", "ids must be unique")
                seen_items.add(item.id)
                if item.owner and item.owner not in roles:
                    bad(base + ("owner",), f"owner '{item.owner}' is not a role", _suggest(item.owner, roles))
                if item.criterion and item.criterion not in crits:
                    bad(base + ("criterion",), f"criterion '{item.criterion}' is not defined",
                        _suggest(item.criterion, set(crits)))
    if not launch.phases:
        bad(("phases",), "a launch needs at least one phase", "add e.g. pre-launch, T-1h, T-0")

    for ci, c in enumerate(launch.criteria):
        base = ("criteria", ci)
        if c.unit not in UNITS:
            bad(base + ("unit",), f"unknown unit '{c.unit}'", "use one of " + ", ".join(u for u in UNITS if u))
            continue
        for key in ("go", "warn", "clear"):
            text = getattr(c, key)
            if text is not None:
                _check_threshold(bad, base + (key,), text, c.unit)
        if c.trigger:
            _check_threshold(bad, base + ("trigger", "when"), c.trigger.when, c.unit)
        src = launch.sources.get(c.source)
        if src is None:
            bad(base + ("source",), f"source '{c.source}' is not defined", _suggest(c.source, set(launch.sources)))
            continue
        if src.type == "host" and c.query not in HOST_QUERIES:
            bad(base + ("query",), f"host query '{c.query}' is not known", "use one of " + ", ".join(HOST_QUERIES))
        if src.type == "http" and not HTTP_QUERY_RE.match(c.query):
            bad(base + ("query",), f"http query '{c.query}' is not known",
                "use 'status', 'latency', 'up' or 'json:<dotted.path>'")
        if src.type == "simulated" and c.query not in src.signals:
            bad(base + ("query",), f"simulated source '{c.source}' has no signal '{c.query}'",
                _suggest(c.query, set(src.signals)))

    rb = launch.rollback
    for i, r in enumerate(rb.allowed_roles):
        if r not in roles:
            bad(("rollback", "allowed_roles", i), f"'{r}' is not a role", _suggest(r, roles))
    for path, steps in [(("rollback", "steps"), rb.steps)] + [
        (("rollback", "alternatives", ai), alt) for ai, alt in enumerate(rb.alternatives)
    ]:
        for si, step in enumerate(steps):
            if (step.run is None) == (step.shell is None):
                bad(path + (si,), f"step '{step.name}' needs exactly one of 'run' (argv list) or 'shell'",
                    "prefer run: [kubectl, rollout, undo, deployment/app]")
            elif step.run is not None and not step.run:
                bad(path + (si, "run"), "empty argv", "give the program and its arguments as a list")
    if rb.verify:
        if (rb.verify.criterion is None) == (rb.verify.run is None):
            bad(("rollback", "verify"), "verify needs exactly one of 'criterion' or 'run'")
        elif rb.verify.criterion and rb.verify.criterion not in crits:
            bad(("rollback", "verify", "criterion"), f"criterion '{rb.verify.criterion}' is not defined",
                _suggest(rb.verify.criterion, set(crits)))
    if rb.auto_allowed and not rb.steps:
        bad(("rollback", "auto_allowed"), "auto-rollback is allowed but there are no steps to run")

    for mi, m in enumerate(launch.success_metrics):
        base = ("success_metrics", mi)
        if m.unit not in UNITS:
            bad(base + ("unit",), f"unknown unit '{m.unit}'", "use one of " + ", ".join(u for u in UNITS if u))
            continue
        _check_threshold(bad, base + ("target",), m.target, m.unit)
        if m.criterion and m.criterion not in crits:
            bad(base + ("criterion",), f"criterion '{m.criterion}' is not defined", _suggest(m.criterion, set(crits)))
        if m.source and m.source not in launch.sources:
            bad(base + ("source",), f"source '{m.source}' is not defined", _suggest(m.source, set(launch.sources)))
    return problems


def _check_threshold(bad: Any, path: tuple[Any, ...], text: str, unit: str) -> None:
    try:
        t = parse_threshold(text, unit)
        if t.relative_to is not None:
            parse_moment(text.split(" of ", 1)[1])
    except ValueError as e:
        bad(path, str(e), "write the operator, the number and its unit, e.g. '>= 99.8%' or '< 500ms'")


def _suggest(value: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.5)
    if close:
        return f"did you mean '{close[0]}'?"
    if choices:
        return "defined: " + ", ".join(sorted(choices)[:12])
    return "none are defined"


def launch_offset(launch: Launch, when: datetime | float) -> float:
    """Seconds from T-0 (negative before)."""
    ts = when.timestamp() if isinstance(when, datetime) else when
    return ts - launch.t0
