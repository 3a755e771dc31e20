"""The dialog in which a success metric's owner enters a value measured outside Prometheus.

It returns (metric id, value, period, link); the app records the `measurement` event (see
`warroom.commands.measure.measurement_data`, the same payload the CLI writes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Button, Input, Label, Select, Static

from warroom.ui.modals import Dialog
from warroom.ui.safe import plain


class MeasureScreen(Dialog):
    """Pick a success metric and enter its value, the period it covers and an optional source link."""

    def __init__(self, metrics: Sequence[tuple[str, str]]) -> None:
        super().__init__("Enter a success-metric measurement")
        self.metrics = list(metrics)  # (id, "name (target, check)")

    def compose(self) -> ComposeResult:
        with self.box():
            yield Label("Metric:")
            yield Select(
                [(plain(text), mid) for mid, text in self.metrics],
                value=self.metrics[0][0],
                allow_blank=False,
                id="metric",
                compact=True,
            )
            yield Label("Value:")
            yield Input(placeholder="e.g. 4.6", id="value", compact=True)
            yield Label("Period:")
            yield Input(placeholder="e.g. week 1", id="period", compact=True)
            yield Label("Source link (optional):")
            yield Input(placeholder="survey or dashboard URL", id="link", compact=True)
            yield Static(Content.styled("enter: save · escape: cancel", "$muted"), markup=False, id="error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#value", Input).focus()

    def _save(self) -> None:
        text = self.query_one("#value", Input).value.strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self.query_one("#error", Static).update(Content.styled(f"not a number: {text!r}", "bold $gate-nogo"))
            self.query_one("#value", Input).focus()
            return
        metric = self.query_one("#metric", Select).value
        self.dismiss(
            (
                str(metric),
                value,
                self.query_one("#period", Input).value.strip(),
                self.query_one("#link", Input).value.strip(),
            )
        )

    @on(Input.Submitted)
    def _submitted(self, _event: Input.Submitted) -> None:
        self._save()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)
