"""A channel's secrets (webhook URL, routing key, signing secret) from an environment variable or a file.

Never from the config, never written anywhere: a problem names the variable or file, not the value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from warroom.config import Channel, PagerDutyChannel, SlackChannel, WebhookChannel


class SecretMissing(Exception):
    """A secret could not be read; the message names where it was looked for."""


def read_secret(env: str | None, file: str | None, what: str) -> str:
    if env:
        value = os.environ.get(env, "").strip()
        if not value:
            raise SecretMissing(f"{what}: environment variable {env} is not set")
        return value
    if file:
        try:
            value = Path(file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SecretMissing(f"{what}: cannot read {file}: {e.strerror or e}") from None
        if not value:
            raise SecretMissing(f"{what}: {file} is empty")
        return value
    raise SecretMissing(f"{what}: neither an environment variable nor a file is configured")


@dataclass(frozen=True)
class Endpoint:
    """Where a channel posts and with what; `secrets` lists every value to scrub from any reason shown."""

    url: str
    routing_key: str = ""
    signing_secret: str = ""

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.url, self.routing_key, self.signing_secret) if s)


def endpoint(cfg: Channel) -> Endpoint:
    if isinstance(cfg, SlackChannel):
        return Endpoint(read_secret(cfg.url_env, cfg.url_file, "webhook URL"))
    if isinstance(cfg, PagerDutyChannel):
        return Endpoint(cfg.url, routing_key=read_secret(cfg.routing_key_env, cfg.routing_key_file, "routing key"))
    assert isinstance(cfg, WebhookChannel)
    return Endpoint(
        read_secret(cfg.url_env, cfg.url_file, "webhook URL"),
        signing_secret=read_secret(cfg.secret_env, cfg.secret_file, "signing secret"),
    )


def env_names(cfg: Channel) -> list[str]:
    """The environment variables a channel reads its secrets from (`serve` strips them from app processes)."""
    names = [getattr(cfg, a, None) for a in ("url_env", "routing_key_env", "secret_env")]
    return [n for n in names if n]


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret (and a URL's path, where the Slack token lives) replaced by a marker."""
    for s in secrets:
        if s:
            text = text.replace(s, "[secret]")
    return text
