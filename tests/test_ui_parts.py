"""The console's parts on their own: the sanitiser, themes, who may do what, the keymap, the diffing table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.content import Content
from textual.geometry import Region

from warroom.core.events import Actor
from warroom.ui import fmt
from warroom.ui.app import WarroomApp
from warroom.ui.keymap import KEYS, action_name, available
from warroom.ui.rowtable import Column, Row, RowTable
from warroom.ui.safe import REPLACEMENT, clean, clean_lines, plain
from warroom.ui.session import default_log_path, permissions
from warroom.ui.themes import GATE_VARIABLES, choose, load_themes, parse_theme

# ---------------------------------------------------------------- untrusted text


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("plain [bold]text[/bold]", "plain [bold]text[/bold]"),
        ("red \x1b[31mtext\x1b[0m", "red text"),
        ("title \x1b]0;pwned\x07after", "title after"),
        ("title \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "title link"),
        ("dcs \x1bPq#0;2;0;0;0\x1b\\end", "dcs end"),
        ("8-bit csi \x9b2Jgone", "8-bit csi gone"),
        ("bell\x07 and backspace\x08", f"bell{REPLACEMENT} and backspace{REPLACEMENT}"),
        ("bidi \u202eevil\u202c", f"bidi {REPLACEMENT}evil{REPLACEMENT}"),
        ("two\nlines\r\nhere\ttab", "two lines here tab"),
    ],
)
def test_clean_removes_escapes_and_shows_controls(raw, shown):
    assert clean(raw) == shown
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in clean(raw))


def test_plain_content_is_literal_and_command_output_keeps_its_lines():
    c = plain("[b]not bold[/b] $var", "$gate-go")
    assert c.plain == "[b]not bold[/b] $var"
    assert clean_lines("one\r\ntwo\x1b[2K\rthree") == ["one", "two", "three"]


# ---------------------------------------------------------------- themes


def test_shipped_themes_load_with_every_semantic_variable():
    loaded = load_themes()
    assert not loaded.problems
    assert {"dark", "light", "high-contrast", "monochrome"} <= set(loaded.themes)
    for theme in loaded.themes.values():
        assert set(GATE_VARIABLES) <= set(theme.variables), theme.name


def test_a_broken_theme_file_is_reported_and_skipped(tmp_path: Path):
    (tmp_path / "good.yaml").write_text("name: good\nprimary: '#112233'\nvariables: {gate-go: '#00ff00'}\n")
    (tmp_path / "bad-colour.yaml").write_text("name: bad\nprimary: 'not a colour'\n")
    (tmp_path / "typo.yaml").write_text("name: typo\nprimary: '#112233'\nbackgrund: '#000000'\n")
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    loaded = load_themes([tmp_path])
    assert set(loaded.themes) == {"good"}
    text = "\n".join(loaded.problems)
    assert "bad-colour.yaml: bad colour" in text
    assert "typo.yaml: unknown keys: backgrund" in text
    assert "broken.yaml" in text


def test_theme_choice():
    themes = load_themes().themes
    assert choose(None, themes, no_color=False) == ("dark", None)
    assert choose(None, themes, no_color=True) == ("monochrome", None)
    assert choose("light", themes, no_color=True) == ("light", None)  # asked for by name: honoured
    name, why = choose("neon", themes, no_color=False)
    assert name == "dark" and why is not None and "'neon' not found" in why


def test_themes_read_before_are_loaded_without_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The second start takes each unchanged file's mapping from the cache; an edited file is read anew, and a
    cache file others may write is not trusted."""
    from warroom.ui import themes

    (tmp_path / "mine.yaml").write_text("name: mine\nprimary: '#112233'\nvariables: {gate-go: '#00ff00'}\n")
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    first = load_themes([tmp_path])
    assert set(first.themes) == {"mine"} and len(first.problems) == 1

    def no_yaml(raw: bytes) -> object:
        raise AssertionError(f"read with YAML again: {raw!r}")

    monkeypatch.setattr(themes, "_read_yaml", no_yaml)
    with pytest.raises(AssertionError, match="unclosed"):  # a file YAML refused is not cached: read (and refused) again
        load_themes([tmp_path])
    (tmp_path / "broken.yaml").unlink()
    again = load_themes([tmp_path])
    assert again.themes["mine"].primary == "#112233" and again.themes["mine"].variables["gate-go"] == "#00ff00"

    monkeypatch.undo()
    (tmp_path / "mine.yaml").write_text("name: mine\nprimary: '#445566'\n")
    assert load_themes([tmp_path]).themes["mine"].primary == "#445566"  # the edited file, not the cached one

    cache = themes._cache_file()
    entries = json.loads(cache.read_text())
    for entry in entries["themes"].values():
        entry["primary"] = "#ff0000"  # someone else's doing
    cache.write_text(json.dumps(entries))
    cache.chmod(0o666)
    assert load_themes([tmp_path]).themes["mine"].primary == "#445566"  # a writable-by-others cache is ignored


def test_parse_theme_needs_a_name():
    with pytest.raises(ValueError, match="'name' is missing"):
        parse_theme({"primary": "#000000"}, "x.yaml")


# ---------------------------------------------------------------- who may do what


def test_permissions(demo_launch):
    root = Actor("root", "h")
    assert not permissions(demo_launch, root, "live").observer
    assert [r.id for r in permissions(demo_launch, root, "live").signing_roles] == ["cto", "devops-lead"]
    assert permissions(demo_launch, root, "live").commander
    assert permissions(demo_launch, root, "observer").observer
    stranger = permissions(demo_launch, Actor("eve", "h"), "live")
    assert stranger.observer and "'eve' has no role" in stranger.why
    named = Actor("x", "h", name="Security")
    assert not permissions(demo_launch, named, "live").roles  # roles match accounts: --as is a display name only
    shared = demo_launch.model_copy(update={"identity": "claimed"})
    claimed = permissions(shared, named, "live")  # identity: claimed: --as matches case-insensitively
    assert [r.id for r in claimed.roles] == ["security-lead"] and not claimed.may_set_triggers(shared)


def test_default_log_path(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_log_path("demo-launch") == tmp_path / "warroom" / "demo-launch.jsonl"
    fresh = default_log_path("demo-launch", fresh=True, now=1767268800.0)
    assert fresh == tmp_path / "warroom" / "demo-launch-20260101T120000Z.jsonl"


# ---------------------------------------------------------------- keys


def test_every_key_has_an_action_and_a_help_line():
    for k in KEYS:
        name = action_name(k.action)
        assert hasattr(WarroomApp, f"action_{name}"), k.id
        assert k.help and k.title
    assert available("toggle_item", "observer") and not available("toggle_item", "replay")
    assert available("replay_play", "replay") and not available("replay_play", "live")
    keys = [key for k in KEYS for key in k.keys.split(",")]
    assert len(keys) == len(set(keys)), "a key is bound twice"


# ---------------------------------------------------------------- small formats


def test_age_steps_and_sparkline():
    ages = (None, 0, 4.9, 5, 12, 59, 61, 119, 599, 3600, 5400)
    shown = ["—", "<5 s", "<5 s", "5 s", "10 s", "55 s", "60 s", "115 s", "9 min", "1 h", "1.5 h"]
    assert [fmt.age_coarse(s) for s in ages] == shown
    assert all(len(a) <= 6 for a in shown)  # the Age column
    assert fmt.sparkline([1, 2, None, 4], 4) == "▁▃·█"
    assert fmt.sparkline([], 4) == ""
    assert fmt.bar(3, 4, 8) == "██████░░" and fmt.bar(99, 100, 8) == "███████░"


# ---------------------------------------------------------------- the diffing table


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield RowTable([Column("a", "A", width=6), Column("b", "B", flex=True), Column("c", "C", width=4, priority=1)])


def rows(b1: str) -> list[Row]:
    return [
        Row("r0", (Content("x"), Content("one"), Content("1"))),
        Row("r1", (Content("y"), Content(b1), Content("2"))),
        Row("r2", (Content("z"), Content("three"), Content("3"))),
    ]


async def test_rowtable_repaints_only_the_changed_cell():
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(RowTable)
        table.set_rows(rows("two"))
        await pilot.pause()
        seen: list[Region] = []
        original = table.refresh

        def spy(*regions, **kw):
            seen.extend(regions)
            return original(*regions, **kw)

        table.refresh = spy  # type: ignore[method-assign]
        table.set_rows(rows("two"))  # identical: nothing at all
        assert seen == []
        table.set_rows(rows("TWO"))
        assert len(seen) == 1
        region = seen[0]
        assert (region.y, region.height) == (2, 1)  # header line, then r0, then r1
        assert (region.x, region.width) == (7, table.size.width - 7 - 5)  # column B only
        table.refresh = original  # type: ignore[method-assign]
        await pilot.pause()
        assert "TWO" in "".join(s.text for s in app.screen._compositor.render_strips())


async def test_rowtable_repaints_a_cell_whose_colour_changes_and_text_does_not():
    """Content's own `==` is its text alone: a value going from GO green to UNKNOWN grey is still a change."""
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(RowTable)
        green = [Row("r0", (Content("x"), Content.styled("99.9%", "green"), Content("1")))]
        grey = [Row("r0", (Content("x"), Content.styled("99.9%", "grey50"), Content("1")))]
        table.set_rows(green)
        await pilot.pause()

        def colour() -> object:
            strip = app.screen._compositor.render_strips()[1]
            return next(seg.style.color for seg in strip if seg.text.startswith("99.9%"))

        was = colour()
        seen: list[Region] = []
        original = table.refresh
        table.refresh = lambda *regions, **kw: (seen.extend(regions), original(*regions, **kw))[1]  # type: ignore[method-assign]
        assert table.set_rows(grey)
        assert [(r.x, r.y, r.width) for r in seen] == [(7, 1, table.size.width - 7 - 5)]  # column B, row r0
        table.refresh = original  # type: ignore[method-assign]
        await pilot.pause()
        assert colour() != was


async def test_rowtable_folds_groups_and_drops_low_priority_columns():
    app = TableApp()
    async with app.run_test(size=(14, 8)) as pilot:
        table = app.query_one(RowTable)
        table.set_rows(
            [
                Row("g", (Content("grp"), Content(""), Content("")), group=True),
                Row("c", (Content("child"), Content("b"), Content("9")), parent="g"),
            ]
        )
        await pilot.pause()
        assert table.visible_keys == ["g", "c"]
        assert [c for c, _x, _w in table._layout] == [0, 1]  # C (priority 1) dropped at 14 columns
        table.focus()
        await pilot.press("left")
        assert table.visible_keys == ["g"]
        await pilot.press("enter")
        assert table.visible_keys == ["g", "c"]
