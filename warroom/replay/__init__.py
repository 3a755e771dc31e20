"""What the console knew at any moment of a recorded launch: the log folded up to a playhead, with checkpoints.

Reads the store, never writes it. Imports the store, the config and the core.
"""
