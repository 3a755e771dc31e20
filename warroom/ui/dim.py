"""The console behind a dialog, dimmed: its own already-drawn lines with every colour tinted.

A translucent ModalScreen (look.tcss: `ModalScreen { background: $background 60%; }`) has Textual draw the screen
below through a Rich renderable (textual.renderables.BackgroundScreen): every cell of the console is turned into
Rich segments again, each segment's colours blended anew (two Color objects made and mixed per segment), and
the result split back into lines. That is done on every refresh of the dialog: opening it, the console's clock
ticking behind it, the dialog's own layout. At 160x48 it was 10 ms of each such frame.

`Dimmed` gives the same cells from the lines the console's compositor already holds, tinted through a table of
styles (a screen has a few dozen distinct ones), and hands them to Textual as strips. What is drawn is what
Textual would draw: the same blend of the same colours, links and click actions taken out (a click on the
dimmed console must do nothing), and the dialog's own line filters (NO_COLOR, a 16-colour terminal) still
applied after it, as they were to Textual's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.color import Color
from textual.strip import Strip
from textual.visual import RenderOptions, Visual

if TYPE_CHECKING:
    from textual.css.styles import RulesMap
    from textual.screen import Screen
    from textual.style import Style

_NULL = RichStyle()
_MAX_STYLES = 4096  # a theme change brings new styles; the old ones are dropped rather than kept forever


class Tint:
    """`style` -> `base + style` with its colours blended towards `color`, as BackgroundScreen blends them, once
    per distinct (base, style)."""

    def __init__(self, color: Color) -> None:
        self.color = color
        self._styles: dict[tuple[RichStyle, RichStyle | None], RichStyle] = {}

    def __call__(self, base: RichStyle, style: RichStyle | None) -> RichStyle:
        key = (base, style)
        got = self._styles.get(key)
        if got is None:
            if len(self._styles) >= _MAX_STYLES:
                self._styles.clear()
            got = self._styles[key] = base + self._tint(style)
        return got

    def _tint(self, style: RichStyle | None) -> RichStyle:
        style = _NULL if style is None else style.clear_meta_and_links()
        if self.color.a == 0:
            return style
        blend = Color.from_rich_color
        fg = (blend(style.color) + self.color).rich_color if style.color is not None else None
        bg = (blend(style.bgcolor) + self.color).rich_color if style.bgcolor is not None else None
        return style + RichStyle.from_color(fg, bg)


class Dimmed(Visual):
    """The lines of `screen` (the one below a dialog) as they are on screen now, tinted by `tint`."""

    def __init__(self, screen: Screen[object], tint: Tint) -> None:
        self.screen = screen
        self.tint = tint

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        base = style.rich_style
        tint = self.tint
        lines = self.screen._compositor.render_strips()  # what the console's widgets drew last (cached by them)
        out: list[Strip] = []
        for line in lines[:height] if height is not None else lines:
            segments = [Segment(text, tint(base, s), None) for text, s, control in line if not control]
            strip = Strip(segments, line.cell_length)  # the same text: the same cells
            out.append(strip if strip.cell_length <= width else strip.crop(0, width))
        return out

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self.screen.size.height
