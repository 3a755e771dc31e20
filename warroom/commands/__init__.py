"""The subcommands, one module each; the table naming them is `warroom.cli.COMMANDS`.

A module here defines `configure(parser)` (its arguments) and `run(args) -> int`
(its exit code, see common.py). Arguments several commands share (LOG, --log,
CONFIG, --as, --theme) are declared once in args.py. Modules here never import
warroom.cli; the CLI imports only the module of the command being run.

Headless commands (everything but run, demo and replay) never import Textual.
"""
