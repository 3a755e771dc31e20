"""The launch config: its schema, the YAML loader with its line map, hints and cross-checks.

Everything else imports the config from here, never from the modules inside, so the
package can be rearranged freely. It imports only the core's units and text.

Inside: schema (the pydantic models), loader (load_launch, parse_launch: size caps,
YAML syntax), cache (load_launch_cached: the validated launch kept per user, keyed by the
file's bytes and the validating code), lines (the YAML path -> line map), hints (what to do about each
error), checks (cross-checks pydantic cannot see, launch_warnings), errors
(ConfigProblem, ConfigError).
"""

from warroom.config.cache import (
    cache_root as cache_root,
)
from warroom.config.cache import (
    load_launch_cached as load_launch_cached,
)
from warroom.config.cache import (
    parse_launch_cached as parse_launch_cached,
)
from warroom.config.checks import (
    launch_warnings as launch_warnings,
)
from warroom.config.errors import (
    ConfigError as ConfigError,
)
from warroom.config.errors import (
    ConfigProblem as ConfigProblem,
)
from warroom.config.hints import (
    FALLBACK_HINT as FALLBACK_HINT,
)
from warroom.config.lines import (
    MAX_NODES as MAX_NODES,
)
from warroom.config.loader import (
    MAX_CONFIG_BYTES as MAX_CONFIG_BYTES,
)
from warroom.config.loader import (
    load_launch as load_launch,
)
from warroom.config.loader import (
    parse_launch as parse_launch,
)
from warroom.config.schema import (
    HOST_QUERIES as HOST_QUERIES,
)
from warroom.config.schema import (
    HTTP_QUERY_RE as HTTP_QUERY_RE,
)
from warroom.config.schema import (
    NOTIFY_ROUTES as NOTIFY_ROUTES,
)
from warroom.config.schema import (
    PAGERDUTY_URL as PAGERDUTY_URL,
)
from warroom.config.schema import (
    PRIMARY as PRIMARY,
)
from warroom.config.schema import (
    UNSAFE_ENV as UNSAFE_ENV,
)
from warroom.config.schema import (
    UNSAFE_ENV_PREFIXES as UNSAFE_ENV_PREFIXES,
)
from warroom.config.schema import (
    AlertmanagerSource as AlertmanagerSource,
)
from warroom.config.schema import (
    Auth as Auth,
)
from warroom.config.schema import (
    Authority as Authority,
)
from warroom.config.schema import (
    Channel as Channel,
)
from warroom.config.schema import (
    Criterion as Criterion,
)
from warroom.config.schema import (
    HostSource as HostSource,
)
from warroom.config.schema import (
    HttpSource as HttpSource,
)
from warroom.config.schema import (
    Item as Item,
)
from warroom.config.schema import (
    Launch as Launch,
)
from warroom.config.schema import (
    LaunchInfo as LaunchInfo,
)
from warroom.config.schema import (
    Notify as Notify,
)
from warroom.config.schema import (
    NotifyRoute as NotifyRoute,
)
from warroom.config.schema import (
    PagerDutyChannel as PagerDutyChannel,
)
from warroom.config.schema import (
    Phase as Phase,
)
from warroom.config.schema import (
    ProcedureParam as ProcedureParam,
)
from warroom.config.schema import (
    PrometheusSource as PrometheusSource,
)
from warroom.config.schema import (
    Role as Role,
)
from warroom.config.schema import (
    Rollback as Rollback,
)
from warroom.config.schema import (
    RollbackProcedure as RollbackProcedure,
)
from warroom.config.schema import (
    RollbackStep as RollbackStep,
)
from warroom.config.schema import (
    RollbackVerify as RollbackVerify,
)
from warroom.config.schema import (
    RunbookStage as RunbookStage,
)
from warroom.config.schema import (
    Section as Section,
)
from warroom.config.schema import (
    SimAlert as SimAlert,
)
from warroom.config.schema import (
    SimSignal as SimSignal,
)
from warroom.config.schema import (
    SimStep as SimStep,
)
from warroom.config.schema import (
    SimulatedSource as SimulatedSource,
)
from warroom.config.schema import (
    SlackChannel as SlackChannel,
)
from warroom.config.schema import (
    Source as Source,
)
from warroom.config.schema import (
    SuccessMetric as SuccessMetric,
)
from warroom.config.schema import (
    Trigger as Trigger,
)
from warroom.config.schema import (
    WebhookChannel as WebhookChannel,
)
from warroom.config.schema import (
    launch_offset as launch_offset,
)
