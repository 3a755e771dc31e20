"""Where things are in the YAML: a map from each path to its line, field names, and a guess from indentation.

Every problem names file, line and field; this module knows the lines. It works on
the composed node tree (no values), and on raw text when the YAML cannot be parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a file is parsed: a start from the config cache never parses one
    import yaml

# A file whose anchors and aliases expand past this many values is refused
# before validation: a few lines of aliases can otherwise stand for billions.
MAX_NODES = 200_000


class Lines:
    """YAML path -> line number, built from the composed node tree.

    Walks iteratively (no recursion limit), stops at MAX_NODES visits (aliases
    are followed, so an alias bomb stops here too) and notes an alias that
    contains itself.
    """

    def __init__(self, root: yaml.Node | None):
        self.map: dict[tuple[Any, ...], int] = {}
        self.duplicates: list[tuple[tuple[Any, ...], int]] = []
        self.too_big = False
        self.cycle_line: int | None = None
        if root is not None:
            self._walk(root)

    def _walk(self, root: yaml.Node) -> None:
        import yaml

        stack: list[tuple[yaml.Node, tuple[Any, ...], frozenset[int]]] = [(root, (), frozenset())]
        visits = 0
        while stack:
            node, path, above = stack.pop()
            visits += 1
            if visits > MAX_NODES:
                self.too_big = True
                return
            line = node.start_mark.line + 1
            self.map.setdefault(path, line)
            if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
                continue
            if id(node) in above:
                self.cycle_line = self.cycle_line or line
                continue
            inner = above | {id(node)}
            children: list[tuple[yaml.Node, tuple[Any, ...]]] = []
            if isinstance(node, yaml.MappingNode):
                seen: set[Any] = set()
                for k, v in node.value:
                    key = k.value if isinstance(k, yaml.ScalarNode) else f"<{k.tag}>"
                    if key in seen:
                        self.duplicates.append((path + (key,), k.start_mark.line + 1))
                    seen.add(key)
                    self.map[path + (key,)] = k.start_mark.line + 1
                    children.append((v, path + (key,)))
            else:
                children = [(v, path + (i,)) for i, v in enumerate(node.value)]
            stack.extend((child, cpath, inner) for child, cpath in reversed(children))

    def line(self, loc: Iterable[Any]) -> tuple[int | None, tuple[Any, ...]]:
        """Line of the deepest known prefix of `loc`, skipping union tags pydantic inserts."""
        path: tuple[Any, ...] = ()
        for part in loc:
            for key in (part, _as_index(part), str(part)):
                if key is not None and path + (key,) in self.map:
                    path = path + (key,)
                    break
        return self.map.get(path), path


def _as_index(part: Any) -> int | None:
    return int(part) if isinstance(part, str) and part.isascii() and part.isdigit() else None


def field_name(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


_KEY_LINE = re.compile(r"^(?P<dash>-\s+)?(?P<key>[A-Za-z_][\w.-]*)\s*:(\s|$)")


def path_near(text: str, line: int) -> str:
    """The field a broken line sits in, guessed from indentation (the YAML cannot be parsed)."""
    stack: list[tuple[int, Any]] = []
    lines = text.splitlines()[:line]
    for n, raw in enumerate(lines, 1):
        body = raw.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        if body.startswith("\t"):
            if stack and isinstance(stack[-1][1], str):
                stack.pop()  # a tab-indented line: name what holds it, not its neighbour
            break
        indent = len(raw) - len(body)
        if body.startswith("-"):
            previous = -1
            while stack and (stack[-1][0] > indent or (stack[-1][0] == indent and isinstance(stack[-1][1], int))):
                top = stack.pop()
                if top[0] == indent and isinstance(top[1], int):
                    previous = top[1]
            stack.append((indent, previous + 1))
            body = body[1:].lstrip(" ")
            indent = len(raw) - len(body)
        else:
            while stack and stack[-1][0] >= indent:
                stack.pop()
        m = _KEY_LINE.match(body)
        if m and (n < len(lines) or not body.startswith("{")):
            stack.append((indent, m.group("key")))
    return field_name(part for _i, part in stack)


_TAG_RE = re.compile(r"^(function-|json-or-python|lax-or-strict|nullable|constrained-|tagged-union|union)|\[")
_SOURCE_TAGS = {"prometheus", "alertmanager", "http", "host", "simulated", "str", "int", "float", "bool"}


def strip_tags(loc: tuple[Any, ...], lines: Lines) -> tuple[Any, ...]:
    """Drop the tags pydantic puts in `loc` ('sources.prom.prometheus.url', 'for.function-before[...]')."""
    out: list[Any] = []
    for i, part in enumerate(loc):
        if (
            i > 0
            and isinstance(part, str)
            and (tuple(out) + (part,)) not in lines.map
            and (part in _SOURCE_TAGS or _TAG_RE.search(part))
        ):
            continue
        out.append(part)
    return tuple(out)
