"""Subcommands that live in their own modules; each registers itself with `warroom.cli.command`.

Adding a subcommand is adding a file here: `load()` imports every module when
the parser is built. `load(name)` imports only the module named like the
command, so `warroom run` does not pay for importing the report, replay and
rollback machinery before its first frame.
"""

from __future__ import annotations

import importlib
import pkgutil


def load(name: str | None = None) -> bool:
    """Import the module `name` (True if it exists), or every module when `name` is None."""
    names = [info.name for info in pkgutil.iter_modules(__path__)]
    if name is not None:
        if name not in names:
            return False
        names = [name]
    for n in names:
        importlib.import_module(f"{__name__}.{n}")
    return True
