"""Untrusted text made safe to show: the one sanitiser for the console, the CLI, reports and JSON output.

Notes, actor names, alert labels, sample errors and command output come from
anyone who can append to the shared log or answer a poll. Shown raw, an
escape sequence retitles the reader's terminal (OSC 0), writes its clipboard
(OSC 52) or clears the screen (CSI 2J); a bidi override or a zero-width
space makes text read differently from what it is. Two steps, in this order:

1. well-formed escape sequences (7- and 8-bit CSI, OSC, DCS, SOS, PM, APC
   and two-byte ESC x) are removed, so coloured output reads cleanly;
2. every code point that is still dangerous (C0 but tab/newline, DEL, C1,
   bidi controls, zero-width and other invisible format characters, tag
   characters, lone surrogates) becomes a visible U+FFFD. This step is the
   guarantee; step 1 is only for legibility.

Text is also capped (`limit`) with a marker saying how much was cut, so one
1 MB line or a 100,000-line note cannot flood a terminal or a report.
`json_bytes` is the JSON form: the data keeps every character, but the
dangerous ones are written as `\\uXXXX` escapes instead of raw UTF-8.
No Textual here: headless commands use it too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

REPLACEMENT = "\ufffd"
MAX_CHARS = 4000  # one shown line: more than any real note line, far less than a flood
MAX_LINES = 200  # lines of multi-line text (command output) shown at once

# Introducers of 7-bit (ESC x) and 8-bit (C1) control sequences; string bodies stop at any of them,
# so every regex scan below is linear however many unterminated introducers a hostile string holds.
_STOP = "\x07\x1b\x90\x98\x9b\x9c\x9d\x9e\x9f"
_ESCAPES = re.compile(
    # CSI: ESC [ or U+009B, parameter bytes, intermediate bytes, one final byte
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    # OSC: ESC ] or U+009D ... terminated by BEL or ST (ESC \ or U+009C)
    rf"|(?:\x1b\]|\x9d)[^{_STOP}]*(?:\x07|\x1b\\|\x9c)"
    # DCS, SOS, PM, APC: ESC P/X/^/_ or U+0090/98/9E/9F ... terminated by ST
    rf"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^{_STOP}]*(?:\x1b\\|\x9c)"
    # any other escape: ESC, intermediate bytes, one final byte (ESC ( B, ESC # 8, ESC c, ...)
    r"|\x1b[ -/]*[0-~]"
)
# What must never reach a reader raw (tab and the line breaks are handled before this runs).
_C0 = "\x00-\x08\x0a-\x1f"  # C0 but tab
_OTHERS = (
    "\x7f-\x9f"  # DEL, C1 (incl. 8-bit CSI/OSC/DCS/ST, NEL)
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u2028\u2029"  # line and paragraph separators
    "\u180e\u200b-\u200d\u2060-\u2064\u206a-\u206f\ufeff"  # zero-width and invisible format characters
    "\ufff9-\ufffb"  # interlinear annotation (hides text)
    "\ud800-\udfff"  # lone surrogates (undecodable bytes)
    "\U000e0000-\U000e007f"  # tag characters: invisible copies of ASCII
)
_UNSAFE = re.compile(f"[{_C0}{_OTHERS}]")
# In serialised JSON a raw C0 character can only be structural whitespace (strings escape them): keep those.
_JSON_UNSAFE = re.compile(f"[{_OTHERS}]")
_BREAKS = re.compile("\r\n|[\r\n\u2028\u2029\x85\x0b\x0c]")


def _str(text: object) -> str:
    if isinstance(text, bytes | bytearray):
        return bytes(text).decode("utf-8", errors="replace")  # invalid UTF-8 becomes U+FFFD
    return str(text)


def cut_marker(chars: int, lines: int = 0) -> str:
    """The visible note that says how much of a text was not shown."""
    what = f"{chars:,} more characters" + (f", {lines:,} more lines" if lines else "")
    return f" … [{what} cut]"


def _cap(s: str, limit: int | None) -> tuple[str, str]:
    """`s` cut so that it and its marker fit `limit` (so cleaning twice cuts nothing more)."""
    if limit is None or len(s) <= limit:
        return s, ""
    keep = max(0, limit - len(cut_marker(len(s), s.count("\n"))) - 1)
    return s[:keep], cut_marker(len(s) - keep, s.count("\n", keep))


def clean(text: object, *, newlines: str = " ", limit: int | None = MAX_CHARS) -> str:
    """`text` as one printable line: escapes removed, dangerous characters shown as U+FFFD, capped at `limit`.

    Line breaks (CR, LF, CRLF, U+2028/U+2029, NEL, VT, FF) become `newlines` (a space by default); tabs a space.
    """
    s = _str(text)
    if (limit is None or len(s) <= limit) and s.isprintable():
        return s  # no control, format, separator or surrogate code point: nothing to do
    s, marker = _cap(s, limit)
    s = _ESCAPES.sub("", s)
    s = _BREAKS.sub("\n", s).replace("\n", newlines).replace("\t", " ")
    return _UNSAFE.sub(REPLACEMENT, s) + marker


def clean_lines(text: object, *, max_lines: int | None = MAX_LINES, limit: int | None = MAX_CHARS) -> list[str]:
    """Multi-line untrusted text (command output, a long note) as safe lines, at most `max_lines` of them."""
    s = _ESCAPES.sub("", _str(text))
    lines = _BREAKS.split(s)
    shown = lines if max_lines is None or len(lines) <= max_lines else lines[:max_lines]
    out = [clean(line, limit=limit) for line in shown]
    if len(shown) < len(lines):
        rest = lines[len(shown) :]
        out.append(f"… [{len(rest):,} more lines, {sum(len(x) for x in rest):,} characters cut]")
    return out


def escape_json(data: bytes | str) -> bytes:
    """Serialised JSON with every dangerous character written as a `\\uXXXX` escape, so it parses the same.

    Outside strings JSON is ASCII, so a dangerous code point can only sit inside a string,
    where its escape means the very same character.
    """
    s = data.decode("utf-8", errors="replace") if isinstance(data, bytes | bytearray) else data
    if s.isascii() and "\x7f" not in s:
        return s.encode()
    return _JSON_UNSAFE.sub(_json_escape, s).encode()


def _json_escape(m: re.Match[str]) -> str:
    cp = ord(m.group())
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    cp -= 0x10000
    return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"


def json_bytes(obj: Any, *, indent: bool = False) -> bytes:
    """`obj` as JSON whose text is safe to print: nothing is dropped, dangerous characters are escaped."""
    try:
        raw = orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate: the standard library escapes it
        raw = json.dumps(obj, ensure_ascii=True, indent=2 if indent else None, default=str).encode()
    return escape_json(raw)
