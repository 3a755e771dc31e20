"""What the console knew at any moment of a recorded launch: the log folded up to a playhead, with checkpoints.

Reads the store, never writes it (the index it saves goes to the user's own cache, sidecar.py).
Imports the store, the config and the core.
"""
