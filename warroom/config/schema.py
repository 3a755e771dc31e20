"""The launch definition: the pydantic models of a launch config, strict and frozen.

Loading (config/loader.py), the line map (lines.py), hints (hints.py) and the
cross-checks pydantic cannot see (checks.py) live beside it; add a key by adding a
field here (its own checks go in a model validator or a module of their own).
"""

import re
from datetime import date, datetime
from functools import cached_property
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from warroom.core.units import Threshold, parse_duration, parse_threshold

Duration = Annotated[float, BeforeValidator(parse_duration)]
Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]


class Model(BaseModel):
    """Every model's schema is built when it first validates, not at import: a console started from the
    validated-config cache (config/cache.py) never builds one (building them all took ~130 ms)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, defer_build=True)


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
    ack_silence: Duration | None = None  # acknowledging one of its alerts creates a silence this long


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


# --------------------------------------------------------------------------- notifications

RouteName = Literal["verdict", "breach", "alert", "rollback", "signoff", "decision", "phase", "status", "completion"]
NOTIFY_ROUTES: tuple[str, ...] = get_args(RouteName)
# PagerDuty gets what opens and closes an incident; a verdict or a sign-off is no page
PAGERDUTY_ROUTES = frozenset({"breach", "alert", "rollback"})
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


def _one_secret(env: str | None, file: str | None, what: str) -> None:
    if bool(env) == bool(file):
        raise ValueError(f"give exactly one of {what}_env or {what}_file (the value is a secret: never in the config)")


class SlackChannel(Model):
    """A Slack incoming webhook; its URL is a secret, read from an environment variable or a file."""

    type: Literal["slack"]
    url_env: str | None = None
    url_file: str | None = None

    @model_validator(mode="after")
    def _secret(self) -> Self:
        _one_secret(self.url_env, self.url_file, "url")
        return self


class PagerDutyChannel(Model):
    """PagerDuty Events API v2; the routing key is the secret (the endpoint is public)."""

    type: Literal["pagerduty"]
    routing_key_env: str | None = None
    routing_key_file: str | None = None
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] = PAGERDUTY_URL

    @model_validator(mode="after")
    def _secret(self) -> Self:
        _one_secret(self.routing_key_env, self.routing_key_file, "routing_key")
        return self


class WebhookChannel(Model):
    """Our own JSON, signed with HMAC-SHA256; URL and signing secret from environment variables or files."""

    type: Literal["webhook"]
    url_env: str | None = None
    url_file: str | None = None
    secret_env: str | None = None
    secret_file: str | None = None

    @model_validator(mode="after")
    def _secret(self) -> Self:
        _one_secret(self.url_env, self.url_file, "url")
        _one_secret(self.secret_env, self.secret_file, "secret")
        return self


Channel = Annotated[SlackChannel | PagerDutyChannel | WebhookChannel, Field(discriminator="type")]


class NotifyRoute(Model):
    """What goes where: these kinds of change to these channels."""

    channels: list[Ident]
    events: list[RouteName]


class Notify(Model):
    channels: dict[Ident, Channel] = {}
    routes: list[NotifyRoute] = []
    status_every: Duration | None = None  # a periodic status update ("progress report") at this cadence
    give_up_after: Duration = 600.0  # a delivery still failing after this long is recorded as given up
    timeout: Duration = 10.0  # one HTTP request

    @model_validator(mode="after")
    def _routes(self) -> Self:
        for i, r in enumerate(self.routes):
            for ch in r.channels:
                cfg = self.channels.get(ch)
                if cfg is None:
                    known = ", ".join(self.channels) or "none defined"
                    raise ValueError(f"routes[{i}] names channel '{ch}', which is not in notify.channels ({known})")
                if isinstance(cfg, PagerDutyChannel):
                    bad = [e for e in r.events if e not in PAGERDUTY_ROUTES]
                    if bad:
                        raise ValueError(
                            f"routes[{i}] sends {', '.join(bad)} to PagerDuty channel '{ch}': PagerDuty takes only "
                            f"{', '.join(sorted(PAGERDUTY_ROUTES))} (what opens and closes an incident)"
                        )
        if "status" in {e for r in self.routes for e in r.events} and self.status_every is None:
            raise ValueError("a route sends 'status' but notify.status_every is not set (e.g. status_every: 30m)")
        return self

    def channels_for(self, what: str) -> list[str]:
        """Channels a change of this kind goes to, in config order, each once."""
        out: list[str] = []
        for r in self.routes:
            if what in r.events:
                out += [c for c in r.channels if c not in out]
        return out


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


class LogStore(Model):
    """Where the decision log lives for a team on several hosts (docs/store.md); the password from the
    environment or a file, never here (a URL holding one is refused)."""

    url: Annotated[str, Field(pattern=r"^postgres(ql)?://\S+$")]
    password_env: str | None = None
    password_file: str | None = None

    @field_validator("url")
    @classmethod
    def _no_password(cls, v: str) -> str:
        from urllib.parse import urlsplit

        if urlsplit(v).password is not None:
            raise ValueError("holds a password: use password_env or password_file (or ~/.pgpass)")
        return v


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
    rollback: Rollback = Field(default_factory=Rollback)
    success_metrics: list[SuccessMetric] = []
    store: LogStore | None = None
    # Trust (docs/trust.md): roles match accounts unless `claimed`; signatures with ssh-keygen -Y.
    identity: Literal["accounts", "claimed"] = "accounts"
    authority: Authority = Field(default_factory=Authority)
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
    def _signers_given(self) -> Self:
        """Signatures need the allowed_signers file that says whose key is whose."""
        if self.signatures != "off" and not self.allowed_signers:
            raise ValueError(
                f"signatures: {self.signatures} needs allowed_signers: the file (ssh-keygen ALLOWED SIGNERS format) "
                "that maps each account to its public key"
            )
        return self

    notify: Notify = Field(default_factory=Notify)

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


def launch_offset(launch: Launch, when: datetime | float) -> float:
    """Seconds from T-0 (negative before)."""
    ts = when.timestamp() if isinstance(when, datetime) else when
    return ts - launch.t0
