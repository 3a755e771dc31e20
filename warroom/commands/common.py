"""What every subcommand shares: the exit codes and the two ways to speak (stdout, stderr).

Exit codes: 0 ok / GO, 1 NO-GO or a failed check, 2 configuration or usage
error, 3 rollback trigger breached.
"""

from __future__ import annotations

import sys

EXIT_OK, EXIT_NOGO, EXIT_USAGE, EXIT_ROLLBACK = 0, 1, 2, 3


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
