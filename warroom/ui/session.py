"""The console's facts that are not drawing: who may do what, where the log lives, optional parts.

No Textual here, so the rules about roles and observers are testable on their own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import yaml

from warroom.config import Launch, Role
from warroom.events import Actor
from warroom.paths import data_dir, default_log_path

__all__ = ["Permissions", "data_dir", "default_log_path", "permissions"]


@dataclass(frozen=True)
class Permissions:
    """What this console's actor may do; an observer may do nothing."""

    roles: tuple[Role, ...]
    observer: bool
    why: str = ""  # why this console is an observer

    @property
    def signing_roles(self) -> list[Role]:
        return [r for r in self.roles if r.signoff != "none"]

    @property
    def commander(self) -> bool:
        return any(r.commander for r in self.roles)

    def may_set_triggers(self, launch: Launch) -> bool:
        allowed = set(launch.rollback.allowed_roles)
        return not self.observer and (self.commander or any(r.id in allowed for r in self.roles))


def permissions(launch: Launch, actor: Actor, mode: str) -> Permissions:
    roles = tuple(launch.roles_of(actor.name or actor.user))
    if mode == "replay":
        return Permissions(roles, True, "replay")
    if mode == "observer":
        return Permissions(roles, True, "--observer")
    if not roles:
        who = actor.name or actor.user
        return Permissions(roles, True, f"'{who}' has no role in this launch; use --as NAME")
    return Permissions(roles, False)



def config_text(launch: Launch) -> str:
    """The launch as YAML, for binding a log when the original file text is not at hand."""
    return yaml.safe_dump(launch.model_dump(mode="json", by_alias=True, exclude_defaults=True), sort_keys=False)


def optional(module: str) -> tuple[Any | None, str]:
    """Import a part another slice provides; (module, "") or (None, why) when it is not there yet."""
    try:
        return importlib.import_module(module), ""
    except ModuleNotFoundError as e:
        if e.name == module:
            return None, f"{module} is not installed in this build"
        return None, f"{module} cannot load: {e}"
    except Exception as e:  # a half-written module must not take the console down
        return None, f"{module} cannot load: {type(e).__name__}: {e}"


def fallback_plan(launch: Launch, dry_run: bool) -> list[str]:
    """What the rollback would run, from the config, when warroom.rollback cannot say it itself."""
    rb = launch.rollback
    lines = []
    for i, s in enumerate(rb.steps, 1):
        cmd = f"sh -c {s.shell!r}" if s.shell is not None else " ".join(s.run or [])
        lines.append(f"{i}. {s.name}: {cmd}  (timeout {s.timeout:g}s{', cwd ' + s.cwd if s.cwd else ''})")
    if not lines:
        lines.append("(no steps configured)")
    if rb.verify:
        what = f"criterion {rb.verify.criterion}" if rb.verify.criterion else " ".join(rb.verify.run or [])
        lines.append(f"verify: {what} within {rb.verify.within:g}s")
    if dry_run or rb.dry_run:
        lines.append("dry run: nothing is executed")
    return lines
