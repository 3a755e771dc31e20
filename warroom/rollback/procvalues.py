"""Values a rollback procedure asks for: checked before anything runs, passed without a shell.

A value is allowed only if it matches its param's `pattern` in full and/or is
one of the lines its `choices_command` prints (run without a shell, with a
timeout; a listing that fails allows nothing: unknown is never "allowed").
It reaches the steps only as an environment variable of the param's name and
as an argv entry written exactly `${NAME}`, so a value such as `v1; rm -rf /`
is one literal argument, never shell text.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from warroom.config import ProcedureParam, RollbackProcedure, RollbackStep

SHELL = "/bin/sh"
MAX_CHOICES = 500  # lines of a choices command kept (the newest tags are what a commander needs)


@dataclass(frozen=True)
class Choices:
    """What a param's choices command allows: `values`, or None with `error` when it could not tell."""

    values: list[str] | None
    error: str = ""


def list_choices(param: ProcedureParam) -> Choices:
    """Run the param's choices command (argv, no shell, own session, timeout); its non-empty lines."""
    argv = param.choices_command
    if not argv:
        return Choices(None, "no choices_command")
    try:
        r = subprocess.run(
            argv,
            cwd=param.cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=param.timeout,
            start_new_session=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Choices(None, f"{' '.join(argv)} did not answer within {param.timeout:g}s")
    except (OSError, ValueError) as e:
        return Choices(None, f"could not run {argv[0]}: {getattr(e, 'strerror', None) or e}")
    if r.returncode != 0:
        tail = r.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {r.returncode}"]
        return Choices(None, f"{' '.join(argv)} failed: {tail[0]}")
    lines = [ln.strip() for ln in r.stdout.decode(errors="replace").splitlines() if ln.strip()]
    return Choices(lines[-MAX_CHOICES:])


def _control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def check_value(param: ProcedureParam, value: str, choices: Choices | None = None) -> str | None:
    """Why `value` is not allowed for `param`, or None if it is."""
    if not value:
        return f"{param.name} is empty"
    if _control(value):
        return f"{param.name} contains a control character (newline, tab, escape...)"
    if param.pattern is not None and re.fullmatch(param.pattern, value) is None:
        return f"{param.name}={value!r} does not match the pattern {param.pattern!r}"
    if param.choices_command:
        ch = choices if choices is not None else list_choices(param)
        if ch.values is None:
            return f"cannot tell whether {param.name}={value!r} is allowed: {ch.error}"
        if value not in ch.values:
            shown = ", ".join(ch.values[-10:]) or "none"
            return f"{param.name}={value!r} is not one of the allowed values (listed: {shown})"
    return None


def check_values(
    proc: RollbackProcedure, values: Mapping[str, str], listed: Mapping[str, Choices] | None = None
) -> str | None:
    """Why this set of values cannot run `proc` (unknown, missing or refused), or None if it can.

    `listed`: choices already listed per param (the console's dialog); the others are listed now."""
    known = {p.name for p in proc.params}
    extra = sorted(set(values) - known)
    if extra:
        asks = ", ".join(sorted(known)) or "no values"
        return f"procedure '{proc.id}' does not ask for {', '.join(extra)} (it asks for {asks})"
    missing = [p.name for p in proc.params if p.name not in values]
    if missing:
        return f"procedure '{proc.id}' needs {', '.join(missing)}: give --set {missing[0]}=VALUE"
    for p in proc.params:
        why = check_value(p, values[p.name], (listed or {}).get(p.name))
        if why is not None:
            return why
    return None


def step_argv(step: RollbackStep, values: Mapping[str, str] | None = None) -> list[str]:
    """The argv as configured, each whole `${NAME}` entry replaced by its value as one argument."""
    if step.run is None:
        return [SHELL, "-c", step.shell or ""]
    vals = values or {}
    out = []
    for arg in step.run:
        name = arg[2:-1] if arg.startswith("${") and arg.endswith("}") else None
        out.append(vals[name] if name is not None and name in vals else arg)
    return out


def step_env(step: RollbackStep, values: Mapping[str, str] | None = None) -> dict[str, str]:
    """The step's configured environment plus the procedure's values, each under its param's name."""
    return {**step.env, **(values or {})}
