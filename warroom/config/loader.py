"""Loading a launch: size caps, YAML syntax problems, then the schema, the hints and the cross-checks.

Pydantic does the type checking (strict, unknown keys forbidden); the line map turns each
problem into file:line:field, and every problem in a file is reported at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from warroom.config.checks import cross_check
from warroom.config.errors import ConfigError, ConfigProblem
from warroom.config.hints import FALLBACK_HINT, hint_for, message
from warroom.config.lines import MAX_NODES, Lines, field_name, path_near, strip_tags
from warroom.config.schema import Launch

if TYPE_CHECKING:  # imported where a file is parsed: a start from the config cache never parses one
    import yaml

MAX_CONFIG_BYTES = 4 << 20  # a launch config is a few KB; 4 MB is far beyond any real one (a 50 MB file took 38 s)


def load_launch(path: str | Path) -> Launch:
    """Load and validate one launch file; raise ConfigError listing every problem found."""
    _raw, text = read_config(path)
    return parse_launch(text, str(path))


def read_config(path: str | Path) -> tuple[bytes, str]:
    """A launch file's bytes and its text; ConfigError if it cannot be read, is too big or is not UTF-8."""
    p = Path(path)
    name = str(path)
    try:
        with open(p, "rb") as f:  # read no more than the cap allows: the file may be huge, or endless (a FIFO)
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError([_too_big(name)])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, None, "", "file not found", "check the path")]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            [ConfigProblem(name, None, "", f"not UTF-8 text ({e.reason} at byte {e.start})", "save the file as UTF-8")]
        ) from None
    except OSError as e:
        raise ConfigError(
            [
                ConfigProblem(
                    name, None, "", f"cannot read file: {e.strerror or e}", "check the path and its permissions"
                )
            ]
        ) from None
    return raw, text


def _too_big(name: str) -> ConfigProblem:
    return ConfigProblem(
        name,
        None,
        "",
        f"the file is larger than {MAX_CONFIG_BYTES >> 20} MB, the most a launch config may be",
        "a launch config is a few KB of YAML; is this the right file?",
    )


def _long_number_line(node: yaml.Node | None) -> int | None:
    """The line of an integer literal too long for Python to convert (its limit is 4,300 digits)."""
    import yaml

    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.ScalarNode):
            if n.tag == "tag:yaml.org,2002:int" and len(n.value) > 4000:
                return n.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.extend((k, v))
    return None


def parse_launch(text: str, name: str = "<config>") -> Launch:
    """Validate a launch from YAML text; `name` is the file name used in messages."""
    import yaml

    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError([_too_big(name)])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        raise ConfigError([_syntax_problem(e, text, name)]) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, max(e.position, 0)) + 1
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    line,
                    path_near(text, line),
                    f"character {_char_name(e.character)} is not allowed in YAML",
                    "remove it; control characters cannot appear in YAML (write them as \\x.. inside double quotes)",
                )
            ]
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError([ConfigProblem(name, None, "", f"YAML error: {e}", "check the file is YAML")]) from None
    except RecursionError:
        raise ConfigError(
            [
                ConfigProblem(
                    name, None, "", "YAML nested too deeply", "a launch needs a few levels of nesting, not hundreds"
                )
            ]
        ) from None
    lines = Lines(node)
    if lines.too_big:
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    None,
                    "",
                    f"the file expands to more than {MAX_NODES:,} values",
                    "anchors and aliases (&x, *x) multiply; use fewer of them",
                )
            ]
        )
    if lines.cycle_line:
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    lines.cycle_line,
                    "",
                    "an alias refers to a value that contains it",
                    "a launch is a tree; copy the value instead of aliasing it inside itself",
                )
            ]
        )
    try:
        # build the values from the node tree already composed (what safe_load would do, without parsing twice)
        data = yaml.SafeLoader("").construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    mark.line + 1 if mark else None,
                    "",
                    f"YAML: {e.problem or e}",
                    "keys must be plain text, values plain YAML (no !!python tags)",
                )
            ]
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as e:
        long_at = _long_number_line(node)
        if long_at is not None:
            raise ConfigError(
                [
                    ConfigProblem(
                        name,
                        long_at,
                        path_near(text, long_at),
                        "an integer with thousands of digits",
                        "no setting needs a number that long; check this value",
                    )
                ]
            ) from None
        raise ConfigError([ConfigProblem(name, None, "", f"YAML error: {e}", "check the file is YAML")]) from None
    problems: list[ConfigProblem] = []
    for path, line in lines.duplicates:
        problems.append(ConfigProblem(name, line, field_name(path), "key given twice", "keep one of them"))
    if not isinstance(data, dict):
        problems.append(
            ConfigProblem(
                name,
                1,
                "",
                "a launch file is a mapping with keys launch, roles, phases, ...",
                "see configs/demo.yaml for a complete example",
            )
        )
        raise ConfigError(problems)
    launch: Launch | None = None
    try:
        launch = Launch.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = err["loc"]
            if err["type"] == "union_tag_invalid":
                loc = loc + ("type",)  # point at the `type:` line, not the source's name
            err_line, _ = lines.line(loc)
            path = strip_tags(loc, lines)
            problems.append(ConfigProblem(name, err_line, field_name(path), message(err), hint_for(err, path, data)))
    # Cross-references are checked on the raw data so they are reported
    # alongside type errors, not one round of fixes later.
    problems.extend(cross_check(data, lines, name))
    if problems or launch is None:
        problems = _dedupe(problems) or [ConfigProblem(name, None, "", "invalid launch", FALLBACK_HINT)]
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0))
    return launch


def _char_name(c: Any) -> str:
    code = c if isinstance(c, int) else ord(c) if isinstance(c, str) and len(c) == 1 else None
    return f"U+{code:04X}" if code is not None else repr(c)


def _syntax_problem(e: yaml.MarkedYAMLError, text: str, name: str) -> ConfigProblem:
    """A YAML syntax error with its line, the field around it, and where an unclosed bracket opened."""
    mark = e.problem_mark or e.context_mark
    line = mark.line + 1 if mark else None
    message = f"YAML syntax: {e.problem or e}"
    ctx = e.context_mark
    if e.context and ctx is not None and ctx.line + 1 != line:
        message += f" ({e.context} that starts on line {ctx.line + 1})"
    anchor = ctx.line + 1 if ctx is not None and e.context and "flow" in e.context else line
    return ConfigProblem(
        name,
        line,
        path_near(text, anchor) if anchor else "",
        message,
        "check indentation (spaces, not tabs), colons, brackets and quoting near this line",
    )


def _dedupe(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for p in problems:
        key = (p.line, p.field, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
