"""The console's lines drawn through `LineMemo` (warroom/ui/strips.py) are the very segments Textual draws for
a Static: the same text, colours and selection offsets, wrapped and cut the same, on the first draw and from
the memo. A Textual upgrade that draws otherwise fails here, not on a launch-day screen."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.content import Content, Span
from textual.style import Style
from textual.widgets import Static

from warroom.ui.strips import MemoStatic

CSS = """
Static { width: 1fr; height: auto; color: $text; background: $surface; }
.cut { text-wrap: nowrap; text-overflow: ellipsis; height: 1; }
#fast, #fast-cut { background: $surface; }
"""

SPANS = Content.assemble(
    ("✔ GO ", "$success"),
    ("api p95 ", "bold"),
    ("212 ms ", Style(italic=True)),
    "owner: devops-lead  ",
    ("STALE 35s", "$warning reverse"),
    " — the item's runbook is https://runbooks.example.com/launch/dashboards/verify-all-panels",
)
CASES = [
    Content(""),
    Content("one line"),
    SPANS,
    Content("a\nb\n\nthird line, after a blank one"),
    Content("supercalifragilisticexpialidocious-and-then-some-more-without-a-space " * 2),
    Content("名前: 山田太郎 🚀 発射 準備完了 ✅ — wide cells wrap whole"),
    Content("tab\there\tand\there"),
    Content("   leading and trailing spaces   "),
    Content("styled across the wrap point", spans=[Span(3, 20, "$error bold")]),
]


class Pair(App[None]):
    CSS = CSS

    def compose(self) -> ComposeResult:
        yield Static("", id="slow", markup=False)
        yield MemoStatic("", id="fast")
        yield Static("", id="slow-cut", classes="cut", markup=False)
        yield MemoStatic("", id="fast-cut", classes="cut")


def drawn(w: Static) -> list[list[tuple[str, object]]]:
    return [[(seg.text, seg.style) for seg in w.render_line(y)] for y in range(w.size.height)]


@pytest.mark.parametrize("width", [7, 23, 60])
async def test_memo_lines_are_the_segments_textual_draws_offsets_included(width):
    app = Pair()
    async with app.run_test(size=(width, 40)) as pilot:
        slow, fast = app.query_one("#slow", Static), app.query_one("#fast", MemoStatic)
        slow_cut, fast_cut = app.query_one("#slow-cut", Static), app.query_one("#fast-cut", MemoStatic)
        for content in [*CASES, *CASES]:  # the second round draws from the memo
            for w in (slow, fast, slow_cut, fast_cut):
                w.update(content)
            await pilot.pause()
            assert fast.size == slow.size
            want = drawn(slow)
            assert drawn(fast) == want, content.plain
            assert drawn(fast_cut) == drawn(slow_cut), content.plain
            if content.spans and width > 20:  # the offsets text selection reads are there, as in Textual's
                metas = [style.meta for line in want for _t, style in line if style is not None]
                assert any("offset" in m for m in metas)


async def test_a_theme_change_redraws_the_memo_lines_in_the_new_colours():
    app = Pair()
    async with app.run_test(size=(60, 20)) as pilot:
        slow, fast = app.query_one("#slow", Static), app.query_one("#fast", MemoStatic)
        for w in (slow, fast):
            w.update(SPANS)
        await pilot.pause()
        before = drawn(fast)
        app.theme = "nord" if app.theme != "nord" else "gruvbox"
        await pilot.pause()
        after = drawn(fast)
        assert after == drawn(slow)
        assert after != before  # the colours moved with the theme
