"""Proof of who did what, where it needs I/O: signatures (ssh-keygen -Y), the heads a console has seen.

The rules themselves are pure and live in `warroom.core.authority`; this package does what they cannot:
asks the ssh-agent to sign, runs `ssh-keygen -Y verify`, keeps per-log anchors in the user's state
directory. Its verdicts reach the fold as data (`LaunchState.signatures`). Imports the core, the config
and the store; never the UI, the recorder or the sources.
"""
