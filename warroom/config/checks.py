"""What pydantic cannot see: unique ids, references, thresholds in their unit, phase order, safe params.

The cross-checks run on the raw YAML data, so they are reported alongside type errors;
`launch_warnings` looks at a valid launch for what it almost certainly lacks.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from warroom.config.errors import ConfigProblem
from warroom.config.lines import Lines, field_name
from warroom.config.schema import HOST_QUERIES, HTTP_QUERY_RE, PRIMARY, UNSAFE_ENV, UNSAFE_ENV_PREFIXES, Launch
from warroom.core.units import UNIT_FORMS, UNITS, Threshold, parse_duration, parse_moment, parse_threshold


def _seq(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _map(x: Any) -> dict[Any, Any]:
    return x if isinstance(x, dict) else {}


def _ids(entries: Any) -> tuple[list[tuple[int, str]], bool]:
    """(index, id) of each entry that has a text id, and whether every entry had one."""
    out = [(i, e["id"]) for i, e in enumerate(_seq(entries)) if isinstance(e, dict) and isinstance(e.get("id"), str)]
    return out, isinstance(entries, list) and len(out) == len(entries)


@dataclass
class _Found:
    """The problems found so far, each named by file, line and field."""

    lines: Lines
    name: str
    problems: list[ConfigProblem] = field(default_factory=list)

    def bad(self, path: tuple[Any, ...], message: str, hint: str) -> None:
        self.problems.append(ConfigProblem(self.name, self.lines.line(path)[0], field_name(path), message, hint))

    def unique(self, kind: str, ids: list[tuple[int, str]], base: tuple[Any, ...]) -> set[str]:
        seen: set[str] = set()
        for i, x in ids:
            if x in seen:
                self.bad(base + (i, "id"), f"{kind} id '{x}' is used twice", "ids must be unique; rename one of them")
            seen.add(x)
        return seen

    def ref(self, path: tuple[Any, ...], value: Any, kind: str, known: set[str] | None) -> None:
        if known is not None and isinstance(value, str) and value not in known:
            self.bad(path, f"{kind} '{value}' is not defined", _suggest(value, known))


def cross_check(data: dict[Any, Any], lines: Lines, name: str) -> list[ConfigProblem]:
    """What pydantic cannot see: unique ids, references, thresholds in their unit, phase order.

    Works on the raw YAML data and skips whatever has the wrong shape (pydantic
    reports that), so it never fails and never double-reports a type error.
    A reference is only checked against a collection whose every entry has an id.
    """
    f = _Found(lines, name)
    role_list, roles_ok = _ids(data.get("roles"))
    roles = f.unique("role", role_list, ("roles",)) if roles_ok else None
    crit_list, crits_ok = _ids(data.get("criteria"))
    crits = f.unique("criterion", crit_list, ("criteria",)) if crits_ok else None
    f.unique("phase", _ids(data.get("phases"))[0], ("phases",))
    f.unique("success metric", _ids(data.get("success_metrics"))[0], ("success_metrics",))
    raw_sources = data.get("sources", {})
    sources = {str(k) for k in raw_sources} if isinstance(raw_sources, dict) else None
    _check_phases(data, f, roles, crits)
    for ci, c in enumerate(_seq(data.get("criteria"))):
        if isinstance(c, dict):
            _check_criterion(c, ("criteria", ci), _map(raw_sources), sources, f.bad)
    _check_rollback(_map(data.get("rollback")), f, roles, crits)
    _check_metrics(data, f, crits, sources)
    return f.problems


def _check_phases(data: dict[Any, Any], f: _Found, roles: set[str] | None, crits: set[str] | None) -> None:
    """Phases in time order, checklist item ids unique across phases, owners and criteria that exist."""
    if isinstance(data.get("phases"), list) and not data["phases"]:
        f.bad(("phases",), "a launch needs at least one phase", "add e.g. pre-launch, T-1h, T-0")
    seen_items: set[str] = set()
    prev_at: float | None = None
    for pi, ph in enumerate(_seq(data.get("phases"))):
        ph = _map(ph)
        at = _duration_or_none(ph.get("at"))
        if at is not None:
            if prev_at is not None and at < prev_at:
                f.bad(
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
                        f.bad(
                            base + ("id",),
                            f"checklist item id '{iid}' is used twice",
                            "ids must be unique across the whole checklist",
                        )
                    seen_items.add(iid)
                if item.get("owner") is not None:
                    f.ref(base + ("owner",), item.get("owner"), "owner role", roles)
                if item.get("criterion") is not None:
                    f.ref(base + ("criterion",), item.get("criterion"), "criterion", crits)


def _check_rollback(rb: dict[Any, Any], f: _Found, roles: set[str] | None, crits: set[str] | None) -> None:
    """Roles that exist, procedures with safe params, steps with exactly one of run/shell, a verify that makes sense."""
    for i, r in enumerate(_seq(rb.get("allowed_roles"))):
        f.ref(("rollback", "allowed_roles", i), r, "role", roles)
    step_lists: list[tuple[tuple[Any, ...], Any, set[str]]] = [(("rollback", "steps"), rb.get("steps"), set())]
    for ai, alt in enumerate(_seq(rb.get("alternatives"))):
        step_lists += _check_procedure(
            _map(alt) if isinstance(alt, dict) else alt, ("rollback", "alternatives", ai), f.bad
        )
    f.unique("rollback procedure", _ids(rb.get("alternatives"))[0], ("rollback", "alternatives"))
    for path, steps, params in step_lists:
        for si, step in enumerate(_seq(steps)):
            if not isinstance(step, dict):
                continue
            for ri, arg in enumerate(_seq(step.get("run"))):
                _check_placeholder(arg, path + (si, "run", ri), params, f.bad)
            run, shell = step.get("run"), step.get("shell")
            if (run is None) == (shell is None):
                f.bad(
                    path + (si,),
                    f"step '{step.get('name', si + 1)}' needs exactly one of 'run' (argv list) or 'shell'",
                    "prefer run: [kubectl, rollout, undo, deployment/app]",
                )
            elif isinstance(run, list) and not run:
                f.bad(path + (si, "run"), "empty argv", "give the program and its arguments as a list")
    verify = rb.get("verify")
    if isinstance(verify, dict):
        if (verify.get("criterion") is None) == (verify.get("run") is None):
            f.bad(
                ("rollback", "verify"),
                "verify needs exactly one of 'criterion' or 'run'",
                "e.g. criterion: error-rate, or run: [./smoke-test.sh]",
            )
        else:
            f.ref(("rollback", "verify", "criterion"), verify.get("criterion"), "criterion", crits)
    if rb.get("auto_allowed") is True and not _seq(rb.get("steps")):
        f.bad(
            ("rollback", "auto_allowed"),
            "auto-rollback is allowed but there are no steps to run",
            "add rollback.steps, or set auto_allowed: false",
        )


def _check_metrics(data: dict[Any, Any], f: _Found, crits: set[str] | None, sources: set[str] | None) -> None:
    """Success metrics: a known unit, a target in it, and a criterion or source that exists."""
    for mi, m in enumerate(_seq(data.get("success_metrics"))):
        if not isinstance(m, dict):
            continue
        base = ("success_metrics", mi)
        unit = m.get("unit", "")
        if not isinstance(unit, str):
            continue
        if unit not in UNITS:
            f.bad(base + ("unit",), f"unknown unit '{unit}'", "use one of " + UNIT_FORMS)
        elif isinstance(m.get("target"), str):
            _check_threshold(f.bad, base + ("target",), m["target"], unit)
        if m.get("criterion") is not None:
            f.ref(base + ("criterion",), m.get("criterion"), "criterion", crits)
        if m.get("source") is not None:
            f.ref(base + ("source",), m.get("source"), "source", sources)


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
