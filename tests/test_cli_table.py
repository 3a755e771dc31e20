"""The CLI's static table: every command is a row whose module configures and runs it, loaded only when used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from warroom.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.name for c in COMMANDS])
def test_every_row_has_a_module_with_its_arguments_and_help(cmd, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main([cmd.name, "--help"])
    assert e.value.code == 0
    shown = capsys.readouterr().out
    assert f"usage: warroom {cmd.name}" in shown and cmd.help.split(";")[0] in " ".join(shown.split())


def test_the_top_level_help_lists_every_command_and_exits_2_without_one(capsys) -> None:
    assert main([]) == 2
    shown = capsys.readouterr().out
    assert all(c.name in shown for c in COMMANDS)


def test_parsing_run_loads_only_its_own_command_module() -> None:
    """`warroom run` must not pay for the report, replay or rollback machinery before its first frame."""
    code = (
        "import sys\nfrom warroom.cli import build_parser\n"
        "build_parser('run').parse_args(['run', 'x.yaml'])\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('warroom')))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    loaded = set(res.stdout.split())
    assert "warroom.commands.run" in loaded, res.stderr
    others = {f"warroom.commands.{c.module}" for c in COMMANDS if c.name != "run"}
    heavy = [
        m
        for m in loaded
        if m.split(".")[1:2] and m.split(".")[1] in ("report", "replay", "rollback", "ui", "recorder", "sources")
    ]
    assert not (loaded & others) and not heavy, sorted(loaded)
