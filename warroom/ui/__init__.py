"""The Textual console. Import `WarroomApp` from `warroom.ui.app`; nothing in the core imports this package.

app: the App, a driver plus a screen, and the one gate on actions; driver: LiveDriver (follow, record, watch)
and ReplayDriver (fold to a playhead), both making Frames; screen: ConsoleScreen, drawing frames through the
panels and header (details: what a wide, tall screen adds of the highlighted row); flows / rollback_flow: what
each action does (its dialogs); modals / measure: the dialogs; keymap / commands: every key, the help screen and
the palette.
"""
