"""The console's facts that are not drawing: who may do what, where the log lives, optional parts.

No Textual here, so the rules about roles and observers are testable on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from warroom.config import Launch, Role
from warroom.core import authority
from warroom.core.events import Actor
from warroom.store.paths import data_dir, default_log_path

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
        allowed = set(authority.trigger_roles(launch))
        return not self.observer and any(r.id in allowed for r in self.roles)


def permissions(launch: Launch, actor: Actor, mode: str) -> Permissions:
    roles = tuple(authority.roles_of(launch, actor))
    if mode == "replay":
        return Permissions(roles, True, "replay")
    if mode == "observer":
        return Permissions(roles, True, "--observer")
    if not roles:
        if launch.identity == "claimed":
            who = actor.name or actor.user
            return Permissions(roles, True, f"'{who}' has no role in this launch; use --as NAME")
        named = f" ('{actor.name}' is only a display name here)" if actor.name else ""
        return Permissions(roles, True, f"account '{actor.user}' has no role in this launch{named}")
    return Permissions(roles, False)


def config_text(launch: Launch) -> str:
    """The launch as YAML, for binding a log when the original file text is not at hand."""
    import yaml  # rarely needed (a console is given its file's text): not imported before the first frame

    return yaml.safe_dump(launch.model_dump(mode="json", by_alias=True, exclude_defaults=True), sort_keys=False)
