"""The command palette: every console action from the keymap, and every theme."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from warroom.ui.keymap import KEYS, available, key_label

if TYPE_CHECKING:
    from warroom.ui.app import WarroomApp


class WarroomCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        app = cast("WarroomApp", self.app)  # the provider is the console's own (WarroomApp.COMMANDS)
        mode = app.mode
        for k in KEYS:
            if k.id == "palette" or not available(k.action, mode):
                continue
            yield k.title, f"{k.help} · key {key_label(k.keys)}", partial(app.run_action, k.action)
        for name in sorted(app.available_themes):
            yield f"Theme: {name}", "switch the colour theme", partial(setattr, app, "theme", name)

    async def discover(self) -> Hits:
        for title, help_text, run in self._commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, run in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help_text)
