"""CI runs what the README tells a new user to run, and every check the project claims."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent


def readme_test_command() -> str:
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", quick_start, re.S)
    assert block is not None, "the README's quick start has no sh block"
    lines = block.group(1).splitlines()
    step = next(i for i, line in enumerate(lines) if line.startswith("# 2."))
    return lines[step + 1].strip()


def test_ci_runs_the_readme_test_command_verbatim_and_every_checker() -> None:
    command = readme_test_command()
    assert command == "bash tests/install-deps.sh && python3 -m pytest"
    run = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in run
    assert "set -euo pipefail" in run
    for check in (
        "python3 -m ruff format --check .",
        "python3 -m ruff check warroom tests bench",
        "python3 -m mypy",
        "lint_imports_command()",
    ):
        assert any(check in line and not line.startswith("#") for line in run), check


def test_install_deps_installs_the_checkers() -> None:
    """install-deps installs the test extras; those must hold every tool .ci/run calls."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    names = {re.split(r"[<>=\[ ]", e, maxsplit=1)[0].lower() for e in extras}
    assert {"ruff", "mypy", "import-linter", "types-pyyaml", "types-psutil", "pytest"} <= names
    assert "-e '.[test]'" in (ROOT / "tests" / "install-deps.sh").read_text()
