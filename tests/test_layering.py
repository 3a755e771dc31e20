"""Headless parts stay headless: the gate, rollback, report and the sources run without loading Textual.

A pipeline running `warroom check` on a CI box, or `warroom rollback` from a
script, should not pay for (or depend on) the console.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEADLESS = [
    "warroom.commands.check",
    "warroom.commands.rollback",
    "warroom.commands.report",
    "warroom.recorder",
    "warroom.sources",
    "warroom.rollback",
    "warroom.report",
    "warroom.replay",
    "warroom.text",
    "warroom.paths",
]


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_module_does_not_load_textual(module: str) -> None:
    code = f"import sys, importlib; importlib.import_module({module!r}); print('textual' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False", f"{module} imports Textual"


def test_sanitiser_is_shared_by_console_and_cli() -> None:
    from warroom.text import clean
    from warroom.ui import safe

    assert safe.clean is clean
    assert clean("ok\x1b[31mred\x1b]0;title\x07 [b]x[/b]\n") == "okred [b]x[/b] "
