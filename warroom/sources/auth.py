"""Credentials for remote sources, read from an environment variable or a file, never from the config."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path

from warroom.config import Auth


@dataclass(frozen=True)
class Credentials:
    headers: dict[str, str] = field(default_factory=dict)
    basic: tuple[str, str] | None = None
    problem: str | None = None  # why credentials could not be read; every read then fails with "auth"

    def basic_header(self) -> dict[str, str]:
        """The basic credentials as a header too, for clients that take headers only."""
        if self.basic is None:
            return dict(self.headers)
        token = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
        return {**self.headers, "Authorization": f"Basic {token}"}


def _secret(env: str | None, file: str | None, what: str) -> tuple[str | None, str | None]:
    if env:
        value = os.environ.get(env)
        if not value:
            return None, f"{what}: environment variable {env} is not set"
        return value.strip(), None
    if file:
        try:
            return Path(file).expanduser().read_text(encoding="utf-8").strip(), None
        except OSError as e:
            return None, f"{what}: cannot read {file}: {e.strerror or e}"
    return None, None


def resolve(auth: Auth | None) -> Credentials:
    """Credentials for `auth`; a missing variable or unreadable file is reported, not raised."""
    if auth is None:
        return Credentials()
    token, problem = _secret(auth.bearer_env, auth.bearer_file, "bearer token")
    if problem:
        return Credentials(problem=problem)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    basic = None
    if auth.username:
        password, problem = _secret(auth.password_env, auth.password_file, "password")
        if problem:
            return Credentials(problem=problem)
        basic = (auth.username, password or "")
    return Credentials(headers, basic)
