"""Words in block letters, five rows high (or ten, doubled), for a verdict read from across the room.

Only the letters and symbols verdicts use are drawn; anything else is a gap,
so an unexpected word shows as a gap, never as another word. Pure text: the
caller styles it.
"""

from __future__ import annotations

ROWS = 5

_FONT: dict[str, tuple[str, ...]] = {
    "A": (" ███ ", "█   █", "█████", "█   █", "█   █"),
    "B": ("████ ", "█   █", "████ ", "█   █", "████ "),
    "C": (" ████", "█    ", "█    ", "█    ", " ████"),
    "D": ("████ ", "█   █", "█   █", "█   █", "████ "),
    "E": ("█████", "█    ", "████ ", "█    ", "█████"),
    "G": (" ████", "█    ", "█  ██", "█   █", " ████"),
    "I": ("█████", "  █  ", "  █  ", "  █  ", "█████"),
    "K": ("█   █", "█  █ ", "███  ", "█  █ ", "█   █"),
    "L": ("█    ", "█    ", "█    ", "█    ", "█████"),
    "N": ("█   █", "██  █", "█ █ █", "█  ██", "█   █"),
    "O": (" ███ ", "█   █", "█   █", "█   █", " ███ "),
    "P": ("████ ", "█   █", "████ ", "█    ", "█    "),
    "R": ("████ ", "█   █", "████ ", "█  █ ", "█   █"),
    "U": ("█   █", "█   █", "█   █", "█   █", " ███ "),
    "W": ("█   █", "█   █", "█ █ █", "██ ██", "█   █"),
    "-": ("     ", "     ", "████ ", "     ", "     "),
    " ": ("   ", "   ", "   ", "   ", "   "),
    "✔": ("    █", "   █ ", "█ █  ", " █   ", "     "),
    "✖": ("█   █", " █ █ ", "  █  ", " █ █ ", "█   █"),
    "↺": (" ███ ", "█   █", "█  ███", "█   █ ", " ███ "),
    "…": ("     ", "     ", "     ", "     ", "█ █ █"),
    "?": (" ███ ", "█   █", "  ██ ", "     ", "  █  "),
    "▲": ("  █  ", " ███ ", " ███ ", "█████", "     "),
}


def width(text: str, scale: int = 1) -> int:
    """Cells `text` takes in block letters (one blank column between letters)."""
    glyphs = [_glyph(ch) for ch in text]
    return scale * (sum(max(len(r) for r in g) for g in glyphs) + max(0, len(glyphs) - 1))


def render(text: str, scale: int = 1) -> list[str]:
    """`text` as ROWS * scale lines of block characters, each letter `scale` times wider and taller."""
    rows = ["" for _ in range(ROWS)]
    for i, ch in enumerate(text):
        g = _glyph(ch)
        w = max(len(r) for r in g)
        for r in range(ROWS):
            rows[r] += (" " if i else "") + g[r].ljust(w)
    out: list[str] = []
    for row in rows:
        wide = "".join(c * scale for c in row)
        out.extend([wide] * scale)
    return out


def _glyph(ch: str) -> tuple[str, ...]:
    return _FONT.get(ch.upper(), _FONT[" "])
