"""The post-launch report as Markdown that pastes cleanly into a post-mortem.

Every piece of logged or configured text goes through `md()`: `warroom.core.text.clean`
(escapes, controls, bidi and zero-width characters, length cap), then Markdown/HTML punctuation is
backslash-escaped, so an alert label can neither break a table nor inject
markup. Command output goes in a fenced block longer than any backtick run in it.
Charts are left to the HTML report.
"""

from __future__ import annotations

import re

from warroom.core.text import clean
from warroom.report.build import Report
from warroom.report.document import (
    Bullets,
    Cell,
    ChartBlock,
    Code,
    Document,
    Heading,
    Paragraph,
    T,
    Table,
    backtick_fence,
    build_document,
)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~&])")


def md(text: object) -> str:
    """Untrusted text, safe inside a Markdown paragraph or table cell."""
    return _MD_SPECIAL.sub(r"\\\1", clean(text))


def _runs(parts: Cell) -> str:
    runs = parts if isinstance(parts, list) else [parts]
    out = []
    for r in runs:
        text = md(r.text)
        if r.strong and text.strip():
            lead, core, trail = text[: len(text) - len(text.lstrip())], text.strip(), text[len(text.rstrip()) :]
            text = f"{lead}**{core}**{trail}"
        out.append(text)
    return "".join(out).strip()


def render_doc(doc: Document) -> str:
    out: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + md(b.text), ""]
        elif isinstance(b, Paragraph):
            out += [_runs(b.parts), ""]
        elif isinstance(b, Bullets):
            out += [f"- {_runs(item)}" for item in b.items] + [""]
        elif isinstance(b, Table):
            head = b.head if any(b.head) else [" "] * len(b.head)
            out.append("| " + " | ".join(md(h) for h in head) + " |")
            out.append("|" + "|".join("---" for _ in head) + "|")
            out += ["| " + " | ".join(_runs(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif isinstance(b, Code):
            text = "\n".join(clean(x) for x in b.lines)
            fence = backtick_fence(text)
            out += [md(b.caption), "", fence + "text", text, fence, ""]
        elif isinstance(b, ChartBlock):
            out += ["(chart in the HTML report: `warroom report LOG --format html`)", ""]
    return "\n".join(out).rstrip() + "\n"


def render_markdown(rep: Report) -> str:
    return render_doc(build_document(rep, charts=False))


__all__ = ["T", "md", "render_markdown"]
