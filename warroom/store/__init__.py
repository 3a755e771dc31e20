"""The decision log's storage: append, read, verify, follow, and the locks that coordinate consoles.

Today one backend, the JSONL file (`log`, with its side files, paths and the binding of a log to its launch).
Imports the core and the config only; never sources, the recorder, reports or the UI.
"""
