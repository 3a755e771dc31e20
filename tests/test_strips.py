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


def shown(app: App[None], w: Static) -> list[list[tuple[str, object]]]:
    """What the screen shows where `w` is, styles included: the compositor's lines, which keep a widget's
    lines that were not repainted, so a changed line left out of a repaint shows here as the old one."""
    r = w.region
    strips = app.screen._compositor.render_strips()
    return [[(s.text, s.style) for s in strips[y].crop(r.x, r.right)] for y in range(r.y, r.bottom)]


async def test_show_content_repaints_the_changed_lines_and_the_screen_shows_every_new_line():
    app = Pair()
    async with app.run_test(size=(40, 30)) as pilot:
        slow, fast = app.query_one("#slow", Static), app.query_one("#fast", MemoStatic)
        lines = ["item: dashboards", "owner: devops-lead", "state: [ ] not done", "linked: none", "notes: 0"]
        steps = [
            lines,
            [*lines[:2], "state: [x] done by ana at 12:03:04", *lines[3:]],  # one line of five changes
            [*lines[:2], "state: [x] done by ana at 12:03:04", *lines[3:]],  # none
            [Content.styled("item: dashboards", "$error"), *lines[1:]],  # a colour alone
            [lines[0], "owner: security-lead and the devops-lead too, wrapping onto more", *lines[2:]],
            ["item: dashboards"],  # fewer lines
        ]
        for step in steps:
            content = Content("\n").join(Content(x) if isinstance(x, str) else x for x in step)
            slow.update(content)
            fast.show_content(content, layout=True)  # a height that may change: laid out, as Block does
            await pilot.pause()
            fast.show_content(content, layout=False)
            await pilot.pause()
            assert shown(app, fast) == shown(app, slow), content.plain
            first = content.plain.split("\n")[0]
            assert "".join(t for t, _s in shown(app, fast)[0]).startswith(first)
        five = Content("\n").join(Content(x) for x in lines)
        slow.update(five)
        fast.show_content(five, layout=True)
        await pilot.pause()
        for i in range(3):  # same height each time: only the changed line is repainted
            content = Content("\n").join(
                [Content(x) for x in lines[:2]] + [Content(f"state: tick {i}")] + [Content(x) for x in lines[3:]]
            )
            slow.update(content)
            fast.show_content(content, layout=False)
            await pilot.pause()
            assert shown(app, fast) == shown(app, slow)
            assert "".join(t for t, _s in shown(app, fast)[2]).startswith(f"state: tick {i}")
