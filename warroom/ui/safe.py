"""Untrusted text made safe to show: one place, used by every panel.

Alert labels, annotations, metric values, notes and command output come from
outside. They are shown literally: never parsed as Textual markup (we build
`Content` objects, not markup strings), and every string first goes through
the one sanitiser, `warroom.core.text.clean` (escapes removed; controls, bidi,
zero-width and other invisible characters shown as U+FFFD; length capped).
"""

from __future__ import annotations

from textual.content import Content

from warroom.core.text import REPLACEMENT, clean, clean_lines

__all__ = ["REPLACEMENT", "clean", "clean_lines", "plain"]


def plain(text: object, style: str = "") -> Content:
    """Untrusted text as a literal `Content`, optionally in one style; square brackets stay brackets."""
    return Content.styled(clean(text), style) if style else Content(clean(text))
