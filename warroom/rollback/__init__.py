"""The guarded rollback: single-flight runner, process handling (subreaper), procedure values, auto-rollback.

Imports the store, the config and the core; never the console or the sources.
"""
