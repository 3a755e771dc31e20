"""A table that repaints only the cells that changed.

Textual's DataTable repaints the whole table when one cell changes (the issue
measured ~6 % CPU and 9 KB/s for one update a second). Every panel here is a
list of rows that mostly stays the same, so this Line-API widget diffs the
new rows against the old ones and refreshes just the changed cells' regions.
It also does what the panels need and DataTable does not: collapsible group
rows, columns that drop out (lowest priority first) when the terminal is
narrow, a header that stays put while the rows scroll, a column whose long
cells wrap onto more lines (a row is then several lines high) rather than being
cut, and a column that takes the width left over (a sparkline filling it).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style as RichStyle
from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style as VisualStyle

from warroom.ui.drawn import same, same_cells
from warroom.ui.strips import LineMemo


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int | None = None  # fixed width; None fits the content
    flex: bool = False  # takes what is left (one column per table)
    min_width: int = 4
    priority: int = 0  # columns with the highest priority are hidden first when space runs out; 0 never
    align: str = "left"
    whole: bool = False  # a flex column that droppable columns make room for before it is cut
    wrap: bool = False  # a cell wider than the column goes on over more lines instead of being cut
    fill: bool = False  # takes the width left once the flex column has its natural width (its cells do not size it)


@dataclass(frozen=True, slots=True, eq=False)
class Row:
    key: str
    cells: tuple[Content, ...]
    parent: str | None = None  # the group row this row is folded under
    group: bool = False  # a group header that can collapse
    clip: bool = False  # cut rather than wrapped (a command's output: the line above says what matters)

    def __eq__(self, other: object) -> bool:
        """Drawn alike: the cells' styles count too (drawn.py: Content's own `==` is the text alone)."""
        if not isinstance(other, Row):
            return NotImplemented
        return (
            self.key == other.key
            and self.parent == other.parent
            and self.group == other.group
            and self.clip == other.clip
            and same_cells(self.cells, other.cells)
        )

    def __hash__(self) -> int:
        return hash((self.key, self.parent, self.group, self.clip, tuple(c.plain for c in self.cells)))


class RowTable(ScrollView, can_focus=True):
    """Rows of Content cells with a fixed header, a cursor and collapsible groups."""

    COMPONENT_CLASSES = {"rowtable--header", "rowtable--cursor", "rowtable--group", "rowtable--empty"}
    DEFAULT_CSS = """
    RowTable { height: 1fr; overflow-x: hidden; overflow-y: auto; background: $surface; }
    RowTable > .rowtable--header { text-style: bold; color: $text-muted; }
    RowTable > .rowtable--group { text-style: bold; }
    RowTable > .rowtable--cursor { background: $panel; }
    RowTable:focus > .rowtable--cursor { background: $primary 35%; }
    RowTable > .rowtable--empty { color: $text-muted; text-style: italic; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("left", "fold(True)", "Collapse", show=False),
        Binding("right", "fold(False)", "Expand", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    class Highlighted(Message):
        def __init__(self, table: RowTable, key: str | None) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> RowTable:
            return self.table

    class Selected(Highlighted):
        """Enter on a row that is not a group."""

    class Resized(Message):
        """The table's width changed: a panel whose cells fit a column's width (a sparkline) redraws them."""

        def __init__(self, table: RowTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        show_header: bool = True,
        cursor: bool = True,
        empty: str = "",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ):
        super().__init__(name=name, id=id, classes=classes)
        self.columns = tuple(columns)
        self.show_header = show_header
        self.show_cursor = cursor
        self.empty = empty
        self.rows: list[Row] = []
        self.collapsed: set[str] = set()
        self._visible: list[Row] = []
        self._depth: dict[str, int] = {}
        self._cursor = 0
        self._layout: tuple[tuple[int, int, int], ...] = ()  # (column index, x, width) of shown columns
        self._layout_width = -1
        self._cache: dict[int, tuple[Strip, ...]] = {}  # row index -> its lines
        self._wrapped: dict[int, list[Content]] = {}  # row index -> its wrap column's lines, when more than one
        self._tops: list[int] = []  # row index -> its first line (rows are more than one line high when wrapped)
        self._lines = 0
        self._header: Strip | None = None
        self._naturals: dict[int, int] = {}  # column index -> its natural width, for these rows
        self._styles: dict[tuple[bool, tuple[str, ...]], tuple[VisualStyle, RichStyle]] = {}  # see `_line`
        self._memo = LineMemo()  # each distinct line's segments, drawn once
        self.can_focus = cursor

    # ------------------------------------------------------------------ data

    @property
    def header_lines(self) -> int:
        return 1 if self.show_header else 0

    @property
    def cursor_key(self) -> str | None:
        if self.show_cursor and 0 <= self._cursor < len(self._visible):
            return self._visible[self._cursor].key
        return None

    @property
    def visible_keys(self) -> list[str]:
        return [r.key for r in self._visible]

    @property
    def last_key(self) -> str | None:
        """The last row shown (a tail follows it)."""
        return self._visible[-1].key if self._visible else None

    def set_rows(self, rows: Sequence[Row]) -> bool:
        """Show `rows`; repaint only the cells that differ from what is on screen. Whether anything differed."""
        rows = list(rows)
        if rows == self.rows:
            return False
        old_visible, old_depth, old_cursor = self._visible, self._depth, self._cursor
        old_tops, old_lines = self._tops, self._lines
        old_key = self.cursor_key
        self.rows = rows
        self._naturals = {}
        self._depth = self._depths(rows)
        self._visible = self._visible_rows()
        layout = self._compute_layout()
        if layout != self._layout:  # the columns moved: every line is drawn anew
            self._layout = layout
            self._reflow()
            self._restore_cursor(old_key)
            self._cache.clear()
            self._header = None
            self._update_virtual_size()
            self.refresh()
            return True
        self._reflow()
        self._restore_cursor(old_key)
        # Same columns: redraw only the rows that differ from the one drawn at that place (a row appended to a
        # log is one line, not the whole table), and the cursor's old and new row if it moved. From the first
        # row whose place or height changed, every line below it moves: those are redrawn from there down.
        for i, b in enumerate(self._visible):
            a = old_visible[i] if i < len(old_visible) else None
            same_place = i < len(old_tops) and old_tops[i] == self._tops[i]
            if a is b and same_place:
                continue
            if (
                a is not None
                and same_place
                and a.key == b.key
                and a.parent == b.parent
                and old_depth.get(a.key) == self._depth.get(b.key)
                and (i + 1 < len(old_tops)) == (i + 1 < len(self._tops))
                and (i + 1 >= len(old_tops) or old_tops[i + 1] == self._tops[i + 1])
            ):
                if a != b:
                    self._refresh_row(i, a, b)
            else:
                self._refresh_from(min(old_tops[i], self._tops[i]) if i < len(old_tops) else self._tops[i])
                break
        else:
            if len(old_visible) > len(self._visible):  # rows went from the end
                self._refresh_from(self._lines)
        if self._cursor != old_cursor:
            for i in (old_cursor, self._cursor):
                self._refresh_row_lines(i)
        if self._lines != old_lines or len(self._visible) != len(old_visible):
            self._update_virtual_size()
        return True

    def move_cursor_to_key(self, key: str) -> bool:
        for i, r in enumerate(self._visible):
            if r.key == key:
                self._move(i)
                return True
        return False

    def set_collapsed(self, keys: set[str]) -> None:
        """Fold exactly these groups (used when the launch moves to a new phase)."""
        if keys == self.collapsed:
            return
        old_key = self.cursor_key
        self.collapsed = set(keys)
        self._visible = self._visible_rows()
        self._restore_cursor(old_key)
        self._cache.clear()
        self._update_virtual_size()
        self.refresh()

    def toggle_group(self, key: str, collapse: bool | None = None) -> None:
        now = key not in self.collapsed if collapse is None else collapse
        if now == (key in self.collapsed):
            return
        old_key = self.cursor_key
        if now:
            self.collapsed.add(key)
        else:
            self.collapsed.discard(key)
        self._visible = self._visible_rows()
        self._restore_cursor(old_key)
        self._cache.clear()
        self._update_virtual_size()
        self.refresh()

    def _depths(self, rows: list[Row]) -> dict[str, int]:
        parent = {r.key: r.parent for r in rows}
        depth: dict[str, int] = {}
        for r in rows:
            d, p, seen = 0, r.parent, set()
            while p is not None and p not in seen:
                seen.add(p)
                d += 1
                p = parent.get(p)
            depth[r.key] = d
        return depth

    def _visible_rows(self) -> list[Row]:
        parent = {r.key: r.parent for r in self.rows}
        out = []
        for r in self.rows:
            p, hidden, seen = r.parent, False, set()
            while p is not None and p not in seen:
                seen.add(p)
                if p in self.collapsed:
                    hidden = True
                    break
                p = parent.get(p)
            if not hidden:
                out.append(r)
        return out

    def _restore_cursor(self, key: str | None) -> None:
        if key is not None:
            for i, r in enumerate(self._visible):
                if r.key == key:
                    self._cursor = i
                    return
        self._cursor = max(0, min(self._cursor, len(self._visible) - 1))

    def _update_virtual_size(self) -> None:
        self._reflow()
        size = Size(self._avail_width(), self._lines + self.header_lines)
        if size == self.virtual_size:
            return
        grew = size.height != self.virtual_size.height
        height = self.styles.height
        if height is None or height.is_auto or not self.size.height:
            self.virtual_size = size  # the table's height follows its rows: the screen is laid out again
            if grew:
                self.call_after_refresh(self._relayout_if_auto)
            return
        # A table of fixed height (a log gaining a row): setting `virtual_size` would lay out the whole screen
        # (it is a layout reactive), which cost more than everything else a tick does. Only the scrollbars need
        # to know, and a scrollbar that appears or goes does lay the table out (Textual's _refresh_scrollbars).
        self.set_reactive(RowTable.virtual_size, size)
        self._scroll_update(size)

    def _relayout_if_auto(self) -> None:
        """A table as high as its rows (height: auto) needs a new layout when its line count changes; asked after
        the refresh under way, which may already have measured it (seen as a table 0 lines high)."""
        if self.styles.height is not None and self.styles.height.is_auto:
            self.refresh(layout=True)

    def _reflow(self) -> None:
        """Which line each visible row starts on: a row whose wrap cell is wider than its column takes more."""
        self._wrapped = {}
        self._tops = []
        line = 0
        wrap = next(((ci, w) for ci, _x, w in self._layout if self.columns[ci].wrap), None)
        for i, row in enumerate(self._visible):
            self._tops.append(line)
            if wrap is not None and not row.clip and wrap[0] < len(row.cells):
                lead = self._prefix_len(row) if wrap[0] == 0 else 0  # what `_lead` puts before it
                if lead + row.cells[wrap[0]].cell_length > wrap[1]:
                    self._wrapped[i] = self._wrap(row, wrap[0], wrap[1])
                    line += len(self._wrapped[i])
                    continue
            line += 1
        self._lines = line

    def _wrap(self, row: Row, ci: int, width: int) -> list[Content]:
        """The cell over several lines, the later ones indented under the first's text (a hanging indent)."""
        lead = self._lead(row, ci)
        hang = min(lead.cell_length + 2, max(0, width - 8))
        lines = row.cells[ci].wrap(max(1, width - hang))
        return [(lead if n == 0 else Content(" " * hang)) + part for n, part in enumerate(lines)]

    def _height(self, index: int) -> int:
        return len(self._wrapped[index]) if index in self._wrapped else 1

    def _row_at(self, line: int) -> int:
        """The visible row shown on `line` (0: the first under the header)."""
        return max(0, bisect_right(self._tops, line) - 1)

    def column_width(self, key: str) -> int | None:
        """The width the column is shown at now (None: dropped for want of room)."""
        if self._layout_width != self._avail_width():
            self._layout = self._compute_layout()
        return next((w for ci, _x, w in self._layout if self.columns[ci].key == key), None)

    # ------------------------------------------------------------------ layout

    def _avail_width(self) -> int:
        return max(0, self.scrollable_content_region.width)

    def _natural(self, ci: int) -> int:
        """Asked for each column at every layout and fit (a tick asks ten times): measured once per set of rows."""
        got = self._naturals.get(ci)
        if got is None:
            got = self._naturals[ci] = self._measure(ci)
        return got

    def _measure(self, ci: int) -> int:
        col = self.columns[ci]
        if col.width is not None:
            return col.width
        w = max(col.min_width, len(col.title) if self.show_header else 0)
        if col.fill:
            return w
        for r in self.rows:
            if ci < len(r.cells) and not r.clip:  # a clipped row is cut to the column, never sizes it
                extra = self._prefix_len(r) if ci == 0 else 0
                w = max(w, r.cells[ci].cell_length + extra)
        return w

    def natural_width(self, priority: int = 0) -> int:
        """Cells this table needs to show every column of at most `priority` (0: those never dropped) uncut."""
        shown = [ci for ci, c in enumerate(self.columns) if c.priority <= priority]
        return sum(self._natural(ci) for ci in shown) + max(0, len(shown) - 1)

    def _prefix_len(self, r: Row) -> int:
        return 2 * self._depth.get(r.key, 0) + (2 if r.group else 0)

    def _compute_layout(self) -> tuple[tuple[int, int, int], ...]:
        avail = self._avail_width()
        shown = list(range(len(self.columns)))
        widths = {ci: self._natural(ci) for ci in shown}
        flex = next((ci for ci in shown if self.columns[ci].flex), None)

        def total() -> int:
            def need(c: int) -> int:
                return widths[c] if c != flex or self.columns[c].whole else min(widths[c], self.columns[c].min_width)

            return sum(need(c) for c in shown) + max(0, len(shown) - 1)

        while total() > avail:
            droppable = [c for c in shown if self.columns[c].priority > 0]
            if not droppable:
                break
            shown.remove(max(droppable, key=lambda c: (self.columns[c].priority, c)))
        fill = next((c for c in shown if self.columns[c].fill and c != flex), None)
        used = sum(widths[c] for c in shown if c != flex) + max(0, len(shown) - 1)
        if flex is not None and flex in shown:
            room = max(self.columns[flex].min_width, avail - used)
            widths[flex] = min(widths[flex], room) if fill is not None else room
            used += widths[flex]
        if fill is not None:
            widths[fill] = max(widths[fill], widths[fill] + avail - used)
        out = []
        x = 0
        for c in shown:
            out.append((c, x, widths[c]))
            x += widths[c] + 1
        self._layout_width = avail
        return tuple(out)

    def on_resize(self, event: events.Resize) -> None:
        self._layout = self._compute_layout()
        self._cache.clear()
        self._header = None
        self._update_virtual_size()
        self.refresh()
        self.post_message(self.Resized(self))
        if self._visible and self._cursor == len(self._visible) - 1:
            self.call_after_refresh(self._scroll_to_cursor)  # a tail stays a tail when it is shown or resized

    def notify_style_update(self) -> None:
        self._cache.clear()
        self._styles.clear()
        self._memo.clear()
        self._header = None
        super().notify_style_update()

    # ------------------------------------------------------------------ painting

    def _refresh_from(self, line: int) -> None:
        """Every screen line from the table's `line` (0: the first under the header) down is drawn anew."""
        first = self._row_at(line) if self._tops else 0
        for i in [k for k in self._cache if k >= first]:
            del self._cache[i]
        y = max(self.header_lines, line + self.header_lines - self.scroll_offset.y)
        if y < self.size.height:
            self.refresh(Region(0, y, self.size.width, self.size.height - y))

    def _refresh_row_lines(self, index: int) -> None:
        """The lines of one row (the cursor's old or new one) are drawn anew."""
        self._cache.pop(index, None)
        if index >= len(self._tops):
            return
        y = self._tops[index] + self.header_lines - self.scroll_offset.y
        if y + self._height(index) > self.header_lines and y < self.size.height:
            self.refresh(Region(0, y, self.size.width, self._height(index)))

    def _refresh_row(self, index: int, old: Row, new: Row) -> None:
        self._cache.pop(index, None)
        y = self._tops[index] + self.header_lines - self.scroll_offset.y
        height = self._height(index)
        if y + height <= self.header_lines or y >= self.size.height:
            return
        if height > 1 or old.group != new.group or len(old.cells) != len(new.cells):
            self.refresh(Region(0, y, self.size.width, height))
            return
        changed = [
            (x, w) for ci, x, w in self._layout if ci < len(new.cells) and not same(old.cells[ci], new.cells[ci])
        ]
        if changed:  # one region from the first changed cell to the last: the line is drawn anew either way
            left = changed[0][0]
            self.refresh(Region(left, y, changed[-1][0] + changed[-1][1] - left, 1))

    def _lead(self, row: Row, ci: int) -> Content:
        """The indent and fold marker a row's first cell starts with."""
        if ci != 0 or not (row.group or self._depth.get(row.key)):
            return Content()
        lead = "  " * self._depth.get(row.key, 0)
        if row.group:
            lead += "▶ " if row.key in self.collapsed else "▼ "
        return Content(lead)

    def _cell(self, row: Row, ci: int, width: int) -> Content:
        cell = row.cells[ci] if ci < len(row.cells) else Content()
        cell = self._lead(row, ci) + cell
        return self._fit(cell, ci, width)

    def _fit(self, cell: Content, ci: int, width: int) -> Content:
        align = self.columns[ci].align
        if cell.cell_length > width:
            return cell.truncate(width, ellipsis=True)
        pad = width - cell.cell_length
        if align == "right":
            return cell.pad_left(pad)
        if align == "center":
            return cell.pad(pad // 2, pad - pad // 2)
        return cell.pad_right(pad)

    def _line(self, content: Content, *components: str) -> Strip:
        """One screen line of `content` (fitted to the width already) in the row's style.

        Drawn here through the table's `LineMemo` (strips.py) rather than through Visual.to_strips, which costs a
        tenth of a millisecond a line before any text (the widget's selection, link and alignment styles looked
        up again) and makes a new Rich style for every span (with the span's offset, for selecting text, which
        this table does not offer). A tick redraws three such lines, a new alert a table of them."""
        width = self.size.width
        key = (self.has_focus, components)
        got = self._styles.get(key)
        if got is None:  # Textual's own cache is keyed on what it works out from the DOM: a third of a row's cost
            style = self.get_visual_style(*components)
            got = self._styles[key] = (style, (style + VisualStyle(reverse=False)).rich_style)
        style, pad = got
        segments = self._memo.segments(content, style, self._get_style, offsets=False)
        return Strip(segments).crop_extend(0, width, pad)

    def _header_strip(self) -> Strip:
        if self._header is None:
            parts = [
                self._cell(Row("", tuple(Content(c.title) for c in self.columns)), ci, w) for ci, _x, w in self._layout
            ]
            self._header = self._line(Content(" ").join(parts), "rowtable--header")
        return self._header

    def render_line(self, y: int) -> Strip:
        if self._layout_width != self._avail_width():
            self._layout = self._compute_layout()
            self._reflow()
            self._cache.clear()
            self._header = None
        if y < self.header_lines:
            return self._header_strip()
        line_no = self.scroll_offset.y + y - self.header_lines
        if not self._visible:
            empty = Content(self.empty).wrap(max(1, self.size.width)) if self.empty else []
            if 0 <= line_no < len(empty):  # wrapped: "alerts UNKNOWN: <why>" is read whole
                return self._line(empty[line_no], "rowtable--empty")
            return Strip.blank(self.size.width, self.rich_style)
        if line_no >= self._lines or len(self._tops) != len(self._visible):
            return Strip.blank(self.size.width, self.rich_style)
        index = self._row_at(line_no)
        strips = self._cache.get(index)
        if strips is None:
            row = self._visible[index]
            comps = []
            if row.group:
                comps.append("rowtable--group")
            if self.show_cursor and index == self._cursor:
                comps.append("rowtable--cursor")
            strips = self._cache[index] = tuple(self._line(text, *comps) for text in self._row_lines(index, row))
        sub = line_no - self._tops[index]
        return strips[sub] if sub < len(strips) else Strip.blank(self.size.width, self.rich_style)

    def _row_lines(self, index: int, row: Row) -> list[Content]:
        """The row's text, one Content per line: the wrap column's lines beside the other cells (on the first)."""
        wrapped = self._wrapped.get(index)
        if row.clip and self._layout and self._layout[0][0] == 0 and not any(c.plain for c in row.cells[1:]):
            return [self._fit(self._lead(row, 0) + row.cells[0], 0, self._avail_width())]  # alone: the full width
        if wrapped is None:
            return [Content(" ").join(self._cell(row, ci, w) for ci, _x, w in self._layout)]
        lines = []
        for n, part in enumerate(wrapped):
            cells = []
            for ci, _x, w in self._layout:
                if self.columns[ci].wrap:
                    cells.append(self._fit(part, ci, w))
                else:
                    cells.append(self._cell(row, ci, w) if n == 0 else Content(" " * w))
            lines.append(Content(" ").join(cells))
        return lines

    # ------------------------------------------------------------------ cursor

    def _move(self, index: int) -> None:
        if not self._visible:
            return
        index = max(0, min(index, len(self._visible) - 1))
        old = self._cursor
        self._cursor = index
        for i in {old, index}:
            self._cache.pop(i, None)
            if i >= len(self._tops):
                continue
            y = self._tops[i] + self.header_lines - self.scroll_offset.y
            if y + self._height(i) > 0 and y < self.size.height:
                self.refresh(Region(0, y, self.size.width, self._height(i)))
        self._scroll_to_cursor()
        self.call_after_refresh(self._scroll_to_cursor)  # again once new rows have been laid out (a tail grows)
        if old != index:
            self.post_message(self.Highlighted(self, self.cursor_key))

    def _scroll_to_cursor(self) -> None:
        if self.size.height <= self.header_lines:
            return  # not laid out (or hidden): on_resize comes back here
        body = self.size.height - self.header_lines
        top = self.scroll_offset.y
        if self._cursor >= len(self._tops):
            return
        first = self._tops[self._cursor]
        last = first + self._height(self._cursor) - 1
        if first < top:
            self.scroll_to(y=first, animate=False, immediate=True, force=True)
        elif last >= top + body:
            self.scroll_to(y=max(0, min(first, last - body + 1)), animate=False, immediate=True, force=True)
        # a scroll forced before the bar appeared does not move its thumb: set it, shown yet or not
        self.vertical_scrollbar.position = self.scroll_offset.y

    def action_cursor(self, delta: int) -> None:
        self._move(self._cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move(self._cursor + direction * max(1, self.size.height - self.header_lines - 1))

    def action_cursor_to(self, index: int) -> None:
        self._move(index if index >= 0 else len(self._visible) - 1)

    def action_fold(self, collapse: bool) -> None:
        key = self.cursor_key
        if key is None:
            return
        row = self._visible[self._cursor]
        if row.group:
            self.toggle_group(key, collapse)
        elif collapse and row.parent is not None:
            self.move_cursor_to_key(row.parent)

    def action_select(self) -> None:
        key = self.cursor_key
        if key is None:
            return
        if self._visible[self._cursor].group:
            self.toggle_group(key)
        else:
            self.post_message(self.Selected(self, key))

    def on_click(self, event: events.Click) -> None:
        line_no = self.scroll_offset.y + event.y - self.header_lines
        index = self._row_at(line_no) if 0 <= line_no < self._lines else -1
        if 0 <= index < len(self._visible):
            self._move(index)
            if event.chain >= 2 or self._visible[index].group:
                self.action_select()
