"""The layers stay apart, checked in a fresh interpreter each time.

The module lists are the import-linter contracts in pyproject.toml, which `lint-imports` checks
statically (every import, including ones inside functions); this checks what a real import loads,
which also catches modules pulled in by importlib or by a dependency:

- the core (config, events, log, rules, state, units, the reports, ...) loads no UI, HTTP client or
  psutil, so the fold can be tested and reused anywhere;
- headless commands (check, rollback, report), the CLI, the recorder and the sources load no
  Textual, so a pipeline running `warroom check` does not pay for, or depend on, the console;
- the console loads no HTTP client, psutil or source module of its own accord (the recorder,
  started after the first frame, brings them).
"""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

CONTRACTS = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"
]


def contract(starts: str) -> dict:
    (found,) = [c for c in CONTRACTS if c["name"].startswith(starts)]
    return found


def expand(modules: list[str]) -> list[str]:
    """A contract's packages as every module inside them, so the runtime check loads what the contract covers."""
    out: list[str] = []
    for m in modules:
        out.append(m)
        spec = importlib.util.find_spec(m)
        if spec and spec.submodule_search_locations:
            out += [f"{m}.{i.name}" for i in pkgutil.iter_modules(spec.submodule_search_locations)]
    return out


CORE = expand(contract("Core")["source_modules"])
CORE_FORBIDS = tuple(m for m in contract("Core")["forbidden_modules"] if not m.startswith("warroom"))
HEADLESS = expand(contract("Headless")["source_modules"] + contract("Sources")["source_modules"])
CONSOLE = ["warroom.ui.app", "warroom.ui.modals", "warroom.commands.run"]


def loaded_after_importing(modules: list[str]) -> set[str]:
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\nprint('\\n'.join(sys.modules))\n"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return set(res.stdout.split())


def top_level(mods: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in names)


def test_core_loads_no_ui_http_or_psutil() -> None:
    assert {"textual", "rich", "httpx", "psutil"} <= set(CORE_FORBIDS)
    mods = loaded_after_importing(CORE)
    assert top_level(mods, CORE_FORBIDS) == []
    assert sorted(m for m in mods if m.startswith(("warroom.ui", "warroom.sources"))) == []


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_module_does_not_load_textual(module: str) -> None:
    assert top_level(loaded_after_importing([module]), ("textual",)) == [], f"{module} imports Textual"


def test_console_loads_no_http_client_or_sources() -> None:
    mods = loaded_after_importing(CONSOLE)
    bad = top_level(mods, ("httpx", "psutil", "prometheus_api_client"))
    bad += sorted(m for m in mods if m.startswith("warroom.sources") or m == "warroom.recorder.loop")
    assert bad == []


def test_sanitiser_is_shared_by_console_and_cli() -> None:
    from warroom.core.text import clean
    from warroom.ui import safe

    assert safe.clean is clean
    assert clean("ok\x1b[31mred\x1b]0;title\x07 [b]x[/b]\n") == "okred [b]x[/b] "
