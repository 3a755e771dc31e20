"""Untrusted text made safe to print: one sanitiser for the console, the CLI and reports.

Alert labels, annotations, metric values, notes and command output come from
outside. Escape sequences are removed and other C0/C1 codes and bidi overrides
become a visible replacement character, so nothing reaches a terminal as a
control code. No Textual here: headless commands use it too.
"""

from __future__ import annotations

import re

# ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST),
# DCS/SOS/PM/APC (ESC P/X/^/_ ... ST), and any other two-byte ESC x.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b.?"
    # 8-bit forms of CSI and OSC
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|\x9d[^\x07\x9c]*[\x07\x9c]?",
    re.DOTALL,
)
# What is left of C0 (except tab), DEL, C1, and bidi controls that can reorder what a reader sees.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")
REPLACEMENT = "\ufffd"


def clean(text: object, *, newlines: str = " ") -> str:
    """`text` as a printable single line: escapes removed, control characters made visible.

    Newlines (CR, LF, CRLF) become `newlines` (a space by default); tabs become a space.
    """
    s = str(text)
    if s.isprintable():
        return s
    s = _ESCAPES.sub("", s)
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", newlines).replace("\t", " ")
    return _CONTROLS.sub(REPLACEMENT, s)


def clean_lines(text: object) -> list[str]:
    """Multi-line untrusted text (command output) as a list of safe lines."""
    s = _ESCAPES.sub("", str(text)).replace("\r\n", "\n").replace("\r", "\n")
    return [clean(line) for line in s.split("\n")]
