"""Screen lines from Content, each distinct line drawn once: the console's one-liners, detail blocks and tables.

Why (issue 16): Textual draws a Static through `Visual.to_strips` whenever it changes, and draws all of it
again: every span's style is parsed again (`$success`, ...), stacked and combined, and turned into a new Rich
style carrying its offset (for text selection), and the strip is walked again for links. A tick changes one
line of a five-line detail block and one one-liner, and that redrawing was the larger part of what a tick cost
the console beyond the bare app's frame. Here a line is drawn exactly as Textual draws it (the same segments,
the selection offsets included, so text can still be selected) and kept: the same text in the same spans, in
the same style at the same place, comes from `LineMemo`; and `show_content` repaints only the lines that
changed. `tests/test_strips.py` holds it to Textual's own drawing, so a Textual upgrade that draws differently
fails there rather than on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Self, cast

from rich.segment import Segment
from textual.content import Content, Span
from textual.geometry import Region
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.css.types import TextOverflow

GetStyle = Callable[[str | VisualStyle], VisualStyle]
_Key = tuple[str, tuple[Span, ...], VisualStyle, int, int]
_NO_OFFSET = -1


class LineMemo:
    """The segments of lines drawn already, by what decides them: text, spans, base style and place."""

    def __init__(self, kept: int = 1024) -> None:
        self._kept = kept  # a screen's distinct lines are a few hundred; many more means lines of the past
        self._lines: dict[_Key, list[Segment]] = {}

    def clear(self) -> None:
        """On a theme or style change: the same spans now draw in other colours."""
        self._lines.clear()

    def segments(
        self, content: Content, style: VisualStyle, get_style: GetStyle, x: int = 0, y: int = 0, *, offsets: bool
    ) -> list[Segment]:
        """`content` drawn on `style` as Textual's `_FormattedLine.to_strip` draws a left-aligned line, its spans
        carrying their offsets (`x`, `y`: where the line starts in the widget's text) when `offsets`."""
        where = (x, y) if offsets else (_NO_OFFSET, _NO_OFFSET)
        key = (content.plain, tuple(content.spans), style, *where)
        got = self._lines.get(key)
        if got is None:
            if len(self._lines) >= self._kept:
                self._lines.clear()
            got = self._lines[key] = list(_draw(content, style, get_style, x, y, offsets))
        return got


def _draw(
    content: Content, style: VisualStyle, get_style: GetStyle, x: int, y: int, offsets: bool
) -> Iterator[Segment]:
    for text, part in content.render(style, end="", parse_style=get_style):
        both = style + part
        yield Segment(text, both.rich_style_with_offset(x, y) if offsets else both.rich_style)
        x += len(text)


def _has_links(content: Content) -> bool:
    """Whether a span may carry an action or a link, which Textual's drawing styles (`_apply_link_style`)."""
    for span in content.spans:
        s = span.style
        if isinstance(s, str) and "@" in s:
            return True
        if isinstance(s, VisualStyle) and (s.link or s._meta):
            return True
    return False


class MemoStatic(Static):
    """A Static whose lines come from a `LineMemo`: drawn as Textual draws them, each distinct line once.

    Only left-aligned, unselected text without links is drawn here (all the console's own lines); anything
    else is Textual's to draw, as for any Static."""

    def __init__(self, content: Content | str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(content, id=id, classes=classes, markup=False)
        self._memo = LineMemo(kept=256)
        self._drawn: list[Strip] | None = None
        self._drawn_for: tuple[object, object, object] = (None, None, None)
        self._before: list[Strip] | None = None  # the lines drawn before an update, while `show_content` makes it

    def show_content(self, content: Content | str, *, layout: bool) -> None:
        """`update`, repainting only the lines now drawn differently: a tick changes one line of a detail block,
        and each line repainted is another pass through Textual's styles for it."""
        size, style = self.size, self.visual_style
        before = self._drawn if self._drawn_for[1:] == (size, style) else None
        if layout or before is None or not self.is_mounted:
            self.update(content, layout=layout)
            return
        self._before = before
        try:
            self.update(content, layout=False)  # which calls `refresh`, below, with the new visual in place
        finally:
            self._before = None

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        before, self._before = self._before, None
        if before is None or regions or layout or recompose or not repaint:
            return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        size, style, visual = self.size, self.visual_style, self.visual
        after = self._lines(visual, size.width, size.height, style)
        if after is None or len(after) != len(before):
            return super().refresh()
        self._drawn, self._drawn_for = after, (visual, size, style)
        changed = [
            Region(0, y, size.width, 1)
            for y, (a, b) in enumerate(zip(before, after, strict=True))
            if list(a) != list(b)
        ]
        return super().refresh(*(changed or [Region(0, 0, size.width, 1)]))

    def notify_style_update(self) -> None:
        self._memo.clear()
        self._drawn_for = (None, None, None)
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        if self.text_selection is not None:
            return super().render_line(y)
        visual, size, style = self._render(), self.size, self.visual_style
        seen_visual, seen_size, seen_style = self._drawn_for
        if visual is not seen_visual or size != seen_size or style != seen_style:
            self._drawn = self._lines(visual, size.width, size.height, style)
            self._drawn_for = (visual, size, style)
        if self._drawn is None:
            return super().render_line(y)
        if 0 <= y < len(self._drawn):
            return self._drawn[y]
        return Strip.blank(size.width, style.rich_style)

    def _lines(self, visual: object, width: int, height: int, style: VisualStyle) -> list[Strip] | None:
        """The widget's lines, as `Visual.to_strips` makes them for it; None where it does more than this does."""
        styles = self.styles
        if (
            not isinstance(visual, Content)
            or styles.text_align not in ("left", "start")
            or tuple(styles.content_align) != ("left", "top")
            or _has_links(visual)
        ):
            return None
        if not width:
            return []
        get = styles.get
        lines = visual._wrap_and_format(  # the wrapping Content.render_strips does, with the same rules
            width,
            align="left",
            overflow=cast("TextOverflow", get("text_overflow", "fold")),
            no_wrap=get("text_wrap", "wrap") == "nowrap",
            line_pad=cast(int, get("line_pad", 0)),
            tab_size=8,
            get_style=self._get_style,
        )
        get_style, memo = self._get_style, self._memo
        return [
            Strip(memo.segments(fl.content, style, get_style, fl.x, fl.y, offsets=True), fl.content.cell_length)
            for fl in lines[:height]
        ]
