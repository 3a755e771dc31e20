"""Dialogs. Each shows exactly what will be recorded or run, and returns a value; the app does the recording.

Destructive or binding actions (sign-off, decision, rollback) go through a
confirmation that names what will happen; rollback also needs the launch id
typed in full.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from textual import on
from textual._context import visible_screen_stack
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from warroom.ui import fmt
from warroom.ui.dim import Dimmed, Tint
from warroom.ui.keymap import DIALOG_KEYS, KEYS, key_label
from warroom.ui.safe import clean, plain


class Dialog(ModalScreen):
    """A centred box with a title; escape cancels (returns None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]
    DEFAULT_CLASSES = "dialog"

    def __init__(self, title: str) -> None:
        super().__init__()
        self.dialog_title = title
        self._tint: Tint | None = None

    def render(self) -> RenderResult:  # type: ignore[override]  # a Visual, as Widget.render may give
        """The console behind, dimmed from the lines it already drew (warroom/ui/dim.py) rather than drawn and
        blended again by Textual on every frame of the dialog; anything else (an opaque theme background, a
        screen below that is not drawn) as Textual draws it."""
        background = self.styles.background
        try:
            below = visible_screen_stack.get()  # the screens to be seen through this one, nearest last
        except LookupError:
            below = []
        if not below or below[-1] is self or not 0 < background.a < 1:
            return super().render()
        base = below.pop()  # as Screen.render takes it: a dialog above this one sees this one, not the console
        if self._tint is None or self._tint.color != background:
            self._tint = Tint(background)
        return Dimmed(base, self._tint)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def box(self) -> Vertical:
        box = Vertical(id="dialog-box")
        box.border_title = self.dialog_title
        return box


def _text(content: Content | str, *, id: str | None = None, classes: str = "") -> Static:
    return Static(content, markup=False, id=id, classes=classes)


# ---------------------------------------------------------------- yes / no


class ConfirmScreen(Dialog):
    """'Record this?' with the exact text of what will be recorded; y / enter yes, n / escape no."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n", "answer(False)", "No")]

    def __init__(self, title: str, lines: Sequence[Content | str], yes: str = "Yes, record it") -> None:
        super().__init__(title)
        self.lines = list(lines)
        self.yes = yes

    def compose(self) -> ComposeResult:
        with self.box():
            for line in self.lines:
                yield _text(line)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="primary")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


# ---------------------------------------------------------------- free text


_TEXT_HINT = Content.styled("enter: save · escape: cancel", "$muted")


class TextScreen(Dialog):
    """One line of text (a note, a time to jump to); enter submits, escape cancels.

    With `save`, the dialog records the text itself before it closes: `save` returns None once it is recorded,
    or why not; then the dialog stays open with the text as typed and says why, so nothing typed is lost while
    the log cannot be written (the database down, say), and enter tries again."""

    def __init__(
        self,
        title: str,
        prompt: str,
        placeholder: str = "",
        value: str = "",
        save: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        super().__init__(title)
        self.prompt, self.placeholder, self.value = prompt, placeholder, value
        self.save = save
        self.saving = False

    def compose(self) -> ComposeResult:
        with self.box():
            yield Label(self.prompt, markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="text", compact=True)
            yield _text(_TEXT_HINT, id="error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def reset(self) -> None:
        """As it was made, for a dialog opened again (Flows keeps the note dialog composed): what was typed
        when it was last closed, and any error shown then, belong to that time, not to this one."""
        if self.saving or not self.is_mounted:  # still recording what was typed; or not composed yet
            return
        field = self.query_one(Input)
        field.value = self.value
        field.cursor_position = len(self.value)
        self.query_one("#error", Static).update(_TEXT_HINT)
        field.focus()

    @on(Input.Submitted)
    async def _submit(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value or self.saving:
            return
        if self.save is not None:
            self.saving = True  # a second enter while the first is being recorded would record it twice
            self.query_one("#error", Static).update(Content.styled("recording...", "$muted"))
            try:
                why = await self.save(value)
            finally:
                self.saving = False
            if why is not None:
                self.show_error(f"{why} (enter: try again · escape: cancel)")
                return
        if self.app.screen is self:
            self.dismiss(value)

    def action_cancel(self) -> None:
        if not self.saving:  # while it is being recorded, escape would hide whether it was
            self.dismiss(None)

    def show_error(self, message: str) -> None:
        self.query_one("#error", Static).update(plain(message, "bold $gate-nogo"))  # may hold a log error


# ---------------------------------------------------------------- GO / NO-GO


@dataclass(frozen=True)
class VerdictChoice:
    role: str
    verdict: str  # "GO" or "NO-GO"
    reason: str


class VerdictScreen(Dialog):
    """Choose GO or NO-GO (for one of your roles) with an optional reason.

    With `records` (a sign-off) this is the only dialog: the snapshot is shown
    above the buttons, and the GO or NO-GO key records it. Without (the final
    decision) the app asks to confirm.
    """

    BINDINGS = [
        Binding("ctrl+g", "choose('GO')", "GO"),  # not priority: typed reason keys before it land first
        Binding("ctrl+n", "choose('NO-GO')", "NO-GO"),
    ]

    def __init__(
        self,
        title: str,
        roles: Sequence[tuple[str, str]],
        summary: Sequence[Content],
        role: str | None = None,
        *,
        records: bool = False,
        reason: str = "",
        error: str = "",
    ) -> None:
        """`reason` and `error`: shown again after the log could not record it (the text as typed, and why)."""
        super().__init__(title)
        self.records = records
        self.reason, self.error = reason, error
        self.roles = list(roles)
        self.summary = list(summary)
        self.role = role if role in {r for r, _t in roles} else (roles[0][0] if roles else "")

    def compose(self) -> ComposeResult:
        with self.box():
            if len(self.roles) > 1:
                yield Label("Sign off as:")
                yield Select(
                    [(plain(title), rid) for rid, title in self.roles],
                    value=self.role,
                    allow_blank=False,
                    id="role",
                    compact=True,
                )
            elif self.roles:
                yield _text(Content.assemble("As: ", (clean(self.roles[0][1]), "bold")))
            yield Label("Reason (optional):")
            yield Input(self.reason, placeholder="why, in a few words", id="reason", compact=True)
            if self.error:
                yield _text(plain(f"{self.error}; try again, or esc", "bold $gate-nogo"), id="error")
            if self.summary:
                yield _text(Content.styled("What is recorded with it (every criterion now):", "$muted"))
                with VerticalScroll(id="summary"):
                    for line in self.summary:
                        yield _text(line)
            if self.records:
                yield _text(
                    Content.styled("ctrl+g records GO, ctrl+n records NO-GO, with this snapshot · esc: nothing", "bold")
                )
            verb = "Record " if self.records else ""
            with Horizontal(classes="buttons"):
                yield Button(f"✔ {verb}GO (ctrl+g)", id="go", variant="success")
                yield Button(f"✖ {verb}NO-GO (ctrl+n)", id="nogo", variant="error")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def action_choose(self, verdict: str) -> None:
        role = self.role
        if len(self.roles) > 1:
            value = self.query_one("#role", Select).value
            role = str(value) if isinstance(value, str) else role
        self.dismiss(VerdictChoice(role, verdict, self.query_one("#reason", Input).value.strip()))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "go":
            self.action_choose("GO")
        elif event.button.id == "nogo":
            self.action_choose("NO-GO")
        else:
            self.dismiss(None)


# ---------------------------------------------------------------- trigger mode


class TriggerModeScreen(Dialog):
    """Pick a criterion's rollback trigger mode: off, recommend or auto."""

    BINDINGS = [
        Binding("o", "mode('off')", "off"),
        Binding("r", "mode('recommend')", "recommend"),
        Binding("a", "mode('auto')", "auto"),
    ]

    def __init__(self, triggers: Sequence[tuple[str, str, str, str]], selected: str | None, auto_allowed: bool) -> None:
        super().__init__("Rollback trigger mode")
        self.triggers = list(triggers)  # (criterion id, name, when, mode)
        ids = [t[0] for t in self.triggers]
        self.selected = selected if selected in ids else ids[0]
        self.auto_allowed = auto_allowed

    def compose(self) -> ComposeResult:
        with self.box():
            yield Label("Criterion:")
            yield Select(
                [(plain(f"{name} — when {when} (now {mode})"), cid) for cid, name, when, mode in self.triggers],
                value=self.selected,
                allow_blank=False,
                id="criterion",
                compact=True,
            )
            yield _text(
                Content.styled(
                    "off: never acts · recommend: asks the commander on a breach · auto: starts the rollback after "
                    "the hold time, once" + ("" if self.auto_allowed else " (the config does not allow auto)"),
                    "$muted",
                )
            )
            with Horizontal(classes="buttons"):
                yield Button("off (o)", id="off")
                yield Button("recommend (r)", id="recommend", variant="primary")
                yield Button("auto (a)", id="auto", variant="warning", disabled=not self.auto_allowed)

    def action_mode(self, mode: str) -> None:
        if mode == "auto" and not self.auto_allowed:
            self.notify("auto-rollback is not allowed by this launch's config", severity="warning")
            return
        value = self.query_one("#criterion", Select).value
        self.dismiss((str(value), mode))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_mode(str(event.button.id))


# ---------------------------------------------------------------- rollback


@dataclass(frozen=True)
class AskedValue:
    """A value the chosen procedure asks for: its name, what it is, and the allowed values if a command lists them."""

    name: str
    hint: str
    choices: Sequence[str] | None = None
    choices_error: str = ""


class RollbackScreen(Dialog):
    """Shows exactly what will run; the confirm button unlocks only when the launch id is typed in full.

    A procedure that asks for values has an input for each; the plan shows
    them as they are typed, and `check` (the runner's own rule) must pass
    before the dialog closes. The values given are left in `values`.

    With `start`, confirming hands the reason and values to it, and the dialog
    closes only once it returns None (the request is recorded and the run goes
    on); otherwise it stays open with everything as typed and says why, so a
    rollback is never started, nor its text lost, while the log cannot be
    written (the database down, a full disk), and enter tries again.
    """

    def __init__(
        self,
        launch_id: str,
        plan: Sequence[str],
        dry_run: bool,
        reason: str = "",
        *,
        asked: Sequence[AskedValue] = (),
        plan_for: Callable[[dict[str, str]], Sequence[str]] | None = None,
        check: Callable[[dict[str, str]], str | None] | None = None,
        start: Callable[[str, dict[str, str]], Awaitable[str | None]] | None = None,
    ) -> None:
        super().__init__("ROLL BACK — read carefully")
        self.launch_id, self.plan, self.dry_run, self.reason = launch_id, list(plan), dry_run, reason
        self.asked, self.plan_for, self.check, self.start = list(asked), plan_for, check, start
        self.values: dict[str, str] = {}
        self.saving = False  # `start` is recording the request: a second confirm would request it twice
        self.error = ""  # why the last confirm was not recorded, "" if none failed

    def compose(self) -> ComposeResult:
        with self.box():
            yield _text(
                Content.styled(
                    "DRY RUN: the steps are shown and recorded, nothing is executed"
                    if self.dry_run
                    else "These commands will run now, in this order:",
                    "bold $gate-warn" if self.dry_run else "bold",
                )
            )
            with VerticalScroll(id="plan"):
                for line in self.plan:
                    yield _text(plain(line))
            for i, a in enumerate(self.asked):
                yield Label(plain(f"{a.name}: {a.hint}"))
                if a.choices is not None:
                    shown = ", ".join(a.choices[-12:]) or "none"
                    yield _text(plain(f"  allowed: {shown}"), classes="hint")
                elif a.choices_error:
                    yield _text(plain(f"  cannot list the allowed values: {a.choices_error}"), classes="hint")
                yield Input(placeholder=a.name, id=f"value-{i}", compact=True)
            yield _text("", id="value-error")
            yield Label("Reason:")
            yield Input(self.reason, placeholder="why roll back", id="reason", compact=True)
            yield _text(Content.assemble("Type the launch id ", (self.launch_id, "bold"), " to confirm:"))
            yield Input(placeholder=self.launch_id, id="confirm-id", compact=True)
            yield _text("", id="error")
            with Horizontal(classes="buttons"):
                yield Button("↺ Roll back", id="go", variant="error", disabled=True)
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#value-0" if self.asked else "#confirm-id", Input).focus()

    def _given(self) -> dict[str, str]:
        return {a.name: self.query_one(f"#value-{i}", Input).value for i, a in enumerate(self.asked)}

    @on(Input.Changed, "#confirm-id")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#go", Button).disabled = event.value.strip() != self.launch_id

    @on(Input.Changed)
    def _value_typed(self, event: Input.Changed) -> None:
        if not (event.input.id or "").startswith("value-") or self.plan_for is None:
            return
        box = self.query_one("#plan", VerticalScroll)
        box.remove_children()
        box.mount(*[_text(plain(line)) for line in self.plan_for(self._given())])

    @on(Input.Submitted)
    async def _submitted(self, event: Input.Submitted) -> None:
        if not self.query_one("#go", Button).disabled:
            await self._confirm()

    async def _confirm(self) -> None:
        if self.saving or self.query_one("#confirm-id", Input).value.strip() != self.launch_id:
            return
        values = self._given()
        why = self.check(values) if self.check is not None and self.asked else None
        if why is not None:
            self.query_one("#value-error", Static).update(plain(f"refused: {why}", "bold $gate-fail"))
            return
        reason = self.query_one("#reason", Input).value.strip() or "rollback requested from the console"
        if self.start is not None:
            self.saving = True
            shown = self.query_one("#error", Static)
            shown.update(Content.styled("recording the request...", "$muted"))
            try:
                not_recorded = await self.start(reason, values)
            finally:
                self.saving = False
            if not_recorded is not None:
                self.error = not_recorded
                shown.update(plain(f"{not_recorded} (enter: try again · escape: cancel)", "bold $gate-nogo"))
                return
        self.values = values
        if self.app.screen is self:
            self.dismiss(reason)

    def action_cancel(self) -> None:
        if not self.saving:  # while the request is being recorded, escape would hide whether it was
            self.dismiss(None)

    @on(Button.Pressed)
    async def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "go":
            await self._confirm()
        else:
            self.action_cancel()


@dataclass(frozen=True)
class ProcedureChoice:
    id: str
    description: str
    plan: Sequence[str]


class ProcedureScreen(Dialog):
    """Which way back: every procedure with exactly what it runs; after a failed run, its output above them."""

    BINDINGS = [Binding(str(n), f"pick({n - 1})", show=False) for n in range(1, 10)]

    def __init__(self, choices: Sequence[ProcedureChoice], failure: Sequence[str] = ()) -> None:
        super().__init__("ROLL BACK — choose the way back" if not failure else "ROLLBACK FAILED — another way back?")
        self.choices, self.failure = list(choices), list(failure)

    def compose(self) -> ComposeResult:
        with self.box():
            if self.failure:
                with VerticalScroll(id="failure"):
                    for line in self.failure:
                        yield _text(plain(line))
            with VerticalScroll(id="procedures"):
                for n, c in enumerate(self.choices, 1):
                    label = f"{n}. {c.id}" + (f" — {' '.join(c.description.split())}" if c.description else "")
                    yield Button(plain(label), id=f"proc-{n - 1}", variant="error" if n == 1 else "default")
                    for line in c.plan:
                        yield _text(plain("   " + line), classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#proc-0", Button).focus()

    def action_pick(self, index: int) -> None:
        if 0 <= index < len(self.choices):
            self.dismiss(self.choices[index].id)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        self.dismiss(self.choices[int(bid[5:])].id if bid.startswith("proc-") else None)


class RecommendationScreen(Dialog):
    """A trigger in 'recommend' mode breached: the evidence, and three ways to answer."""

    BINDINGS = [
        Binding("b", "choose('rollback')", "roll back"),
        Binding("h", "choose('hold')", "hold"),
        Binding("f", "choose('freeze')", "freeze and watch"),
        Binding("escape", "choose('hold')", "hold"),
    ]

    def __init__(self, criterion: str, evidence: Sequence[Content]) -> None:
        super().__init__("ROLLBACK RECOMMENDED")
        self.criterion = criterion
        self.evidence = list(evidence)

    def compose(self) -> ComposeResult:
        with self.box():
            for line in self.evidence:
                yield _text(line)
            with Horizontal(classes="buttons"):
                yield Button("↺ Roll back… (b)", id="rollback", variant="error")
                yield Button("Hold (h)", id="hold")
                yield Button("Freeze & watch (f)", id="freeze", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#hold", Button).focus()

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id))


# ---------------------------------------------------------------- read-only screens


class ReasonsScreen(Dialog):
    BINDINGS = [Binding("r,q", "cancel", "Close", show=False)]

    def __init__(self, status: str, clock: str, reasons: Sequence[str]) -> None:
        super().__init__("Why")
        self.status, self.clock, self.reasons = status, clock, list(reasons)

    def compose(self) -> ComposeResult:
        with self.box():
            yield _text(Content.assemble(fmt.level(self.status), f"  at {self.clock}"))
            with VerticalScroll(id="reasons"):
                for i, r in enumerate(self.reasons, 1):
                    yield _text(Content.assemble((f"{i:>2}. ", "$muted"), clean(r)))
            yield _text(Content.styled("escape / r: close", "$muted"))


class HelpScreen(Dialog):
    """Every key of the console, from the keymap, plus the keys inside dialogs."""

    @staticmethod
    def _row(keys: str, text: Content) -> Horizontal:
        return Horizontal(
            _text(Content.styled(keys, "bold"), classes="help-key"),
            _text(text, classes="help-text"),
            classes="help-row",
        )

    BINDINGS = [Binding("question_mark,q,f1", "cancel", "Close", show=False)]

    def __init__(self, mode: str, log_path: str) -> None:
        super().__init__("Keys")
        self.mode, self.log_path = mode, log_path

    def compose(self) -> ComposeResult:
        with self.box(), VerticalScroll(id="help"):
            group = None
            for k in KEYS:
                if k.group != group:
                    group = k.group
                    yield _text(Content.styled(group, "bold $accent"), classes="help-group")
                off = "" if self.mode in k.modes else f" (not in {self.mode} mode)"
                yield self._row(key_label(k.keys), Content.assemble(k.help, (off, "$muted")))
            yield _text(Content.styled("In dialogs and panels", "bold $accent"), classes="help-group")
            for keys, text in DIALOG_KEYS:
                yield self._row(keys, Content(text))
            if self.log_path:
                yield _text(Content.assemble(("\nDecision log: ", "$muted"), clean(self.log_path)))
