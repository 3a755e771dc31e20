"""What to tell the user to do: a hint for each pydantic error, from the schema around the field."""

from __future__ import annotations

import difflib
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from warroom.config.schema import (
    AlertmanagerSource,
    Auth,
    Criterion,
    HostSource,
    HttpSource,
    Item,
    Launch,
    LaunchInfo,
    Phase,
    ProcedureParam,
    PrometheusSource,
    Role,
    Rollback,
    RollbackProcedure,
    RollbackStep,
    RollbackVerify,
    RunbookStage,
    Section,
    SimAlert,
    SimSignal,
    SimStep,
    SimulatedSource,
    SuccessMetric,
    Trigger,
)

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


def hint_for(err: ErrorDetails, path: tuple[Any, ...], data: Any) -> str:
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


def message(err: ErrorDetails) -> str:
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}'"
    if err["type"] == "union_tag_invalid":
        return f"unknown source type '{err.get('ctx', {}).get('tag', '?')}'"
    return msg
