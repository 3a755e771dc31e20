"""Subcommands that live in their own modules; each registers itself with `warroom.cli.command`.

Every module in this package is imported when the parser is built, so adding a
subcommand is adding a file here.
"""

from __future__ import annotations

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
