"""The Textual console. Import `WarroomApp` from `warroom.ui.app`; nothing in the core imports this package."""
