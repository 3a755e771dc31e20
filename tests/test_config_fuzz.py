"""Random mutations of valid configs never get past the loader as anything but a Launch or a ConfigError.

Structure mutations (delete a key, change a type, add an unknown key, nest
deeply, unicode, NaN...) go through yaml.safe_dump so the YAML parses and every
problem must name a line; text mutations (stray characters, tabs, brackets,
anchors, tags, swapped lines) may break the YAML itself, and then the message
must still name the file.
"""

from __future__ import annotations

import math
from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warroom.config import ConfigError, Launch, parse_launch

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "minimal.yaml": (ROOT / "tests" / "fixtures" / "minimal.yaml").read_text(),
    "demo.yaml": (ROOT / "configs" / "demo.yaml").read_text(),
}
DATA = {name: yaml.safe_load(text) for name, text in SOURCES.items()}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "-1h",
            "< 500ms",
            ">= 99.8%",
            "==",
            "T-1h",
            "1e400",
            "nan",
            "~",
            "yes",
            "0x1F",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "prometheus",
            "host",
            "cfur",
            "sim",
            "é✓🚀",
            "\x00",
            "a" * 300,
            "[unclosed",
            "{a: b",
            "*alias",
            "&anchor x",
            "!!python/object:os.system",
            "%TAG",
        ]
    ),
)
# keys that once tripped the loader: unicode digits ('²'.isdigit() but int('²') fails), numbers, merge keys
keys = st.one_of(st.text(max_size=8), st.integers(), st.sampled_from(["²", "0", "١", "id", "type", "<<", "", " "]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, path + (i,))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def _deep(depth: int, leaf: Any) -> Any:
    for i in range(depth):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(DATA)))
    data = deepcopy(DATA[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["delete", "replace", "unknown-key", "deep", "duplicate", "type-swap"]))
        if not path:
            if kind == "replace":
                data = draw(values)
            continue
        parent, key = _get(data, path[:-1]), path[-1]
        if kind == "delete":
            del parent[key]
        elif kind == "replace":
            parent[key] = draw(values)
        elif kind == "unknown-key":
            target = parent[key] if isinstance(parent[key], dict) else parent
            if isinstance(target, dict):
                target[draw(keys)] = draw(values)
        elif kind == "deep":
            parent[key] = _deep(draw(st.integers(1, 200)), draw(scalars))
        elif kind == "duplicate" and isinstance(parent, list):
            parent.append(deepcopy(parent[key]))
        elif kind == "type-swap":
            v = parent[key]
            parent[key] = [v] if not isinstance(v, list) else {"x": v}
        if not isinstance(data, dict):
            break
    return name, data


def _check(text: str, name: str, parsed: bool) -> None:
    try:
        result = parse_launch(text, name)
    except ConfigError as e:
        assert e.problems, "a ConfigError must list at least one problem"
        for p in e.problems:
            assert str(p).startswith(name), str(p)
            assert p.message and p.hint, str(p)
            if parsed:
                assert p.line is not None and p.line >= 1, str(p)
        return
    assert isinstance(result, Launch)
    for c in result.criteria:  # a config that loads has thresholds that parse
        assert not math.isnan(c.go_threshold.value)


@FUZZ
@given(mutated())
def test_structure_mutations_give_a_launch_or_a_located_config_error(case):
    name, data = case
    try:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, RecursionError):
        return  # not dumpable (e.g. nested beyond the dumper): nothing to feed the loader
    _check(text, name, parsed=True)


ODD = [
    "\t",
    ":",
    ": ",
    "-",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "'",
    '"',
    "#",
    "&a ",
    "*a",
    "!!binary ",
    "!!set ",
    "? ",
    "|",
    ">",
    "%YAML 1.1\n---\n",
    "---\n",
    "\n...\n",
    "\ufeff",
    "\x85",
    "\u2028",
    "é",
    "🚀",
    "<<: *a\n",
    "~",
    "\\",
    "@",
    "`",
    "\r",
    "\x00",
    "&a [*a]",
]


@st.composite
def text_mutated(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(SOURCES)))
    lines = SOURCES[name].split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["insert", "delete-line", "swap", "indent", "truncate", "duplicate"]))
        line = lines[i]
        if kind == "insert":
            at = draw(st.integers(0, len(line)))
            piece = draw(st.one_of(st.sampled_from(ODD), st.text(max_size=5)))
            lines[i] = line[:at] + piece + line[at:]
        elif kind == "delete-line":
            del lines[i]
            if not lines:
                lines = [""]
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(0, 9)) + line.lstrip(" ")
        elif kind == "truncate":
            lines[i] = line[: draw(st.integers(0, len(line)))]
        else:
            lines.insert(i, line)
    return name, "\n".join(lines)


@FUZZ
@given(text_mutated())
def test_text_mutations_give_a_launch_or_a_config_error(case):
    name, text = case
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
        yaml.safe_load(text)
        parsed = True
    except yaml.reader.ReaderError:
        parsed = True  # a bad character: the loader still names its line
    except (yaml.YAMLError, RecursionError):
        parsed = False
    _check(text, name, parsed=parsed)


@FUZZ
@given(st.sampled_from(sorted(SOURCES)), st.integers(0, 7), values)
def test_any_value_at_the_top_or_under_any_key(name, index, value):
    data = deepcopy(DATA[name])
    key = list(data)[index % len(data)]
    data[key] = value
    _check(yaml.safe_dump(data, allow_unicode=True), name, parsed=True)
    _check(yaml.safe_dump(value, allow_unicode=True), name, parsed=True)
