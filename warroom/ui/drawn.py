"""Whether what would be drawn changed.

Textual's `Content.__eq__` compares the text alone ("so that markup doesn't affect sorting"), so a value whose
colour changes and whose text does not (a criterion going STALE keeps its value and its trend) compared equal
to what was on screen, and the terminal kept the old colour. Every "has it changed?" before a repaint asks here.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content


def same(a: object, b: object) -> bool:
    """`a` would be drawn as `b` is: the same text in the same styles (Content), else equal."""
    if isinstance(a, Content) and isinstance(b, Content):
        return a.is_same(b)
    if isinstance(a, Content) or isinstance(b, Content):
        return False  # a str beside a Content: drawn unstyled, or not
    return a == b


def same_cells(a: Sequence[Content], b: Sequence[Content]) -> bool:
    return len(a) == len(b) and all(x.is_same(y) for x, y in zip(a, b, strict=True))
