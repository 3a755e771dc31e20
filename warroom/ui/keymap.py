"""Every key of the console in one table: bindings, the help screen and the command palette read it.

Keeping them in one place means the help screen cannot forget a key and every
action is in the palette.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    keys: str  # Textual key names, comma separated
    action: str  # app action (without the "app." prefix)
    title: str  # what the palette shows
    help: str  # one line for the help screen and palette
    group: str = "Console"
    footer: bool = False
    label: str = ""  # short footer label
    modes: tuple[str, ...] = ("live", "observer", "replay")
    priority: bool = False  # checked before the focused widget's keys; while a dialog is open check_action
    # refuses every console action, so the key then reaches the dialog's input as typed text


KEYS: tuple[Key, ...] = (
    Key(
        "help", "question_mark,f1", "help", "Help: list every key", "show this list of keys", footer=True, label="Help"
    ),
    Key("reasons", "r", "reasons", "Show verdict reasons", "why the verdict is what it is", footer=True, label="Why"),
    Key(
        "toggle",
        "space,x",
        "toggle_item",
        "Toggle checklist item",
        "tick or untick the highlighted checklist item (recorded)",
        group="Checklist",
        footer=True,
        label="Tick",
        modes=("live", "observer"),
        priority=True,  # taken by the app at once, not bubbled up from the focused table (nothing below binds it)
    ),
    Key(
        "signoff",
        "s",
        "signoff",
        "Give a sign-off…",
        "sign off GO or NO-GO for your role, with a snapshot",
        group="Decisions",
        footer=True,
        label="Sign off",
        modes=("live", "observer"),
    ),
    Key(
        "decision",
        "d",
        "decision",
        "Commander's final decision…",
        "record the final GO / NO-GO (commander)",
        group="Decisions",
        modes=("live", "observer"),
    ),
    Key(
        "note",
        "n",
        "note",
        "Add a note…",
        "add a free-text note to the decision log",
        group="Decisions",
        footer=True,
        label="Note",
        modes=("live", "observer"),
    ),
    Key(
        "measure",
        "M",
        "measure",
        "Enter a success-metric measurement…",
        "enter a success metric measured by hand (value, period)",
        group="Decisions",
        modes=("live", "observer"),
    ),
    Key(
        "ack",
        "a",
        "ack",
        "Acknowledge alert",
        "acknowledge the highlighted (or newest) firing alert",
        group="Alerts",
        footer=True,
        label="Ack",
        modes=("live", "observer"),
    ),
    Key(
        "unsilence",
        "A",
        "unsilence",
        "Expire an ack's silence",
        "expire the silence the highlighted alert's ack created",
        group="Alerts",
        modes=("live", "observer"),
    ),
    Key(
        "trigger",
        "m",
        "trigger_mode",
        "Set trigger mode…",
        "switch a rollback trigger between off, recommend and auto",
        group="Rollback",
        modes=("live", "observer"),
    ),
    Key(
        "rollback",
        "R",
        "rollback",
        "Roll back…",
        "open the rollback confirmation (type the launch id to run)",
        group="Rollback",
        footer=True,
        label="Roll back",
        modes=("live", "observer"),
    ),
    Key(
        "rollback-choose",
        "B",
        "rollback_choose",
        "Roll back: choose the procedure…",
        "choose the way back: primary or an alternative",
        group="Rollback",
        modes=("live", "observer"),
    ),
    Key("panel-gates", "1", "show_panel('gates')", "Go to: Go/No-go", "show the go/no-go table", group="Panels"),
    Key("panel-checklist", "2", "show_panel('checklist')", "Go to: Checklist", "show the checklist", group="Panels"),
    Key("panel-alerts", "3", "show_panel('alerts')", "Go to: Alerts", "show the alert feed", group="Panels"),
    Key("panel-signoffs", "4", "show_panel('signoffs')", "Go to: Sign-offs", "show the sign-offs", group="Panels"),
    Key("panel-rollback", "5", "show_panel('rollback')", "Go to: Rollback", "show the rollback panel", group="Panels"),
    Key("panel-log", "6", "show_panel('log')", "Go to: Decision log", "show the decision log", group="Panels"),
    Key("next-panel", "tab", "focus_next", "Next panel", "move focus to the next panel", group="Panels"),
    Key(
        "prev-panel",
        "shift+tab",
        "focus_previous",
        "Previous panel",
        "move focus to the previous panel",
        group="Panels",
    ),
    Key(
        "play",
        "p",
        "replay_play",
        "Replay: play / pause",
        "start or stop the replay",
        group="Replay",
        footer=True,
        label="Play/pause",
        modes=("replay",),
    ),
    Key(
        "faster",
        "plus,equals_sign",
        "replay_speed(2)",
        "Replay: faster",
        "double the replay speed",
        group="Replay",
        modes=("replay",),
    ),
    Key(
        "slower",
        "minus",
        "replay_speed(0.5)",
        "Replay: slower",
        "halve the replay speed",
        group="Replay",
        modes=("replay",),
    ),
    Key(
        "next-decision",
        "right_square_bracket",
        "replay_step(1)",
        "Replay: next decision",
        "jump to the next decision",
        group="Replay",
        footer=True,
        label="Next",
        modes=("replay",),
    ),
    Key(
        "prev-decision",
        "left_square_bracket",
        "replay_step(-1)",
        "Replay: previous decision",
        "jump to the previous decision",
        group="Replay",
        footer=True,
        label="Prev",
        modes=("replay",),
    ),
    Key(
        "jump",
        "g",
        "replay_jump",
        "Replay: jump to time…",
        "jump to a moment such as T+00:37 or T-5m",
        group="Replay",
        footer=True,
        label="Jump",
        modes=("replay",),
    ),
    Key(
        "wall",
        "w",
        "wall",
        "Wall view",
        "full-screen wall for the room, verdict in big letters (esc returns)",
        group="Console",
        footer=True,
        label="Wall",
    ),
    Key("palette", "ctrl+p", "command_palette", "Command palette", "search every action and theme", group="Console"),
    Key(
        "quit",
        "q",
        "quit_console",
        "Quit",
        "close the console (the log stays; ctrl+q works anywhere)",
        group="Console",
        footer=True,
        label="Quit",
    ),
)

# Keys that exist inside dialogs; listed on the help screen only.
DIALOG_KEYS: tuple[tuple[str, str], ...] = (
    ("enter", "confirm the dialog (when its confirm button is enabled)"),
    ("ctrl+q", "quit, from anywhere (console keys do nothing while a dialog is open)"),
    ("escape", "cancel the dialog"),
    ("tab / shift+tab", "move between the fields of a dialog"),
    ("ctrl+g / ctrl+n", "sign-off and decision dialogs: choose GO / NO-GO"),
    ("y / n", "yes / no in a confirmation"),
    ("↑ ↓ pgup pgdn home end", "move the highlight in a panel"),
    ("← →", "collapse / expand a checklist phase or section"),
)


def bindings() -> list[Binding]:
    """All bindings; the app hides the ones its mode does not allow (see `available`)."""
    return [
        Binding(k.keys, k.action, k.label or k.title, show=k.footer, id=k.id, tooltip=k.help, priority=k.priority)
        for k in KEYS
    ]


def action_name(action: str) -> str:
    return action.split("(", 1)[0]


_MODES: dict[str, tuple[str, ...]] = {action_name(k.action): k.modes for k in KEYS}
# The console's own actions; Textual's (focus moves, the palette, ctrl+q's quit) are left to Textual.
ACTIONS = frozenset(_MODES) - {"focus_next", "focus_previous", "command_palette"}
# The actions that write to the log: a live console's, which an observer has too, to be told why it may not.
WRITES = frozenset(name for name, modes in _MODES.items() if "live" in modes and "replay" not in modes)


def available(action: str, mode: str) -> bool:
    """Whether an app action belongs to this console mode (actions not in the table always do)."""
    return mode in _MODES.get(action_name(action), (mode,))


def key_label(keys: str) -> str:
    names = {
        "question_mark": "?",
        "plus": "+",
        "minus": "-",
        "equals_sign": "=",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
        "space": "space",
    }
    return " / ".join(names.get(k, k) for k in keys.split(","))
